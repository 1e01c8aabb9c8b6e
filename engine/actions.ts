/**
 * @module engine/actions — custom actions: registration (every field validated up front, reference/api.md#custom-actions) and the
 * invocation steps 1–5 for one. Pure over the Tx: refusals throw ApiError and the Tx is dropped.
 */
import { z } from "zod";
import { type CelBudget, compile, evaluate, evaluateOrLimit, isTrue } from "../cel.ts";
import { ID_PATTERN } from "../config.ts";
import { ApiError } from "../errors.ts";
import { actionLiveness } from "./snapshot.ts";
import { startTimer, ticksRemaining, TimerSpec } from "../timers.ts";
import type { ActionDef, ParamSpec } from "./model.ts";
import { checkParamSchema, ParamsSchema, validateParams } from "./params.ts";
import { checkTemplate, checkWriteTemplate, resolveTemplate, type TemplateVars } from "./templates.ts";
import { checkExpiryWrites, type LeaseAuthor } from "./leases.ts";
import type { Tx } from "./tx.ts";
import { checkScopeName, checkValue } from "./write_checks.ts";
import { applyWrite, checkPredicate, type LeaseSpec, type WriteResult, WriteSpec } from "./write_modes.ts";
import { type Caller, isRoomToken } from "../auth.ts";
import type { ActionEyes } from "./action_ctx.ts";
import { checkTickOn } from "./privacy.ts";
import { checkDefinitionQuota } from "./quotas.ts";
import { ApprovalSchema, checkApproval } from "./approval.ts";

export const RegisterAction = z.strictObject({
  id: z.string().regex(ID_PATTERN, "id must be 1-128 characters of [A-Za-z0-9._:-]"),
  description: z.string().max(4000).optional(),
  params: ParamsSchema.optional(),
  writes: z.array(WriteSpec).max(50).optional(),
  if: z.string().optional(),
  enabled: z.string().optional(),
  scope: z.string().optional(),
  timer: TimerSpec.optional(),
  on_invoke: z.strictObject({ timer: TimerSpec }).optional(),
  approval: ApprovalSchema.optional(),
});

const celLimits = (tx: Tx) => ({ maxLength: tx.limits.maxCelLength, timeoutMs: tx.limits.celTimeoutMs });

/** The owner scope may be a private scope only for that agent itself or the room token. */
export function checkOwnerScope(caller: Caller, scope: string, what: string): void {
  checkScopeName(scope);
  if (
    scope.startsWith("_") || caller.kind === "admin" ||
    (caller.kind === "agent" && (caller.id === scope || caller.viaRoomToken))
  ) return;
  throw new ApiError(
    "scope_denied",
    `${what} with owner scope ${scope} can only be registered by ${scope} or the room token`,
    {
      scope,
    },
  );
}

/** Only the registrar or the room token may replace or delete. */
export function checkOwner(caller: Caller, registrar: string, what: string): void {
  if (
    caller.kind === "admin" || (caller.kind === "agent" && caller.viaRoomToken) || caller.id === registrar
  ) return;
  throw new ApiError(
    "not_owner",
    `${what} was registered by ${registrar}; only they or the room token may change it`,
    {
      registrar,
    },
  );
}

/** `field` names the definition in refusals (`params` of `_register_action`). */
export function registerAction(tx: Tx, raw: unknown, field = "params"): ActionDef {
  const p = RegisterAction.parse(raw);
  if (p.id.startsWith("_")) {
    throw new ApiError("invalid_id", `action ids starting with _ are reserved for builtins`, { field: "id" });
  }
  if (p.id === "help" && !isRoomToken(tx.caller)) {
    // help is what every participant calls first: a custom one speaks for the room, so only its token
    throw new ApiError("forbidden", "only the room token may register or replace help", { field: "id" });
  }
  const existing = tx.action(p.id);
  if (existing) checkOwner(tx.caller, existing.registrar, `action ${p.id}`);
  else checkDefinitionQuota(tx, "actions");
  const scope = p.scope ?? "_shared";
  checkOwnerScope(tx.caller, scope, `action ${p.id}`);
  const params = (p.params ?? {}) as Record<string, ParamSpec>;
  checkParamSchema(params, "params");
  if (p.if !== undefined) compile(p.if, celLimits(tx), "if");
  if (p.enabled !== undefined) compile(p.enabled, celLimits(tx), "enabled");
  const approval = p.approval && checkApproval(p.approval, celLimits(tx), "approval");
  const declared = new Set(Object.keys(params));
  (p.writes ?? []).forEach((w, i) => {
    const f = `writes[${i}]`;
    // an expired lease's templates are its own (other placeholders, substituted at expiry): checked apart
    const { lease, ...rest } = w;
    checkTemplate(
      typeof lease === "object" ? { ...rest, lease: { ttl_ms: lease.ttl_ms } } : w,
      f,
      declared,
    );
    checkWriteTemplate(w, f, celLimits(tx));
    if (typeof lease === "object") checkExpiryWrites(lease.on_expire, `${f}.lease`, tx.limits);
    if (w.timer) {
      // a literal tick_on is checked now; one with a template when it is resolved, at invocation
      if (!String(w.timer.tick_on ?? "").includes("${")) checkTickOn(tx.caller, w.timer, `${f}.timer`);
    }
  });
  const def: ActionDef = {
    id: p.id,
    description: p.description,
    params: p.params as Record<string, ParamSpec> | undefined,
    writes: p.writes as ActionDef["writes"],
    if: p.if,
    enabled: p.enabled,
    scope,
    timer: p.timer ? startTimer(p.timer, tx.now, (t) => tx.room.tick(t), "timer") : null,
    on_invoke: p.on_invoke as ActionDef["on_invoke"],
    registrar: tx.caller.id,
    created_at: tx.iso,
    cooldown: null,
    ...(approval ? { approval } : {}),
  };
  checkTickOn(tx.caller, def.timer, "timer");
  checkTickOn(tx.caller, def.on_invoke?.timer, "on_invoke.timer");
  checkValue(def, tx.limits, field, tx.limits.maxDefinitionBytes);
  if (def.timer?.tick_on) tx.newTicks.add(def.timer.tick_on);
  if (def.on_invoke?.timer && (def.on_invoke.timer as { tick_on?: string }).tick_on) {
    tx.newTicks.add((def.on_invoke.timer as { tick_on: string }).tick_on);
  }
  tx.actions.set(p.id, def);
  return def;
}

