/**
 * @module engine/write_modes — one state write with every `_set_state` mode (reference/api.md#_set_state): value, merge,
 * increment, append (log row or array push), `if`, `if_version`, timer, enabled, public. Used by the
 * builtins and by custom action templates alike; authority is checked by the caller of `applyWrite`.
 */
import { z } from "zod";
import { compile, evaluateOrLimit, explainPaths } from "../cel.ts";
import { ApiError } from "../errors.ts";
import { startTimer } from "../timers.ts";
import type { Entry } from "./model.ts";
import type { Tx } from "./tx.ts";
import { appendMessage } from "./message_writes.ts";
import { checkKey, checkScopeName, checkValue } from "./write_checks.ts";
import { canReadScope, visibleDetail } from "./privacy.ts";
import {
  checkFence,
  epochOf,
  type LeaseAuthor,
  leaseTerms,
  type LeaseView,
  leaseView,
  stageLease,
} from "./leases.ts";

const WriteFields = {
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]).optional(),
  value: z.unknown().optional(),
  merge: z.record(z.string(), z.unknown()).optional(),
  increment: z.union([z.boolean(), z.number(), z.string()]).optional(),
  append: z.boolean().optional(),
  delete: z.literal(true).optional().describe("remove the entry (no value)"),
  if: z.string().optional(),
  if_version: z.number().int().min(0).optional(),
  timer: z.record(z.string(), z.unknown()).nullable().optional(),
  enabled: z.string().nullable().optional(),
  expr: z.boolean().optional(),
};
/** A write an expired lease makes (`on_expire`): a write of its own scope, without lease or fencing. */
export const ExpiryWrite = z.strictObject({ ...WriteFields, scope: z.string() });
/** `lease: true` (the room's window) or `{ttl_ms, on_expire}`; a template's `ttl_ms` may be `${params.x}`. */
export const LeaseSpec = z.union([
  z.literal(true),
  z.strictObject({
    ttl_ms: z.union([z.number(), z.string()]).optional().describe("ms past the holder's last sign of life"),
    on_expire: z.union([z.literal("delete"), z.array(ExpiryWrite).max(20)]).optional()
      .describe('"delete" (default), or writes with ${holder}, ${scope}, ${key}, ${epoch}, ${now}'),
  }),
]);
export type LeaseSpec = z.infer<typeof LeaseSpec>;
export const WriteSpec = z.strictObject({
  ...WriteFields,
  public: z.boolean().optional(),
  lease: LeaseSpec.optional().describe("hold the entry: others' writes are 409 lease_held while it lasts"),
  if_epoch: z.union([z.number().int().min(0), z.string()]).optional()
    .describe("fencing: the entry's live lease must have this epoch (else 409 lease_lost)"),
});
export type WriteSpec = z.infer<typeof WriteSpec>;

export type WriteResult = {
  scope: string;
  key: string;
  value: unknown;
  version: number;
  deleted?: boolean;
  /** the entry's lease when the writer holds it (taken or renewed by this write) */
  lease?: LeaseView;
};

/**
 * Evaluates `if` for a write or batch: false or a runtime error is `409 precondition_failed`. `explain`,
 * asked only on a refusal, gives the invoker's own context when `ctx` shows more than the invoker may read:
 * the refusal is then explained from it.
 */
export function checkPredicate(
  source: string,
  ctx: Record<string, unknown>,
  tx: Tx,
  field = "if",
  explain?: () => Record<string, unknown> | undefined,
): void {
  const program = compile(
    source,
    { maxLength: tx.limits.maxCelLength, timeoutMs: tx.limits.celTimeoutMs },
    field,
  );
  const r = evaluateOrLimit(program, ctx, tx.cel, tx.room.rt.celTime);
  if (r.ok && r.value === true) return;
  const own = explain?.();
  const explainCtx = own ?? ctx;
  // a runtime error message can quote values (e.g. "No such key: <value>"): hidden when the predicate saw
  // a scope the invoker may not read
  const runtimeError = r.ok ? undefined : own ? "the condition failed at run time" : r.error;
  throw new ApiError(
    "precondition_failed",
    `the ${field} condition ${JSON.stringify(source)} is not satisfied`,
    {
      expression: source,
      evaluated: r.ok && typeof r.value === "boolean" ? r.value : null,
      ...(r.ok ? {} : { runtime_error: runtimeError }),
      // values the invoker may read only: a scope only the action's registrar reads is not explained
      detail: visibleDetail(tx.caller, explainPaths(program, explainCtx, tx.cel, tx.room.rt.celTime)),
    },
  );
}

function toNumber(v: unknown, field: string): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new ApiError("invalid_body", `${field} must be numeric, got ${JSON.stringify(v)}`, { field });
  }
  return n;
}

/**
 * Applies one write to the Tx. `ctx` is the CEL context for `if` (evaluated before the write, seeing the
 * writes staged earlier in the same invocation); `explainCtx`, when it gives one, is what a refusal may
 * explain from (the invoker's own context, when `ctx` shows more than the invoker may read).
 */
