/**
 * @module engine/builtins — the builtin actions (reference/api.md#builtin-actions) as one table: description and param docs (for
 * listings) beside the handler. Handlers stage changes in the Tx and throw ApiError to refuse.
 */
import { z } from "zod";
import { actAs, type Caller, canWriteScope, isRoomToken } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { renewTimer } from "../timers.ts";
import { checkOwner, registerAction } from "./actions.ts";
import type { ActionDef, ParamSpec } from "./model.ts";
import { messageView } from "./messages.ts";
import { canReadScope, checkTickOn } from "./privacy.ts";
import { acquire, checkFence, endLease, epochOf, leaseHeld, leaseView, liveLease } from "./leases.ts";
import { runOnExpire } from "./lease_expiry.ts";
import { windowOf } from "./liveness.ts";
import { approve, closeProposalsOf, reject } from "./proposals.ts";
import type { Tx } from "./tx.ts";
import { deleteView, publishKey, registerView } from "./views.ts";
import { deleteWebhook, redactSecret, registerWebhook } from "./webhooks.ts";
import { buildMessage } from "./message_writes.ts";
import { checkKey, checkScopeName } from "./write_checks.ts";
import { applyWrite, checkPredicate, type WriteResult, WriteSpec } from "./write_modes.ts";

export type BuiltinEnv = {
  /** the caller's CEL context (pre-invocation state plus staged writes). */
  ctx: () => Record<string, unknown>;
  /** the participant guide for `help`. */
  guide: () => unknown;
};

export type BuiltinOutcome = {
  writes: WriteResult[];
  extra?: Record<string, unknown>;
  after?: () => Record<string, unknown>;
};

export type Builtin = {
  description: string;
  params: Record<string, ParamSpec>;
  run(tx: Tx, params: Record<string, unknown>, env: BuiltinEnv): BuiltinOutcome;
  /** only the room token may invoke it (listed as unavailable to everyone else) */
  roomTokenOnly?: true;
  /** the params as the audit row keeps them (a secret left out); default: as given */
  auditParams?(params: Record<string, unknown>): Record<string, unknown>;
};

const STATUSES = ["active", "idle", "busy", "waiting", "done", "unknown"] as const;

function defaultScope(caller: Caller): string {
  return caller.kind === "agent" ? caller.id : "_shared";
}

function authorize(tx: Tx, scope: string): void {
  if (!canWriteScope(tx.caller, scope)) {
    throw new ApiError("scope_denied", `${tx.caller.id} may not write scope ${scope}`, { scope });
  }
}

function writeOne(tx: Tx, w: WriteSpec, env: BuiltinEnv, field: string): WriteResult {
  const scope = w.scope ?? defaultScope(tx.caller);
  checkScopeName(scope, `${field}scope`);
  authorize(tx, scope);
  checkTickOn(tx.caller, w.timer, `${field}timer`);
  if (scope === "_messages") {
    // a direct append speaks for the caller: `from` may only name the caller itself (reference/security.md)
    const from = (w.value as Record<string, unknown> | null)?.from;
    if (from !== undefined) actAs(tx.room, tx.caller, from, `${field}value.from`);
  }
  const r = applyWrite(tx, w, scope, env.ctx, field || "params");
  if (w.public) {
    if (scope.startsWith("_")) {
      throw new ApiError("invalid_body", "public: true only applies to a private scope", {
        field: `${field}public`,
      });
    }
    publishKey(tx, scope, r.key);
  }
  return r;
}

