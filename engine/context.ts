/**
 * @module engine/context — a caller's view of the room: the CEL context of reference/cel.md and the `/context`
 * sections of §5. Built from the snapshot, filtered through privacy.ts; never reads another agent's scope.
 * (The `actions` entry of a CEL context is added by catalog.ts, which builds on this module.)
 */
import { type Caller, ownScope } from "../auth.ts";
import { CelBudget } from "../cel.ts";
import type { Limits } from "../config.ts";
import type { Engine } from "./engine.ts";
import { messageCounts } from "./messages.ts";
import { NO_OP, type Op } from "./op.ts";
import { canReadScope } from "./privacy.ts";
import type { Room } from "./room.ts";
import { agentsCel, defineMessagesScope, liveScope, stateScopes, viewsCel, viewValues } from "./snapshot.ts";
import { leasesCel, scopeLeases } from "./leases.ts";
import { lastSeenOf, statusOf } from "./liveness.ts";

/** One read: the room, who reads, the moment, the limits, the request it serves and its CEL budget. */
export type ReadCtx = { room: Room; caller: Caller; now: number; limits: Limits; op: Op; cel: CelBudget };

export function readCtx(eng: Engine, room: Room, caller: Caller, op: Op = NO_OP, cel?: CelBudget): ReadCtx {
  return {
    room,
    caller,
    now: eng.now(),
    limits: eng.limits,
    op,
    cel: cel ?? op.cel ?? new CelBudget(eng.limits),
  };
}

/** Scopes `reader` sees in `state`, by name (its own included under its id). */
export function visibleScopes(rc: ReadCtx, reader: Caller = rc.caller): string[] {
  const scopes = stateScopes(rc.room).filter((s) => canReadScope(reader, s));
  const own = ownScope(reader);
  if (own && !scopes.includes(own)) scopes.push(own);
  return scopes;
}

/** The CEL state map `reader` (default: the caller) sees: system scopes, its own scope, grants. */
export function scopesCel(rc: ReadCtx, reader: Caller = rc.caller): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const s of visibleScopes(rc, reader)) state[s] = liveScope(rc.room, s, rc.now, rc.limits, rc.cel).cel;
  return state;
}

/** The caller's CEL state map: system scopes, own scope under its id and as `self`, grants. */
export function celState(rc: ReadCtx): Record<string, unknown> {
  const state = scopesCel(rc);
  const own = ownScope(rc.caller);
  if (own) state.self = state[own];
  defineMessagesScope(rc.room, state);
  return state;
}

/** Views as CEL values (computed once per commit for every reader). */
export function celViews(rc: ReadCtx): Record<string, unknown> {
  return viewsCel(rc.room, rc.now, rc.limits);
}

/** The caller's read marker: agents have one, tokens have read everything. */
export function lastSeen(rc: ReadCtx): number {
  if (rc.caller.kind !== "agent") return rc.room.messages.length;
  return rc.room.agents.get(rc.caller.id)?.last_seen_seq ?? 0;
}

export function celMessages(rc: ReadCtx) {
  const m = messageCounts(rc.room, rc.caller.kind === "agent" ? rc.caller.id : null, lastSeen(rc));
  return { count: BigInt(m.count), unread: BigInt(m.unread), directed_unread: BigInt(m.directed_unread) };
}

/**
 * The CEL context for expressions a caller writes (eval, wait, if), `actions` aside (catalog.ts
 * `withActions` adds it where an expression may read it; an action's own `if` may not). `state` replaces
 * the caller's state map (an action's expressions read with their registrar's, action_ctx.ts).
 */
export function celContext(
  rc: ReadCtx,
  extra: Record<string, unknown> = {},
  state: Record<string, unknown> = celState(rc),
): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    state,
    views: celViews(rc),
    messages: celMessages(rc),
    self: rc.caller.id,
    ...extra,
  };
  // `agents` is built only if the expression reads it: presence changes (every waiter entering /wait)
  // invalidate it, and rebuilding it for each of K waiters in a big room cost O(K²) time and garbage.
  Object.defineProperty(ctx, "agents", {
    enumerable: true,
    configurable: true,
    get: () => agentsCel(rc.room, rc.now, rc.limits),
  });
  // `leases` mirrors `state` (the same scopes, so the same privacy), built as it is read
  Object.defineProperty(ctx, "leases", {
    enumerable: true,
    configurable: true,
    get: () => leasesCel(rc.room, rc.now, state, ownScope(rc.caller)),
  });
  return ctx;
}

/** `state` as JSON for responses: own scope shown once, as `self`. */
export function jsonState(rc: ReadCtx, only?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const own = ownScope(rc.caller);
  for (const s of visibleScopes(rc)) {
    if (only !== undefined && s !== only && !(only === "self" && s === own)) continue;
    const json = liveScope(rc.room, s, rc.now, rc.limits, rc.cel).json;
    if (s === own) out.self = json;
    else out[s] = json;
  }
  return out;
}

export function jsonViews(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, v] of viewValues(rc.room, rc.now, rc.limits)) out[id] = v.value;
  return out;
}

export function jsonAgents(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of rc.room.agents.values()) {
    out[a.id] = {
      name: a.name,
      role: a.role,
      status: statusOf(rc.room, a, rc.now, rc.limits),
      waiting_on: a.waiting_on,
      last_heartbeat: a.last_heartbeat,
      last_seen: lastSeenOf(a),
      grants: a.grants,
      meta: a.meta,
    };
  }
  return out;
}

/** `leases` as JSON for responses: each visible scope with live leases (own scope as `self`). */
export function jsonLeases(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!rc.room.hasLeases) return out;
  const own = ownScope(rc.caller);
  for (const s of [...visibleScopes(rc), "_messages"]) {
    const m = scopeLeases(rc.room, s, rc.now);
    if (m) out[s === own ? "self" : s] = m;
  }
  return out;
}
