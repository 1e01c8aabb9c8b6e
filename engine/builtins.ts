/**
 * @module engine/builtins — the builtin actions (reference/api.md#builtin-actions) as one table: description
 * and param docs (for listings) beside the handler (engine/builtin.ts). The state writes are in
 * builtins_state.ts; messages, definitions, presence, webhooks, approvals and `help` are here.
 */
import { actAs } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { checkOwner, registerAction } from "./actions.ts";
import type { Builtin } from "./builtin.ts";
import { ClaimParams, HeartbeatParams, IdParams, MessageParams, STATUSES } from "./builtin_params.ts";
import { STATE_BUILTINS } from "./builtins_state.ts";
import type { ActionDef } from "./model.ts";
import { messageView } from "./messages.ts";
import { acquire, leaseView } from "./leases.ts";
import { windowOf } from "./liveness.ts";
import { approve, closeProposalsOf, reject } from "./proposals.ts";
import { deleteView, registerView } from "./views.ts";
import { deleteWebhook, redactSecret, registerWebhook } from "./webhooks.ts";
import { buildMessage } from "./message_writes.ts";

const { _set_state, _batch_set_state, _delete_state, _renew_timer, _release } = STATE_BUILTINS;

/** Every builtin, in the order listings show them. */
export const BUILTINS: Record<string, Builtin> = {
  _send_message: {
    description: "Send a message to the room (optionally addressed with `to`, threaded with `reply_to`).",
    params: {
      body: { type: "any", required: true, description: "the message: a string or any JSON" },
      kind: { type: "string", description: 'a label such as chat, task, result (default "chat")' },
      to: { type: "any", description: "an agent id or a list of ids this message is addressed to" },
      reply_to: { type: "integer", description: "seq of the message this one answers" },
    },
    run(tx, raw) {
      const p = MessageParams.parse(raw);
      const who = actAs(tx.room, tx.caller, p.from, "from");
      const m = buildMessage(tx, {
        from: who.id,
        kind: p.kind ?? "chat",
        body: p.body,
        to: p.to ?? null,
        reply_to: p.reply_to ?? null,
      }, "params");
      return {
        writes: [{ scope: "_messages", key: String(m.seq), value: messageView(m), version: 1 }],
        extra: { message: messageView(m) },
      };
    },
  },
  _set_state,
  _batch_set_state,
  _delete_state,
  _register_action: {
    description:
      "Register (or replace, if yours) a custom action: params, writes templates, if, enabled, timers.",
    params: {
      id: { type: "string", required: true, description: "action id" },
      description: { type: "string" },
      params: { type: "object", description: "{name: {type, enum, required, default, description}}" },
      writes: { type: "array", description: "write templates using ${self}, ${now}, ${params.x}" },
      if: { type: "string", description: "CEL predicate checked at invocation" },
      enabled: { type: "string", description: "CEL expression; hidden and refused while false" },
      scope: { type: "string", description: "owner scope (default _shared)" },
      timer: { type: "object", description: "lifecycle timer of the action" },
      on_invoke: { type: "object", description: "{timer}: cooldown started by each invocation" },
      approval: {
        type: "object",
        description: "{count, from, expires_ms?, proposer_counts?}: invoking proposes; runs once approved",
      },
    },
    run(tx, raw) {
      const def = registerAction(tx, raw);
      if (tx.room.actions.has(def.id)) closeProposalsOf(tx, def.id, "replaced");
      return { writes: [], extra: { id: def.id, registered: publicAction(def) } };
    },
  },
  _delete_action: {
    description: "Delete a custom action you registered (any, with the room token).",
    params: { id: { type: "string", required: true } },
    run(tx, raw) {
      const { id } = IdParams.parse(raw);
      const a = tx.action(id);
      if (!a) throw new ApiError("action_not_found", `no action ${id} in this room`, { action: id });
      checkOwner(tx.caller, a.registrar, `action ${id}`);
      tx.actions.set(id, null);
      closeProposalsOf(tx, id, "deleted");
      return { writes: [], extra: { id, deleted: true } };
    },
  },
  _register_view: {
    description:
      "Register (or replace, if yours) a view: a CEL expression over your scope whose value everyone sees.",
    params: {
      id: { type: "string", required: true },
      expr: { type: "string", required: true, description: 'CEL; your scope is visible as state["<you>"]' },
      scope: { type: "string", description: "owner scope (default: your own; _shared for the room token)" },
      description: { type: "string" },
      enabled: { type: "string" },
      timer: { type: "object" },
      render: { type: "any", description: "a display hint for the dashboard" },
    },
    run(tx, raw) {
      const def = registerView(tx, raw);
      return { writes: [], extra: { id: def.id, view: def } };
    },
  },
  _delete_view: {
    description: "Delete a view you registered (any, with the room token).",
    params: { id: { type: "string", required: true } },
    run(tx, raw) {
      const { id } = IdParams.parse(raw);
      deleteView(tx, id);
      return { writes: [], extra: { id, deleted: true } };
    },
  },
  _heartbeat: {
    description: "Keep-alive: updates your presence and status.",
    params: { status: { type: "string", enum: [...STATUSES], description: 'default "active"' } },
    run(tx, raw) {
      const p = HeartbeatParams.parse(raw);
      const who = actAs(tx.room, tx.caller, p.agent);
      if (who.kind !== "agent") {
        throw new ApiError("invalid_body", "the room token must name an agent to heartbeat for", {
          field: "agent",
        });
      }
      const agent = { ...tx.room.agents.get(who.id)!, status: p.status ?? "active", last_heartbeat: tx.iso };
      tx.agents.set(agent.id, agent);
      return {
        writes: [],
        extra: { agent: agent.id, status: agent.status, heartbeat: agent.last_heartbeat },
      };
    },
  },
  _renew_timer,
  _claim_message: {
    description: "Claim a message (first claimer wins; later claims get 409 with claimed_by).",
    params: { seq: { type: "integer", required: true, description: "the message seq" } },
    run(tx, raw) {
      const p = ClaimParams.parse(raw);
      const who = actAs(tx.room, tx.caller, p.agent);
      const seq = Number(p.seq);
      const m = Number.isInteger(seq) ? tx.message(seq) : undefined;
      if (!m) throw new ApiError("message_not_found", `no message ${p.seq} in this room`, { seq: p.seq });
      if (m.claimed_by !== null) {
        throw new ApiError("already_claimed", `message ${seq} was already claimed by ${m.claimed_by}`, {
          claimed: false,
          claimed_by: m.claimed_by,
          claimed_at: m.claimed_at,
        });
      }
      const claimed = { ...m, claimed_by: who.id, claimed_at: tx.iso };
      tx.updatedMessages.set(seq, claimed);
      // the claim is a lease for the room's window: a claimer that goes gone gives the message back
      const lease = acquire(tx, "_messages", String(seq), windowOf(tx.room, tx.limits), "release", who.id);
      return {
        writes: [{ scope: "_messages", key: String(seq), value: messageView(claimed), version: 2 }],
        extra: {
          claimed: true,
          claimed_by: who.id,
          claimed_at: tx.iso,
          message_id: seq,
          seq,
          lease: leaseView(tx.room, lease, tx.now),
        },
      };
    },
  },
  _release,
  _register_webhook: {
    description:
      "Room token: POST each matching commit to a URL, signed with X-Sync-Signature (HMAC-SHA256 of the body with the secret).",
    params: {
      id: { type: "string", required: true, description: "webhook id (registering it again replaces it)" },
      url: { type: "string", required: true, description: "http(s) URL the deliveries are POSTed to" },
      secret: {
        type: "string",
        required: true,
        description: "at least 16 characters; signs every delivery, never shown again",
      },
      events: {
        type: "object",
        description:
          '{scopes?, kinds? (state, message, agent, definition; default ["state","message"]), actions?}',
      },
    },
    roomTokenOnly: true,
    auditParams: redactSecret,
    run(tx, raw) {
      return { writes: [], extra: registerWebhook(tx, raw) };
    },
  },
  _delete_webhook: {
    description: "Room token: delete a webhook and its undelivered deliveries.",
    params: { id: { type: "string", required: true } },
    roomTokenOnly: true,
    run(tx, raw) {
      return { writes: [], extra: deleteWebhook(tx, raw) };
    },
  },
  _approve: {
    description:
      "Approve a pending proposal you may decide; the approval that completes its quorum runs the action as its proposer.",
    params: { proposal: { type: "string", required: true, description: "the proposal id" } },
    run: (tx, raw) => approve(tx, raw),
  },
  _reject: {
    description:
      "Reject a pending proposal you may decide (or withdraw your own): it ends, with your reason.",
    params: {
      proposal: { type: "string", required: true, description: "the proposal id" },
      reason: { type: "string", description: "why, shown with the proposal" },
    },
    run: (tx, raw) => reject(tx, raw),
  },
  help: {
    description: "Participant guide: how to read context, invoke actions and wait, plus this room's actions.",
    params: {},
    run(_tx, _raw, env) {
      return { writes: [], extra: { help: env.guide() } };
    },
  },
};

/** An action definition as listings show it (no internal fields). */
export function publicAction(a: ActionDef): Record<string, unknown> {
  return {
    id: a.id,
    description: a.description,
    params: a.params,
    writes: a.writes,
    if: a.if,
    enabled: a.enabled,
    scope: a.scope,
    timer: a.timer,
    on_invoke: a.on_invoke,
    ...(a.approval ? { approval: a.approval } : {}),
    registrar: a.registrar,
  };
}