/** Step 1: expiry, dormancy and cooldown. */
export function checkActionLive(tx: Tx, a: ActionDef): void {
  const live = actionLiveness(tx.room, a, tx.now);
  if (live === "gone") throw new ApiError("action_expired", `action ${a.id} has expired`, { action: a.id });
  if (live === "live") return;
  const t = live === "cooldown" ? a.cooldown! : a.timer!;
  const remaining = ticksRemaining(t, (x) => tx.room.tick(x));
  throw new ApiError("action_cooldown", `action ${a.id} is in its cooldown period`, {
    action: a.id,
    ...(t.expires_at ? { available_at: t.expires_at } : {}),
    ...(remaining !== undefined ? { ticks_remaining: remaining } : {}),
  });
}

/** Where an action's expressions run: the room, the limits and the CEL budget (a Tx or a ReadCtx). */
type CelSite = { room: Tx["room"]; limits: Tx["limits"]; cel: CelBudget };

/**
 * An action's `enabled` for a listing: false when it does not hold, fails, or a CEL limit stopped it (the
 * budget then says so). `strict` (an invocation: the caller's own request) throws `400 cel_limit` instead.
 */
export function isActionEnabled(a: ActionDef, ctx: Record<string, unknown>, at: CelSite, strict = false) {
  if (!a.enabled) return true;
  let p;
  try {
    p = compile(
      a.enabled,
      { maxLength: at.limits.maxCelLength, timeoutMs: at.limits.celTimeoutMs },
      "enabled",
    );
  } catch {
    return false;
  }
  const r = strict
    ? evaluateOrLimit(p, ctx, at.cel, at.room.rt.celTime, `action ${a.id}'s enabled`)
    : evaluate(p, ctx, at.cel, at.room.rt.celTime);
  return r.ok && r.value === true;
}

/**
 * Steps 1–5 for a custom action, staging its writes and cooldown in the Tx. Every expression is evaluated
 * with `eyes` (the registrar's authority, action_ctx.ts), rebuilt per write so later writes see earlier;
 * refusals explain only what the invoker may read (`eyes.explain`).
 */
export function runCustomAction(
  tx: Tx,
  a: ActionDef,
  rawParams: Record<string, unknown>,
  eyes: ActionEyes,
): WriteResult[] {
  checkActionLive(tx, a);
  if (a.enabled && !isActionEnabled(a, eyes.ctx({}), tx, true)) {
    throw new ApiError("action_disabled", `action ${a.id} is disabled right now`, {
      action: a.id,
      enabled: a.enabled,
    });
  }
  const params = validateParams(a.params, rawParams);
  if (a.if) checkPredicate(a.if, eyes.ctx(params), tx, "if", () => eyes.explain(params));
  const vars = { self: tx.caller.id, now: tx.iso, params };
  const how: TemplateRun = {
    ctx: () => eyes.ctx(params),
    explain: () => eyes.explain(params),
    registrar: eyes.registrar,
    canWrite: (scope) => canActionWrite(tx.caller, a.scope, scope),
    what: `action ${a.id}`,
    author: { by: a.registrar, owner: a.scope },
  };
  const results: WriteResult[] = [];
  (a.writes ?? []).forEach((tmpl, i) => {
    const r = applyTemplate(tx, tmpl, `writes[${i}]`, vars, how);
    if (r) results.push(r);
  });
  if (a.on_invoke?.timer) {
    const cooldown = startTimer(a.on_invoke.timer, tx.now, (t) => tx.room.tick(t), "on_invoke.timer");
    tx.actions.set(a.id, { ...a, cooldown });
  }
  return results;
}

