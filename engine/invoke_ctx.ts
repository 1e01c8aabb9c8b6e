/**
 * @module engine/invoke_ctx — the CEL context of an invocation: the invoker's context plus the action
 * owner's scope under its id (SPEC §6 step 3). Only the owner's scope is added, never any other.
 */
import type { ActionDef } from "./model.ts";
import type { ReadCtx } from "./context.ts";
import { liveScope } from "./snapshot.ts";

export function ownerScopeContext(
  rc: ReadCtx,
  a: ActionDef,
  base: Record<string, unknown>,
): Record<string, unknown> {
  if (a.scope.startsWith("_") || a.scope === rc.caller.id) return base;
  const state: Record<string, unknown> = {};
  const from = base.state as Record<string, unknown>;
  for (const k of Object.keys(from)) {
    const d = Object.getOwnPropertyDescriptor(from, k)!;
    Object.defineProperty(state, k, d);
  }
  state[a.scope] = liveScope(rc.room, a.scope, rc.now, rc.limits, rc.cel).cel;
  return { ...base, state };
}
