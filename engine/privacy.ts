/**
 * @module engine/privacy — what a caller may read (reference/security.md). The one place that decides it: every read
 * path (context, state, poll, eval, wait, views, errors) asks here.
 */
import { type Caller, isAgentId, isRoomToken, ownScope } from "../auth.ts";
import { ApiError } from "../errors.ts";

/**
 * Agents read system scopes (not `_audit`), their own scope and granted scopes; tokens read everything.
 * "Own" is the agent's id only when it is a legal agent id: an old row named `_shared` owns nothing.
 */
export function canReadScope(caller: Caller, scope: string): boolean {
  if (caller.kind !== "agent") return true;
  if (scope === "_audit") return false;
  if (scope.startsWith("_")) return true;
  // its own scope: compared first (this runs once per scope of the room for every context built)
  if (scope === caller.id) return isAgentId(scope);
  return caller.agent.grants.includes(scope);
}

/**
 * Why something is hidden (a state entry or view that is dormant or disabled, an action's `enabled`
 * expression): shown to the room and view tokens, which oversee the room. An agent — also the room token
 * acting as one — sees only what is live for it.
 */
export function seesHidden(caller: Caller): boolean {
  return caller.kind === "admin" || caller.kind === "viewer";
}

/** The scope a `state…` path of a refusal's `detail` starts with: `state.alice.plan`, `state["alice"].plan`. */
function rootScope(path: string): string | undefined {
  const m = /^state(?:\.([A-Za-z0-9_:-]+)|\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\])/.exec(path);
  return m ? m[1] ?? m[2] ?? m[3] : undefined;
}

/**
 * A refusal's `detail` (each path its condition read, with the value) as the invoker may see it: a path
 * into a scope it may not read is `{hidden: true, error: "not visible to you"}` — never its value, nor an
 * error text such as "No such key: alice" that would pass for a missing scope.
 */
export function visibleDetail(caller: Caller, detail: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(detail)) {
    const scope = rootScope(path);
    const hidden = scope !== undefined && scope !== "self" && !canReadScope(caller, scope);
    out[path] = hidden ? { hidden: true, error: "not visible to you" } : v;
  }
  return out;
}

/** Audit rows: agents see only their own; room and view tokens see all. */
export function canReadAudit(caller: Caller, agent: string): boolean {
  return caller.kind !== "agent" || agent === ownScope(caller);
}

/**
 * A logical timer counts the writes of its `tick_on` key, and `ticks_remaining` shows that count to
 * everyone: the key must be one its registrar may read (the room token, also acting as an agent: any)
 * → `403 scope_denied {field: "<field>.tick_on", scope}`. A target `a.b.c` counts writes of key `b.c` in
 * scope `a` and of key `c` in scope `a.b` alike (ids and keys may hold dots): every such scope must be
 * readable.
 */
export function checkTickOn(
  registrar: Caller,
  timer: { readonly tick_on?: unknown } | null | undefined,
  field: string,
): void {
  // a tick_on that is not a string is the timer validation's to refuse (invalid_timer)
  if (typeof timer?.tick_on !== "string" || isRoomToken(registrar)) return;
  const target = timer.tick_on;
  let scope: string | undefined;
  for (let dot = target.indexOf("."); dot > 0 && scope === undefined; dot = target.indexOf(".", dot + 1)) {
    if (!canReadScope(registrar, target.slice(0, dot))) scope = target.slice(0, dot);
  }
  if (scope === undefined) return;
  throw new ApiError(
    "scope_denied",
    `${field}.tick_on names ${
      JSON.stringify(timer.tick_on)
    }, a key of scope ${scope}, which ${registrar.id} may not read`,
    { field: `${field}.tick_on`, scope },
  );
}