export function applyWrite(
  tx: Tx,
  w: WriteSpec,
  scope: string,
  ctx: () => Record<string, unknown>,
  field: string,
  explainCtx?: () => Record<string, unknown> | undefined,
  author?: LeaseAuthor,
): WriteResult {
  checkScopeName(scope, `${field}.scope`);
  if (w.if !== undefined) {
    checkPredicate(w.if, ctx(), tx, `${field}.if`, explainCtx);
  }
  const readable = canReadScope(tx.caller, scope);
  if (scope === "_messages") {
    if (w.lease !== undefined || w.if_epoch !== undefined) {
      throw new ApiError(
        "invalid_body",
        `${field}: a message is leased by claiming it (_claim_message), not by appending it`,
        { field: `${field}.${w.lease !== undefined ? "lease" : "if_epoch"}` },
      );
    }
    return appendMessage(tx, w, field);
  }
  const modes = [
    w.merge !== undefined,
    w.increment !== undefined && w.increment !== false,
    w.append === true,
    w.delete === true,
  ].filter(Boolean).length;
  if (modes > 1) {
    throw new ApiError("invalid_body", `${field} may use only one of merge, increment, append and delete`, {
      field,
    });
  }
  if (w.delete && (w.value !== undefined || w.lease !== undefined)) {
    throw new ApiError("invalid_body", `${field}: delete takes no value and no lease`, { field });
  }
  let key: string;
  let sortKey: number | null = null;
  if (w.append && w.key === undefined) {
    sortKey = tx.nextAppendSeq(scope);
    key = String(sortKey);
  } else key = checkKey(w.key, `${field}.key`);
  const cur = tx.get(scope, key);
  const terms = leaseTerms(tx, w.lease, field, author);
  const held = checkFence(tx, scope, key, epochOf(w.if_epoch, `${field}.if_epoch`), readable);
  if (w.if_version !== undefined && (cur?.version ?? 0) !== w.if_version) {
    throw new ApiError(
      "version_conflict",
      `${scope}.${key} is at version ${cur?.version ?? 0}, not ${w.if_version}`,
      {
        expected_version: w.if_version,
        current: cur ? (readable ? entryJson(cur) : { scope, key, version: cur.version }) : null,
      },
    );
  }
  if (w.delete) {
    if (cur) tx.delete(scope, key);
    return { scope, key, value: null, version: cur?.version ?? 0, deleted: cur !== undefined };
  }
  let value: unknown;
  if (w.merge !== undefined) {
    const base = cur && cur.value !== null && typeof cur.value === "object" && !Array.isArray(cur.value)
      ? cur.value as Record<string, unknown>
      : {};
    value = { ...base, ...w.merge };
  } else if (w.increment !== undefined && w.increment !== false) {
    const delta = w.increment === true
      ? (w.value === undefined ? 1 : toNumber(w.value, `${field}.value`))
      : toNumber(w.increment, `${field}.increment`);
    const base = cur === undefined ? 0 : cur.value;
    if (typeof base !== "number") {
      const shown = readable ? JSON.stringify(base) : `a ${base === null ? "null" : typeof base}`;
      throw new ApiError("invalid_body", `${scope}.${key} holds ${shown}, which cannot be incremented`, {
        field,
      });
    }
    value = base + delta;
    if (!Number.isFinite(value)) {
      throw new ApiError("invalid_body", `${scope}.${key} + ${delta} is out of the double range`, {
        field: `${field}.increment`,
      });
    }
  } else if (w.append && w.key !== undefined) {
    const base = cur === undefined ? [] : Array.isArray(cur.value) ? cur.value : [cur.value];
    value = [...base, w.value ?? null];
  } else {
    if (w.value === undefined) {
      throw new ApiError("invalid_body", `${field}.value is required (or use merge, increment or append)`, {
        field: `${field}.value`,
      });
    }
    value = w.value;
  }
  const bytes = checkValue(value, tx.limits, `${field}.value`);
  let enabled = cur?.enabled ?? null;
  if (w.enabled !== undefined) {
    if (w.enabled !== null) {
      compile(
        w.enabled,
        { maxLength: tx.limits.maxCelLength, timeoutMs: tx.limits.celTimeoutMs },
        `${field}.enabled`,
      );
    }
    enabled = w.enabled;
  }
  let timer = cur?.timer ?? null;
  if (w.timer !== undefined) {
    timer = w.timer === null ? null : startTimer(w.timer, tx.now, (t) => tx.room.tick(t), `${field}.timer`);
    if (timer?.tick_on) tx.newTicks.add(timer.tick_on);
  }
  const entry: Entry = {
    scope,
    key,
    value,
    version: (cur?.version ?? 0) + 1,
    updated_at: tx.iso,
    timer,
    enabled,
    sort_key: sortKey ?? cur?.sort_key ?? null,
    seq: 0,
    bytes,
  };
  tx.put(entry);
  const lease = stageLease(tx, scope, key, held, terms);
  const out: WriteResult = { scope, key, value, version: entry.version };
  if (lease) out.lease = leaseView(tx.room, lease, tx.now);
  return out;
}

/** A state row as `/state` and `/poll` show it. */
export function entryJson(e: Entry): Record<string, unknown> {
  return {
    scope: e.scope,
    key: e.key,
    value: e.value,
    version: e.version,
    updated_at: e.updated_at,
    timer: e.timer,
    enabled: e.enabled,
    sort_key: e.sort_key,
  };
}
