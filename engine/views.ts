/**
 * @module engine/views — registering and deleting views (SPEC §7), including the `<agent>.<key>` views that
 * `public_keys` and `public: true` create. Values are computed in snapshot.ts.
 */
import { z } from "zod";
import { compile } from "../cel.ts";
import { ID_PATTERN } from "../config.ts";
import { ApiError } from "../errors.ts";
import { startTimer, TimerSpec } from "../timers.ts";
import { checkOwner, checkOwnerScope } from "./actions.ts";
import type { ViewDef } from "./model.ts";
import { checkDefinitionQuota } from "./quotas.ts";
import type { Tx } from "./tx.ts";
import { checkValue } from "./write_modes.ts";

export const RegisterView = z.strictObject({
  id: z.string().regex(ID_PATTERN, "id must be 1-128 characters of [A-Za-z0-9._:-]"),
  expr: z.string(),
  scope: z.string().optional(),
  description: z.string().max(4000).optional(),
  enabled: z.string().optional(),
  timer: TimerSpec.optional(),
  render: z.unknown().optional(),
});

/** Default owner scope: the registrar's own scope, `_shared` for the room token. `field` names it in refusals. */
export function registerView(tx: Tx, raw: unknown, field = "params"): ViewDef {
  const p = RegisterView.parse(raw);
  const scope = p.scope ?? (tx.caller.kind === "agent" ? tx.caller.id : "_shared");
  checkOwnerScope(tx.caller, scope, `view ${p.id}`);
  const existing = tx.view(p.id);
  if (existing) checkOwner(tx.caller, existing.registrar, `view ${p.id}`);
  else checkDefinitionQuota(tx, "views");
  const limits = { maxLength: tx.limits.maxCelLength, timeoutMs: tx.limits.celTimeoutMs };
  compile(p.expr, limits, "expr");
  if (p.enabled !== undefined) compile(p.enabled, limits, "enabled");
  const def: ViewDef = {
    id: p.id,
    expr: p.expr,
    scope,
    description: p.description,
    enabled: p.enabled,
    timer: p.timer ? startTimer(p.timer, tx.now, (t) => tx.room.tick(t), "timer") : null,
    render: p.render,
    registrar: tx.caller.id,
    created_at: tx.iso,
  };
  checkValue(def, tx.limits, field, tx.limits.maxDefinitionBytes);
  if (def.timer?.tick_on) tx.newTicks.add(def.timer.tick_on);
  tx.views.set(p.id, def);
  return def;
}

/** `public: true` / `public_keys`: a view `<agent>.<key>` projecting one private key. */
export function publishKey(tx: Tx, agentId: string, key: string): ViewDef {
  const id = `${agentId}.${key}`;
  const existing = tx.view(id);
  if (existing && existing.registrar !== agentId && existing.registrar !== "admin") {
    throw new ApiError("not_owner", `view ${id} belongs to ${existing.registrar}`, {
      registrar: existing.registrar,
    });
  }
  const def: ViewDef = {
    id,
    expr: `state[${JSON.stringify(agentId)}][${JSON.stringify(key)}]`,
    scope: agentId,
    description: `${agentId}'s ${key}`,
    registrar: agentId,
    created_at: tx.iso,
    timer: null,
  };
  tx.views.set(id, def);
  return def;
}

export function deleteView(tx: Tx, id: unknown): boolean {
  if (typeof id !== "string") throw new ApiError("invalid_body", "id must be a string", { field: "id" });
  const v = tx.view(id);
  if (!v) throw new ApiError("view_not_found", `no view ${id} in this room`, { view: id });
  checkOwner(tx.caller, v.registrar, `view ${id}`);
  tx.views.set(id, null);
  return true;
}
