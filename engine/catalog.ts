/**
 * @module engine/catalog — the actions a caller sees (`/actions`, `/context`, CEL `actions`): builtins (a
 * custom `help` replaces the builtin) and custom actions with availability for that caller (their `enabled`
 * and `if` read with the registrar's authority, as at invocation: action_ctx.ts) and cooldown state.
 */
import { type CelMap, celMap, compile, evaluate } from "../cel.ts";
import { ticksRemaining } from "../timers.ts";
import { isActionEnabled } from "./actions.ts";
import { BUILTINS } from "./builtins.ts";
import { actionContext } from "./action_ctx.ts";
import type { ReadCtx } from "./context.ts";
import type { ActionDef } from "./model.ts";
import { seesHidden } from "./privacy.ts";
import { actionLiveness } from "./snapshot.ts";

export type ActionSummary = Record<string, unknown> & { id: string; available: boolean; enabled: boolean };

/**
 * Custom actions first, then builtins. `forContext`: the `/context` listing, which hides dormant and cooling-down actions; otherwise every
 * action that has not expired, with `cooldown` state.
 */
export function actionCatalog(rc: ReadCtx, forContext: boolean): ActionSummary[] {
  const out: ActionSummary[] = [];
  const canInvoke = rc.caller.kind !== "viewer";
  // actions of one registrar and owner scope read the same: one context for all of them
  const contexts = new Map<string, Record<string, unknown>>();
  for (const a of rc.room.actions.values()) {
    const live = actionLiveness(rc.room, a, rc.now);
    if (live === "gone" || (forContext && live !== "live")) continue;
    const key = `${a.registrar}\u0000${a.scope}`;
    let ctx = contexts.get(key);
    if (!ctx) contexts.set(key, ctx = actionContext(rc, a));
    const enabled = isActionEnabled(a, { ...ctx, params: {} }, rc);
    if (forContext && !enabled) continue;
    const summary: ActionSummary = {
      id: a.id,
      available: canInvoke && live === "live" && enabled && predicateMayPass(a, ctx, rc),
      enabled,
      description: a.description,
      params: a.params ?? {},
      writes: a.writes ?? [],
      ...(a.if ? { if: a.if } : {}),
      // why an action is disabled: its condition, for those who oversee the room
      ...(a.enabled && seesHidden(rc.caller) ? { enabled_expr: a.enabled } : {}),
      ...(a.approval ? { approval: a.approval } : {}),
      scope: a.scope,
      registrar: a.registrar,
    };
    if (live !== "live") {
      const t = live === "cooldown" ? a.cooldown! : a.timer!;
      summary.cooldown = {
        ...(t.expires_at ? { available_at: t.expires_at } : {}),
        ...(t.tick_on ? { ticks_remaining: ticksRemaining(t, (x) => rc.room.tick(x)) } : {}),
      };
    }
    out.push(summary);
  }
  // the room's own actions first: they are what an agent loop is there to use (seed 000's loop picks [0])
  for (const [id, b] of Object.entries(BUILTINS)) {
    if (id === "help" && rc.room.actions.has("help")) continue;
    out.push({
      id,
      available: canInvoke && (!b.roomTokenOnly || rc.caller.kind === "admin"),
      enabled: true,
      builtin: true,
      description: b.description,
      params: b.params,
    });
  }
  return out;
}

/**
 * `available`: the `if` holds with default params; when it can only be judged with params (it fails on a
 * param that was not given), the action counts as available.
 */
function predicateMayPass(a: ActionDef, ctx: Record<string, unknown>, rc: ReadCtx): boolean {
  if (!a.if) return true;
  const defaults: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(a.params ?? {})) if (s.default !== undefined) defaults[k] = s.default;
  try {
    const p = compile(a.if, { maxLength: rc.limits.maxCelLength, timeoutMs: rc.limits.celTimeoutMs }, "if");
    const r = evaluate(p, { ...ctx, params: defaults }, rc.cel, rc.room.rt.celTime);
    if (!r.ok && r.limit) return false; // out of CEL time: unavailable (the response says the budget ran out)
    if (r.ok) return r.value === true;
    const missingParams = Object.keys(a.params ?? {}).some((k) => !Object.hasOwn(defaults, k));
    return missingParams && /params/.test(a.if);
  } catch {
    return false;
  }
}

/** Adds `actions` (availability for the caller) to a CEL context, computed only if the expression reads it. */
export function withActions(ctx: Record<string, unknown>, rc: ReadCtx): Record<string, unknown> {
  let built: CelMap | undefined;
  Object.defineProperty(ctx, "actions", {
    enumerable: true,
    get() {
      if (!built) {
        const byId: Record<string, unknown> = {};
        for (const a of actionCatalog(rc, false)) {
          byId[a.id] = { available: a.available, enabled: a.enabled };
        }
        built = celMap(byId);
      }
      return built;
    },
  });
  return ctx;
}

/** The `/context` actions section: what the caller can use now, by id. */
export function jsonActions(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of actionCatalog(rc, true)) {
    const { id, ...rest } = a;
    out[id] = rest;
  }
  return out;
}
