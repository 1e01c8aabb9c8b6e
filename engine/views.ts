/**
 * @module engine/views — registering and deleting views (reference/api.md#views), including the `<agent>.<key>` views that
 * `public_keys` and `public: true` create. Values are computed in snapshot.ts.
 */
import { z } from "zod";
import { isRoomToken } from "../auth.ts";
import { compile } from "../cel.ts";
import { ID_PATTERN } from "../config.ts";
import { ApiError } from "../errors.ts";
import { startTimer, TimerSpec } from "../timers.ts";
import { checkOwner, checkOwnerScope } from "./actions.ts";
import type { ViewDef } from "./model.ts";
import { checkTickOn } from "./privacy.ts";
import { checkDefinitionQuota } from "./quotas.ts";
import type { Tx } from "./tx.ts";
import { checkValue } from "./write_checks.ts";

export const RegisterView = z.strictObject({
  id: z.string().regex(ID_PATTERN, "id must be 1-128 characters of [A-Za-z0-9._:-]"),
  expr: z.string(),
  scope: z.string().optional(),
  description: z.string().max(4000).optional(),
  enabled: z.string().optional(),
  timer: TimerSpec.optional(),
  render: z.unknown().optional(),
});

/**
 * The agent a view id `<agent>.<rest>` belongs to: the part before the first dot (an agent that may not
 * have joined yet), or a longer prefix ending before a dot that is an agent's id (agent ids may hold dots:
 * `my.bot.hp` is agent `my.bot`'s when it exists, not `my`'s). None without a dot.
 */
export function viewOwner(id: string, isAgent: (id: string) => boolean): string | undefined {
  let owner: string | undefined;
  for (let dot = id.indexOf("."); dot >= 0; dot = id.indexOf(".", dot + 1)) {
    const prefix = id.slice(0, dot);
    if (owner === undefined || isAgent(prefix)) owner = prefix;
  }
  return owner;
}

/**
 * A view id with a dot belongs to its owner agent (viewOwner): only it (or the room token) registers it,
 * and it may replace or delete it whoever registered it (`public_keys` over a room-token view).
 */
function checkViewId(tx: Tx, id: string, registrar: string | undefined): void {
  const caller = tx.caller;
  const owner = viewOwner(id, (a) => tx.agents.has(a) || tx.room.agents.has(a));
  if (isRoomToken(caller) || owner === caller.id) return;
  if (owner !== undefined) {
    throw new ApiError("not_owner", `view ${id} belongs to ${owner}: ids ${owner}.… are theirs`, {
      view: id,
      owner,
    });
  }
  if (registrar !== undefined) checkOwner(caller, registrar, `view ${id}`);
}

/** Default owner scope: the registrar's own scope, `_shared` for the room token. `field` names it in refusals. */
export function registerView(tx: Tx, raw: unknown, field = "params"): ViewDef {
  const p = RegisterView.parse(raw);
  const existing = tx.view(p.id);
  checkViewId(tx, p.id, existing?.registrar);
  const scope = p.scope ?? (tx.caller.kind === "agent" ? tx.caller.id : "_shared");
  checkOwnerScope(tx.caller, scope, `view ${p.id}`);
  if (!existing) checkDefinitionQuota(tx, "views");
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
  checkTickOn(tx.caller, def.timer, "timer");
  checkValue(def, tx.limits, field, tx.limits.maxDefinitionBytes);
  if (def.timer?.tick_on) tx.newTicks.add(def.timer.tick_on);
  tx.views.set(p.id, def);
  return def;
}

/**
 * `public: true` / `public_keys`: a view `<agent>.<key>` projecting one private key. The id is the agent's
 * own, so this always works for it and replaces whatever held the id (a room-token view; a view a shorter
 * prefix registered before the agent joined, or an older version let someone register).
 */
export function publishKey(tx: Tx, agentId: string, key: string): ViewDef {
  const id = `${agentId}.${key}`;
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
  if (v.registrar !== tx.caller.id) checkViewId(tx, id, v.registrar);
  tx.views.set(id, null);
  return true;
}
