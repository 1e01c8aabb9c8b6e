/**
 * @module engine/builtins_state — the builtins that write state entries (`_set_state`, `_batch_set_state`,
 * `_delete_state`, `_renew_timer`) and end leases (`_release`), with the scope and authority rule they share.
 */
import { actAs, type Caller, canWriteScope, isRoomToken } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { renewTimer } from "../timers.ts";
import type { Builtin, BuiltinEnv } from "./builtin.ts";
import { BatchParams, DeleteParams, ReleaseParams, RenewParams } from "./builtin_params.ts";
import { canReadScope, checkTickOn } from "./privacy.ts";
import { checkFence, endLease, epochOf, leaseHeld, liveLease } from "./leases.ts";
import { runOnExpire } from "./lease_expiry.ts";
import type { Tx } from "./tx.ts";
import { publishKey } from "./views.ts";
import { checkKey, checkScopeName } from "./write_checks.ts";
import { applyWrite, checkPredicate, type WriteResult, WriteSpec } from "./write_modes.ts";

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

export const STATE_BUILTINS = {
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
} satisfies Record<string, Builtin>;