/** How a write template runs: whose expressions, which scopes it may write, who set any lease it takes. */
export type TemplateRun = {
  /** the CEL context of its `if` and `expr` (rebuilt per call: later writes see earlier ones) */
  ctx(): Record<string, unknown>;
  /** the invoker's own context when `ctx` shows more (refusals explain from it), else undefined */
  explain(): Record<string, unknown> | undefined;
  /** whose authority the expressions read with (a `tick_on` must be readable by it) */
  registrar: Caller;
  canWrite(scope: string): boolean;
  /** names the writer in refusals ("action take", "the expired lease of _tasks.7") */
  what: string;
  /** who set a lease the write takes (its expiry writes run with that authority) */
  author?: LeaseAuthor;
  /** an `if` that does not hold skips the write instead of refusing (an expiry is selected, not refused) */
  ifSelects?: boolean;
};

/**
 * One write template (reference/api.md#custom-actions, invocation steps 4–5): placeholders substituted (a lease's own `on_expire` left as
 * written: it is substituted when the lease lapses), an `expr` value computed, authority checked, then
 * applied like any write. Undefined when `ifSelects` skipped it.
 */
export function applyTemplate(
  tx: Tx,
  tmpl: Record<string, unknown>,
  field: string,
  vars: TemplateVars,
  how: TemplateRun,
): WriteResult | undefined {
  const { expr, lease, ...rest } = tmpl;
  const resolved = resolveTemplate(expr ? { ...rest, value: undefined } : rest, vars) as Record<
    string,
    unknown
  >;
  if (lease !== undefined) {
    const l = lease as Exclude<LeaseSpec, true> | true;
    resolved.lease = l === true ? true : { ...l, ...(resolveTemplate({ ttl_ms: l.ttl_ms }, vars) as object) };
  }
  if (how.ifSelects && typeof resolved.if === "string") {
    const p = compile(resolved.if, celLimitsOf(tx), `${field}.if`);
    const r = evaluate(p, how.ctx(), tx.cel, tx.room.rt.celTime);
    if (!isTrue(r)) return undefined;
    delete resolved.if;
  }
  if (expr) {
    const p = compile(tmpl.value as string, celLimitsOf(tx), `${field}.value`);
    const r = evaluateOrLimit(p, how.ctx(), tx.cel, tx.room.rt.celTime, `${field}.value`);
    if (!r.ok) {
      // the error text can quote values the registrar reads and the invoker may not
      const why = how.explain() ? "it failed at run time" : r.error;
      throw new ApiError("precondition_failed", `${field}.value could not be computed: ${why}`, {
        expression: tmpl.value,
        field: `${field}.value`,
      });
    }
    resolved.value = r.value;
  }
  const spec = WriteSpec.parse(resolved);
  const scope = String(spec.scope);
  if (!how.canWrite(scope)) {
    throw new ApiError("scope_denied", `${how.what} may not write scope ${scope}`, { scope, field });
  }
  if (scope === "_messages") checkMessageFrom(tx.caller, spec.value, `${field}.value.from`);
  checkTickOn(how.registrar, spec.timer, `${field}.timer`);
  spec.increment = numeric(spec.increment, `${field}.increment`);
  spec.if_epoch = numeric(spec.if_epoch, `${field}.if_epoch`);
  return applyWrite(tx, spec, scope, how.ctx, field, how.explain, how.author);
}

/** A templated number (`"${params.n}"` of a string param) as a number: `400 invalid_params` if it is not one. */
function numeric<T>(v: T, field: string): T | number {
  if (typeof v !== "string") return v;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new ApiError("invalid_params", `${field} resolved to ${JSON.stringify(v)}, which is not a number`, {
      field,
    });
  }
  return n;
}

const celLimitsOf = (tx: Tx) => ({ maxLength: tx.limits.maxCelLength, timeoutMs: tx.limits.celTimeoutMs });

/**
 * A custom action's message speaks for its invoker: `from` is the invoker's id (the default when absent);
 * naming anyone else is `403 identity_mismatch`, whoever registered or invokes the action.
 */
function checkMessageFrom(invoker: Caller, value: unknown, field: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const from = (value as Record<string, unknown>).from;
  if (from === undefined || from === null || from === invoker.id) return;
  throw new ApiError(
    "identity_mismatch",
    `${field} is ${JSON.stringify(from)}: a message an action sends is from its invoker, ${invoker.id}`,
    { field, authenticated_as: invoker.id, claimed: from },
  );
}

/** Step 5: system scopes except `_audit`, the owner scope, the invoker's own scope. */
export function canActionWrite(caller: Caller, owner: string, scope: string): boolean {
  if (scope === "_audit") return false;
  if (scope.startsWith("_")) return true;
  return scope === owner || scope === caller.id;
}
