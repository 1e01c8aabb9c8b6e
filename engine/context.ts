/**
 * @module engine/context — a caller's view of the room: the CEL context of SPEC §8 and the `/context`
 * response of §5. Built from the snapshot, filtered through privacy.ts; never reads another agent's scope.
 */
import { toCel } from "../cel.ts";
import type { Caller } from "../auth.ts";
import type { Limits } from "../config.ts";
import type { Room } from "./model.ts";
import { canReadScope } from "./privacy.ts";
import { agentsCel, defineMessagesScope, liveScope, stateScopes, viewValues } from "./snapshot.ts";
import { messageCounts } from "./messages.ts";
import { actionCatalog } from "./catalog.ts";

export type ReadCtx = { room: Room; caller: Caller; now: number; limits: Limits };

/** Scopes the caller sees in `state`, by name (its own included under its id). */
export function visibleScopes(rc: ReadCtx): string[] {
  const scopes = stateScopes(rc.room).filter((s) => canReadScope(rc.caller, s));
  const own = rc.caller.kind === "agent" ? rc.caller.id : undefined;
  if (own && !scopes.includes(own)) scopes.push(own);
  return scopes;
}

/** The caller's CEL state map: system scopes, own scope under its id and as `self`, grants. */
export function celState(rc: ReadCtx): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const s of visibleScopes(rc)) state[s] = liveScope(rc.room, s, rc.now, rc.limits).cel;
  if (rc.caller.kind === "agent") state.self = state[rc.caller.id];
  defineMessagesScope(rc.room, state);
  return state;
}

/** Views as CEL values, converted once per computed set of values (every waiter's check reads them). */
const celViewsOf = new WeakMap<object, Record<string, unknown>>();
export function celViews(rc: ReadCtx): Record<string, unknown> {
  const values = viewValues(rc.room, rc.now, rc.limits);
  let out = celViewsOf.get(values);
  if (!out) {
    out = {};
    for (const [id, v] of values) out[id] = toCel(v.value);
    celViewsOf.set(values, out);
  }
  return out;
}

export function lastSeen(rc: ReadCtx): number {
  return rc.caller.kind === "agent" ? rc.caller.agent.last_seen_seq : rc.room.messages.length;
}

export function celMessages(rc: ReadCtx) {
  const m = messageCounts(rc.room, rc.caller.kind === "agent" ? rc.caller.id : null, lastSeen(rc));
  return { count: BigInt(m.count), unread: BigInt(m.unread), directed_unread: BigInt(m.directed_unread) };
}

/**
 * The full CEL context for expressions a caller writes (eval, wait, if). `actions` is computed only if the
 * expression reads it; `if` evaluation itself gets a context without `actions` (no recursion).
 */
export function celContext(rc: ReadCtx, extra: Record<string, unknown> = {}, withActions = true) {
  const ctx: Record<string, unknown> = {
    state: celState(rc),
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
    get: () => agentsCel(rc.room),
  });
  if (withActions) {
    let built: Record<string, unknown> | undefined;
    Object.defineProperty(ctx, "actions", {
      enumerable: true,
      get() {
        if (!built) {
          built = {};
          for (const a of actionCatalog(rc, false)) {
            built[a.id as string] = { available: a.available, enabled: a.enabled };
          }
        }
        return built;
      },
    });
  }
  return ctx;
}

/** `state` as JSON for responses: own scope shown once, as `self`. */
export function jsonState(rc: ReadCtx, only?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const own = rc.caller.kind === "agent" ? rc.caller.id : undefined;
  for (const s of visibleScopes(rc)) {
    if (only !== undefined && s !== only && !(only === "self" && s === own)) continue;
    const json = liveScope(rc.room, s, rc.now, rc.limits).json;
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
      status: a.status,
      waiting_on: a.waiting_on,
      last_heartbeat: a.last_heartbeat,
      grants: a.grants,
      meta: a.meta,
    };
  }
  return out;
}

export function jsonActions(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of actionCatalog(rc, true)) {
    const { id, ...rest } = a;
    out[id as string] = rest;
  }
  return out;
}