export const BatchParams = z.strictObject({ writes: z.array(WriteSpec).min(1), if: z.string().optional() });
export const DeleteParams = z.strictObject({
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]),
  if_epoch: z.union([z.number().int().min(0), z.string()]).optional(),
});
export const ReleaseParams = z.strictObject({
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]),
  expire: z.boolean().optional(),
});
export const MessageParams = z.strictObject({
  body: z.unknown().refine((v) => v !== undefined, "body is required"),
  kind: z.string().min(1).max(128).optional(),
  // what `to` may hold is buildMessage's rule (agent ids), for every way of sending
  to: z.unknown().optional(),
  reply_to: z.union([z.number().int(), z.string()]).nullable().optional(),
  from: z.string().optional(),
});
const IdParams = z.strictObject({ id: z.string() });
export const HeartbeatParams = z.strictObject({
  status: z.enum(STATUSES).optional(),
  agent: z.string().optional(),
});
const RenewParams = z.strictObject({ scope: z.string().optional(), key: z.union([z.string(), z.number()]) });
export const ClaimParams = z.strictObject({
  seq: z.union([z.number().int(), z.string()]),
  agent: z.string().optional(),
});

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
  _set_state: {
    description:
      "Write one state entry (default scope: your own). Modes: value, merge, increment, append; guards: if, if_version.",
    params: {
      scope: { type: "string", description: "target scope (default: your own; _shared for the room token)" },
      key: { type: "string", description: "the key (omit with append: true to add a log row)" },
      value: { type: "any", description: "the new value (or the increment delta / appended item)" },
      merge: { type: "object", description: "shallow-merge these fields into the object at key" },
      increment: { type: "any", description: "true (value is the delta, default 1) or a number to add" },
      append: {
        type: "boolean",
        description: "without key: new log row keyed 1,2,…; with key: push onto the array",
      },
      if: { type: "string", description: "CEL condition that must hold (409 precondition_failed)" },
      if_version: {
        type: "integer",
        description: "compare-and-set: current version must equal this (0 = must not exist)",
      },
      timer: { type: "object", description: "{ms|at|ticks+tick_on, effect: delete|enable}" },
      enabled: { type: "string", description: "CEL expression; the entry is hidden while it is false" },
      public: { type: "boolean", description: "publish this private key as the view <agent>.<key>" },
      delete: { type: "boolean", description: "true: remove the entry (no value)" },
      lease: {
        type: "any",
        description:
          "true (the room's window) or {ttl_ms, on_expire}: hold the entry; others' writes are 409 lease_held",
      },
      if_epoch: {
        type: "integer",
        description: "fencing: refused (409 lease_lost) unless your lease of the entry has this epoch",
      },
    },
    run(tx, raw, env) {
      return { writes: [writeOne(tx, WriteSpec.parse(raw), env, "")] };
    },
  },
  _batch_set_state: {
    description: "Up to 20 writes, all or nothing, with one optional `if` gate and per-write if_version.",
    params: {
      writes: { type: "array", required: true, description: "list of _set_state writes" },
      if: { type: "string", description: "CEL condition checked once before any write" },
    },
    run(tx, raw, env) {
      const p = BatchParams.parse(raw);
      if (p.writes.length > tx.limits.maxBatch) {
        throw new ApiError(
          "invalid_body",
          `a batch holds at most ${tx.limits.maxBatch} writes, got ${p.writes.length}`,
          {
            field: "writes",
            limit: tx.limits.maxBatch,
          },
        );
      }
      if (p.if !== undefined) checkPredicate(p.if, env.ctx(), tx);
      const writes = p.writes.map((w, i) => writeOne(tx, w, env, `writes[${i}].`));
      return { writes, extra: { count: writes.length } };
    },
  },
  _delete_state: {
    description: "Delete one state entry (default scope: your own).",
    params: {
      scope: { type: "string", description: "scope of the entry" },
      key: { type: "string", required: true, description: "key of the entry" },
      if_epoch: { type: "integer", description: "fencing: your lease of the entry must have this epoch" },
    },
    run(tx, raw) {
      const p = DeleteParams.parse(raw);
      const scope = p.scope ?? defaultScope(tx.caller);
      checkScopeName(scope);
      authorize(tx, scope);
      if (scope === "_messages") {
        throw new ApiError("invalid_body", "messages cannot be deleted", { field: "scope" });
      }
      const key = checkKey(p.key);
      checkFence(tx, scope, key, epochOf(p.if_epoch, "if_epoch"), canReadScope(tx.caller, scope));
      const cur = tx.get(scope, key);
      if (cur) tx.delete(scope, key);
      return { writes: [], extra: { deleted: !!cur, scope, key } };
    },
  },
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
  _renew_timer: {
    description: "Restart the wall-clock (ms) timer of a state entry.",
    params: { scope: { type: "string" }, key: { type: "string", required: true } },
    run(tx, raw) {
      const p = RenewParams.parse(raw);
      const scope = p.scope ?? defaultScope(tx.caller);
      checkScopeName(scope);
      authorize(tx, scope);
      const key = checkKey(p.key);
      const cur = tx.get(scope, key);
      if (!cur) throw new ApiError("state_not_found", `no entry ${scope}.${key}`, { scope, key });
      checkFence(tx, scope, key, undefined, true);
      const timer = cur.timer ? renewTimer(cur.timer, tx.now) : undefined;
      if (!timer) {
        throw new ApiError("invalid_timer", `${scope}.${key} has no ms timer to renew`, { scope, key });
      }
      tx.put({ ...cur, timer, version: cur.version + 1, updated_at: tx.iso });
      return { writes: [{ scope, key, value: cur.value, version: cur.version + 1 }], extra: { timer } };
    },
  },
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
  _release: {
    description:
      "End a lease early (its holder or the room token): the entry stays; expire: true runs its on_expire now.",
    params: {
      scope: { type: "string", description: "scope of the entry (default: your own; _messages for a claim)" },
      key: { type: "string", required: true, description: "key of the entry (a message's seq)" },
      expire: {
        type: "boolean",
        description: "run the lease's on_expire now, as if it lapsed (a message claim: give it back)",
      },
    },
    run(tx, raw) {
      const p = ReleaseParams.parse(raw);
      const scope = p.scope ?? defaultScope(tx.caller);
      checkScopeName(scope);
      if (!canReadScope(tx.caller, scope)) {
        throw new ApiError("scope_denied", `${tx.caller.id} may not read scope ${scope}`, { scope });
      }
      const key = checkKey(p.key);
      const l = liveLease(tx, scope, key);
      if (!l) return { writes: [], extra: { released: false, scope, key } };
      if (l.holder !== tx.caller.id && !isRoomToken(tx.caller)) throw leaseHeld(tx, l, true);
      endLease(tx, l);
      if (p.expire) runOnExpire(tx, l);
      return { writes: [], extra: { released: true, scope, key, epoch: l.epoch, holder: l.holder } };
    },
  },
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
