/**
 * @module engine/message_writes — writing to the `_messages` log inside a Tx: an append through a write
 * template or `_set_state`, and the message `_send_message` and imports build (recipients, reply_to, body).
 */
import { ID_PATTERN, MESSAGE_MAX_RECIPIENTS } from "../config.ts";
import { ApiError } from "../errors.ts";
import type { Message } from "./model.ts";
import type { Tx } from "./tx.ts";
import { messageView } from "./messages.ts";
import { checkValue } from "./write_checks.ts";

/** Appending to `_messages` creates a message; the log takes nothing else. */
export function appendMessage(
  tx: Tx,
  w: { append?: boolean; key?: unknown; value?: unknown },
  field: string,
): { scope: "_messages"; key: string; value: unknown; version: 1 } {
  if (!w.append || w.key !== undefined) {
    throw new ApiError(
      "invalid_body",
      `${field}: the _messages log only takes appends without a key (claim with _claim_message)`,
      {
        field,
      },
    );
  }
  const v = w.value;
  const obj = v !== null && typeof v === "object" && !Array.isArray(v)
    ? v as Record<string, unknown>
    : { body: v };
  const { from, kind, body, to, reply_to, seq: _s, ts: _t, claimed_by: _c, claimed_at: _ca, ...extra } = obj;
  const m = buildMessage(tx, {
    from: typeof from === "string" ? from : tx.caller.id,
    kind: typeof kind === "string" && kind ? kind : "chat",
    body: body ?? null,
    to: to ?? null,
    reply_to: reply_to ?? null,
    extra,
  }, field);
  return { scope: "_messages", key: String(m.seq), value: messageView(m), version: 1 };
}

export function buildMessage(
  tx: Tx,
  p: {
    from: string;
    kind: string;
    body: unknown;
    to: unknown;
    reply_to: unknown;
    extra?: Record<string, unknown>;
  },
  field: string,
): Message {
  checkRecipients(p.to, `${field}.to`);
  let replyTo: number | null = null;
  if (p.reply_to !== null && p.reply_to !== undefined) {
    replyTo = Number(p.reply_to);
    if (!Number.isInteger(replyTo) || !tx.message(replyTo)) {
      throw new ApiError(
        "message_not_found",
        `reply_to ${JSON.stringify(p.reply_to)} is not a message in this room`,
        {
          field: `${field}.reply_to`,
        },
      );
    }
  }
  checkValue(p.body, tx.limits, `${field}.body`);
  if (p.extra) checkValue(p.extra, tx.limits, field);
  const m: Message = {
    seq: tx.nextMessageSeq(),
    from: p.from,
    kind: p.kind,
    body: p.body,
    to: (p.to ?? null) as string | string[] | null,
    reply_to: replyTo,
    claimed_by: null,
    claimed_at: null,
    ts: tx.iso,
    extra: p.extra && Object.keys(p.extra).length ? p.extra : null,
  };
  tx.newMessages.push(m);
  return m;
}

/** A message's `to`, however it was sent or imported: null, an agent id, or a list of at most 1000 of them. */
export function checkRecipients(to: unknown, field: string): void {
  if (to === null || isAgentId(to)) return;
  if (Array.isArray(to) && to.length <= MESSAGE_MAX_RECIPIENTS && to.every(isAgentId)) return;
  throw new ApiError(
    "invalid_body",
    `${field} must be an agent id or a list of at most ${MESSAGE_MAX_RECIPIENTS} agent ids`,
    { field },
  );
}

/** What could be an agent's id (ids starting with _ name system scopes). */
function isAgentId(v: unknown): boolean {
  return typeof v === "string" && ID_PATTERN.test(v) && !v.startsWith("_");
}
