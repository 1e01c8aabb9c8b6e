/**
 * @module engine/action_ctx — the CEL context of an action's expressions (`if`, `enabled`, each write's
 * `if`, `expr` values), read with its **registrar's** authority, never the invoker's (reference/security.md). Invocation
 * and the catalog (`/actions`, `/context`, CEL `actions`, help) both build it here.
 */
import { type Caller, ownScope } from "../auth.ts";
import { type CelMap, celWith } from "../cel.ts";
import { celContext, type ReadCtx, scopesCel } from "./context.ts";
import { type ActionDef, splitEntryId } from "./model.ts";
import { canReadScope } from "./privacy.ts";
import type { Room } from "./room.ts";
import { celValue, defineMessagesScope, liveScope, stateScopes } from "./snapshot.ts";
import type { Tx } from "./tx.ts";

const ROOM_TOKEN: Caller = Object.freeze({ kind: "admin", id: "admin" });
/** A reader of the system scopes only (no id owns a scope). */
const NOBODY: Caller = Object.freeze({
  kind: "agent",
  id: "",
  agent: { id: "", grants: [], token_hash: "" },
  viaRoomToken: false,
});

/** Who registered a definition, as a reader: the room token, or agent R with R's current grants. */
export function registrarOf(room: Room, registrar: string): Caller {
  if (registrar === "admin") return ROOM_TOKEN;
  const agent = room.agents.get(registrar) ?? { id: registrar, grants: [], token_hash: "" };
  return { kind: "agent", id: registrar, agent, viaRoomToken: false };
}

/**
 * `state` as the action's expressions see it when `rc.caller` invokes it:
 * - registrar = room token: every scope; `state.self` is the invoker's scope (an agent invoker);
 * - registrar = agent R: system scopes (not `_audit`), R's scope, R's grants; `state.self` only when R
 *   itself invokes.
 * Plus the action's owner scope. The invoker's private scope is there only when one of these names it.
 */
export function actionState(rc: ReadCtx, a: ActionDef, registrar = registrarOf(rc.room, a.registrar)) {
  const everything = registrar.kind === "admin";
  const state = scopesCel(rc, everything ? NOBODY : registrar);
  if (!a.scope.startsWith("_") && !(a.scope in state)) {
    state[a.scope] = liveScope(rc.room, a.scope, rc.now, rc.limits, rc.cel).cel;
  }
  const invoker = ownScope(rc.caller);
  if (invoker !== undefined && (everything || registrar.id === invoker)) {
    state[invoker] ??= liveScope(rc.room, invoker, rc.now, rc.limits, rc.cel).cel;
    state.self = state[invoker];
  }
  defineMessagesScope(rc.room, state);
  return everything ? everyScope(rc, state) : state;
}

/**
 * The room token's `state`: `known` plus every other scope of the room, each built when an expression
 * first reads it (a room may hold thousands of private scopes; an expression reads a few, and this context
 * is built on every invocation). It reads as the plain object with every scope would.
 */
function everyScope(rc: ReadCtx, known: Record<string, unknown>): Record<string, unknown> {
  const load = (t: Record<string, unknown>, k: string | symbol) => {
    if (
      typeof k === "string" && !Object.hasOwn(t, k) && k !== "_audit" && k !== "_messages" &&
      rc.room.scopes.has(k)
    ) t[k] = liveScope(rc.room, k, rc.now, rc.limits, rc.cel).cel;
  };
  return new Proxy(known, {
    get: (t, k, r) => (load(t, k), Reflect.get(t, k, r)),
    has: (t, k) => (load(t, k), Reflect.has(t, k)),
    getOwnPropertyDescriptor: (t, k) => (load(t, k), Reflect.getOwnPropertyDescriptor(t, k)),
    ownKeys: (t) => {
      for (const s of stateScopes(rc.room)) load(t, s);
      return Reflect.ownKeys(t);
    },
  });
}

/** The whole CEL context of an action's expression: its state, plus views, agents, messages, `self`. */
export function actionContext(
  rc: ReadCtx,
  a: ActionDef,
  extra: Record<string, unknown> = {},
  registrar?: Caller,
): Record<string, unknown> {
  return celContext(rc, extra, actionState(rc, a, registrar));
}

/** Whether the action's `state` holds a scope the invoker may not read (its refusals then explain less). */
function showsMore(state: Record<string, unknown>, invoker: Caller): boolean {
  for (const s of Object.keys(state)) if (s !== "self" && !canReadScope(invoker, s)) return true;
  return false;
}

/** What one invocation's expressions are evaluated with (engine/actions.ts `runCustomAction`). */
export type ActionEyes = {
  /** whose authority the action reads with (a write's `tick_on` must be readable by it) */
  registrar: Caller;
  /** the action's CEL context with these params and the writes staged so far (rebuilt per call) */
  ctx(params: Record<string, unknown>): Record<string, unknown>;
  /**
   * The invoker's own context, when the action's shows more than the invoker may read: refusal details
   * (`detail`, `runtime_error`) are built from it. `undefined`: the action's context hides nothing. Asked
   * only on a refusal.
   */
  explain(params: Record<string, unknown>): Record<string, unknown> | undefined;
};

/** The eyes of custom action `a` invoked in `tx` (the invoker is `tx.caller`). */
export function invocationEyes(rc: ReadCtx, tx: Tx, a: ActionDef): ActionEyes {
  const registrar = registrarOf(rc.room, a.registrar);
  let hides: boolean | undefined;
  return {
    registrar,
    ctx(params) {
      const ctx = actionContext(rc, a, { params }, registrar);
      stageOverlay(ctx, tx);
      return ctx;
    },
    explain(params) {
      hides ??= showsMore(actionState(rc, a, registrar), rc.caller);
      if (!hides) return undefined;
      const own = celContext(rc, { params });
      stageOverlay(own, tx);
      return own;
    },
  };
}

/** Staged writes of earlier steps are visible to later CEL (e.g. a batch's per-write `if`). */
export function stageOverlay(ctx: Record<string, unknown>, tx: Tx): void {
  if (!tx.entries.size) return;
  const state = ctx.state as Record<string, unknown>;
  for (const [id, e] of tx.entries) {
    const [scope, key] = splitEntryId(id);
    const target = scope === tx.caller.id ? [scope, "self"] : [scope];
    for (const name of target) {
      // a system scope this Tx creates is there for later expressions too (everyone reads system scopes)
      if (!Object.hasOwn(state, name) && !(e && scope.startsWith("_"))) continue;
      state[name] = celWith((state[name] ?? {}) as CelMap, key, e ? celValue(e) : undefined);
    }
  }
}
