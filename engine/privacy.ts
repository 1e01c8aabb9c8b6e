/**
 * @module engine/privacy — what a caller may read (SPEC §4). The one place that decides it: every read
 * path (context, state, poll, eval, wait, views, errors) asks here.
 */
import { type Caller, isRoomToken, ownScope } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { parseTarget } from "../timers.ts";

/**
 * Agents read system scopes (not `_audit`), their own scope and granted scopes; tokens read everything.
 * "Own" is the agent's id only when it is a legal agent id: an old row named `_shared` owns nothing.
 */
export function canReadScope(caller: Caller, scope: string): boolean {
  if (caller.kind !== "agent") return true;
  if (scope === "_audit") return false;
  if (scope.startsWith("_")) return true;
  return scope === ownScope(caller) || caller.agent.grants.includes(scope);
}

/** Audit rows: agents see only their own; room and view tokens see all. */
export function canReadAudit(caller: Caller, agent: string): boolean {
  return caller.kind !== "agent" || agent === ownScope(caller);
}

/**
 * A logical timer counts the writes of its `tick_on` key, and `ticks_remaining` shows that count to
 * everyone: the key must be one its registrar may read (the room token, also acting as an agent: any)
 * → `403 scope_denied {field: "<field>.tick_on", scope}`.
 */
export function checkTickOn(
  registrar: Caller,
  timer: { readonly tick_on?: unknown } | null | undefined,
  field: string,
): void {
  // a tick_on that is not a string is the timer validation's to refuse (invalid_timer)
  if (typeof timer?.tick_on !== "string" || isRoomToken(registrar)) return;
  const scope = parseTarget(timer.tick_on)?.[0];
  if (scope === undefined || canReadScope(registrar, scope)) return;
  throw new ApiError(
    "scope_denied",
    `${field}.tick_on names ${
      JSON.stringify(timer.tick_on)
    }, a key of scope ${scope}, which ${registrar.id} may not read`,
    { field: `${field}.tick_on`, scope },
  );
}
