/**
 * @module engine/privacy — what a caller may read (SPEC §4). The one place that decides it: every read
 * path (context, state, poll, eval, wait, views, errors) asks here.
 */
import type { Caller } from "../auth.ts";

/** Agents read system scopes (not `_audit`), their own scope and granted scopes; tokens read everything. */
export function canReadScope(caller: Caller, scope: string): boolean {
  if (caller.kind !== "agent") return true;
  if (scope === "_audit") return false;
  if (scope.startsWith("_")) return true;
  return scope === caller.id || caller.agent.grants.includes(scope);
}

/** Audit rows: agents see only their own; room and view tokens see all. */
export function canReadAudit(caller: Caller, agent: string): boolean {
  return caller.kind !== "agent" || agent === caller.id;
}
