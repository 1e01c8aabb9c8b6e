/**
 * @module cel — compile (cached) and evaluate CEL with limits. Every evaluation goes through `evaluate`,
 * which bounds it (time, steps, size), measures it and charges a `CelBudget` (a request, a view computation,
 * a waiter) and the room's `CelBucket` (cel_budget.ts). Expected outcomes (false, a missing key) are values
 * here; only a client's bad expression throws. `matches` is RE2 (cel_re2.ts); values convert in cel_values.ts.
 */
import { Environment } from "@marcbachmann/cel-js";
import { serialize } from "@marcbachmann/cel-js/serialize";
import { CEL_CACHE_MAX, CEL_MAX_BUILT, CEL_MAX_STEPS } from "./config.ts";
import { ApiError } from "./errors.ts";
import { type CelBucket, CelBudget, type CelLimitKind, celStats } from "./cel_budget.ts";
import { onRe2Scan, useRe2 } from "./cel_re2.ts";
import { fromCel, safeContext } from "./cel_values.ts";

// cel.ts is the one import for CEL: its budgets and value conversions are re-exported from their modules
export { CelBucket, CelBudget, type CelBudgetLimits, type CelLimitKind, celStats } from "./cel_budget.ts";
export { celKeys, type CelMap, celMap, celWith, fromCel, toCel } from "./cel_values.ts";

type AstNode = { op: string; args: unknown };
type Parsed = ((ctx?: Record<string, unknown>) => unknown) & {
  ast: AstNode;
  check(): { valid: boolean; error?: Error };
};

export type Program = { source: string; run: Parsed; paths: string[] };

export type CelResult =
  | { ok: true; value: unknown }
  | { ok: false; error: string; limit: false | CelLimitKind };

export type CelLimits = { maxLength: number; timeoutMs: number };

function limited(budget: CelBudget, kind: CelLimitKind, error: string): CelResult {
  budget.exhausted = true;
  celStats.limited[kind]++;
  return { ok: false, error, limit: kind };
}

/** The room's CEL time is spent (`running`: ms of an evaluation it just stopped, not yet charged). */
function roomSpent(budget: CelBudget, bucket: CelBucket, running = 0): CelResult {
  const rate = budget.limits.roomCelMsPerSec;
  const retry = bucket.refillMs(budget.limits, running);
  return limited(
    budget,
    "room",
    `this room spent its CEL time (${rate} ms per second); retry in ${retry} ms`,
  );
}

const env = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
  limits: {
    maxAstNodes: 2000,
    maxDepth: 64,
    maxListElements: 1000,
    maxMapEntries: 1000,
    maxCallArguments: 32,
  },
});

// Evaluation budget: the evaluator calls `run` once per AST node visit, comprehension steps included, so
// counting there bounds every expression (nested comprehensions over large lists included). `+` on strings
// and lists can double a value per step (cel.bind, chained maps): what it builds is counted too. (Module
// constants: the check below runs on every node visit.)
const MAX_STEPS = CEL_MAX_STEPS;
const MAX_BUILT = CEL_MAX_BUILT;
let steps = 0;
let built = 0;
let deadline = Infinity;
/** evaluations in progress (an expression reading `actions` evaluates the catalog's inside its own) */
let depth = 0;
class CelLimitError extends Error {}
onRe2Scan(() => {
  if (performance.now() > deadline) throw new CelLimitError("matches exceeded the evaluation limit");
});
(function instrumentEvaluator() {
  const probe = env.parse("1") as unknown as Parsed;
  const root = probe.ast as unknown as { evaluate: (ev: unknown, a: unknown, c: unknown) => unknown };
  const original = root.evaluate;
  let evaluator: { run: (ast: AstNode, ctx: unknown) => unknown } | undefined;
  root.evaluate = function (ev, a, c) {
    evaluator = ev as typeof evaluator;
    return original.call(this, ev, a, c);
  };
  probe({});
  root.evaluate = original;
  if (!evaluator) throw new Error("cel-js evaluator could not be instrumented");
  // comprehensions and `&&`/`||` absorb errors through tryEval; the limit must not be absorbed, or a nested
  // comprehension would keep iterating (and re-failing) long after its budget ran out
  type TryEval = (ast: AstNode, ctx: unknown) => unknown;
  const withTry = evaluator as unknown as { tryEval: TryEval };
  const tryEval = withTry.tryEval;
  withTry.tryEval = function (ast, ctx) {
    const r = tryEval.call(this, ast, ctx);
    if (r instanceof CelLimitError) throw r;
    return r;
  };
  evaluator.run = function (ast: AstNode, ctx: unknown) {
    if ((++steps & 1023) === 0 && (steps > MAX_STEPS || performance.now() > deadline)) {
      throw new CelLimitError("evaluation exceeded its cost limit");
    }
    const r = (ast as unknown as { evaluate: (ev: unknown, a: unknown, c: unknown) => unknown }).evaluate(
      this,
      ast,
      ctx,
    );
    if (ast.op === "+" && (typeof r === "string" || Array.isArray(r))) {
      built += r.length;
      if (built > MAX_BUILT) throw new CelLimitError("evaluation built values beyond its size limit");
    }
    return r;
  };
})();

const cache = new Map<string, Program>();

/** Compiles (and type-checks) an expression; `400 invalid_cel` / `cel_limit` naming `field` on error. */
export function compile(source: unknown, limits: CelLimits, field = "expression"): Program {
  if (typeof source !== "string" || source.trim() === "") {
    throw new ApiError("invalid_cel", `${field} must be a non-empty CEL string`, {
      field,
      expression: source,
    });
  }
  const hit = cache.get(source);
  if (hit) return hit;
  if (source.length > limits.maxLength) {
    throw new ApiError(
      "cel_limit",
      `${field} is ${source.length} characters; the limit is ${limits.maxLength}`,
      {
        field,
        limit: limits.maxLength,
      },
    );
  }
  let run: Parsed;
  try {
    run = env.parse(source) as unknown as Parsed;
  } catch (e) {
    throw new ApiError("invalid_cel", `${field} is not valid CEL: ${firstLine(e)}`, {
      field,
      expression: source,
      detail: firstLine(e),
    });
  }
  const checked = run.check();
  if (!checked.valid) {
    throw new ApiError("invalid_cel", `${field} does not type-check: ${firstLine(checked.error)}`, {
      field,
      expression: source,
      detail: firstLine(checked.error),
    });
  }
  useRe2(run.ast, field);
  const program = { source, run, paths: readPaths(run.ast) };
  if (cache.size >= CEL_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(source, program);
  return program;
}

/**
 * Evaluates within the per-expression limit (time and steps), what is left of `budget`, and the room's
 * bucket; measures the evaluation (performance.now() around it, nothing allocated) and charges both.
 * Returns the JSON-shaped value or the runtime error; `limit` names the CEL limit that refused or stopped it.
 */
export function evaluate(
  program: Program,
  ctx: Record<string, unknown>,
  budget: CelBudget,
  bucket?: CelBucket,
): CelResult {
  const t0 = performance.now();
  const left = budget.limitMs - budget.spent;
  if (left <= 0) {
    return limited(budget, "budget", `the ${budget.what}'s CEL budget of ${budget.limitMs} ms is spent`);
  }
  // the room's time bounds an evaluation like a budget does, except for one allowed to overdraw it (and
  // inside another evaluation, which the outer one's deadline already bounds)
  const room = bucket ? bucket.level(t0, budget.limits) : Infinity;
  const roomLeft = budget.overdraw || depth > 0 ? Infinity : room;
  if (roomLeft <= 0) return roomSpent(budget, bucket!);
  celStats.evaluations++;
  const allowed = Math.min(budget.timeoutMs, left, roomLeft);
  const outer = deadline;
  const outerSteps = steps;
  const outerBuilt = built;
  steps = 0;
  built = 0;
  deadline = Math.min(outer, t0 + allowed);
  depth++;
  try {
    return { ok: true, value: fromCel(program.run(safeContext(ctx))) };
  } catch (e) {
    if (e instanceof CelLimitError) {
      if (allowed === roomLeft && roomLeft < budget.timeoutMs) {
        return roomSpent(budget, bucket!, performance.now() - t0);
      }
      return allowed < budget.timeoutMs
        ? limited(
          budget,
          "budget",
          `evaluation stopped: the ${budget.what}'s CEL budget of ${budget.limitMs} ms is spent`,
        )
        : limited(
          budget,
          "expression",
          `evaluation exceeded the ${budget.timeoutMs} ms / ${MAX_STEPS} step limit`,
        );
    }
    return { ok: false, error: firstLine(e), limit: false };
  } finally {
    depth--;
    deadline = outer;
    steps = outerSteps;
    built = outerBuilt;
    // a nested evaluation's time is inside its outer one's: charged once, there
    if (depth === 0) {
      const ms = performance.now() - t0;
      budget.spent += ms;
      budget.last = ms;
      bucket?.spend(ms);
      celStats.seconds += ms / 1000;
    }
  }
}

/** The `400 cel_limit` for the caller's own expression; the budget remembers it for the penalty. */
export function celLimitError(
  program: Program,
  r: { error: string },
  budget: CelBudget,
  what = "expression",
): ApiError {
  budget.struck = true;
  return new ApiError(
    "cel_limit",
    `${what} ${quote(program.source)} exceeded the evaluation limit: ${r.error}`,
    {
      expression: program.source,
      detail: r.error,
    },
  );
}

/**
 * The caller's own expression (`/eval`, a wait condition, an invocation's `enabled`, `if`s and `expr`
 * values): `400 cel_limit` when a CEL limit stops it — or already stopped building its context (an entry
 * whose `enabled` the budget did not reach would be missing from it: a wrong answer, or a write decided on
 * it); other failures stay values.
 */
export function evaluateOrLimit(
  program: Program,
  ctx: Record<string, unknown>,
  budget: CelBudget,
  bucket?: CelBucket,
  what = "expression",
): CelResult {
  if (budget.exhausted) {
    const error =
      `its context could not be built within the ${budget.what}'s CEL budget of ${budget.limitMs} ms`;
    throw celLimitError(program, { error }, budget, what);
  }
  const r = evaluate(program, ctx, budget, bucket);
  if (!r.ok && r.limit) throw celLimitError(program, r, budget, what);
  return r;
}

/** Truthiness for predicates: only boolean true passes. */
export function isTrue(r: CelResult): boolean {
  return r.ok && r.value === true;
}

/** Evaluates each state/views path the expression reads, for explained refusals (`detail`). */
export function explainPaths(
  program: Program,
  ctx: Record<string, unknown>,
  budget: CelBudget,
  bucket?: CelBucket,
) {
  const out: Record<string, unknown> = {};
  for (const path of program.paths) {
    const sub = cache.get(path) ?? safeCompile(path);
    if (!sub) continue;
    const r = evaluate(sub, ctx, budget, bucket);
    out[path] = r.ok ? r.value : { missing: true, error: r.error };
  }
  return out;
}

function safeCompile(source: string): Program | undefined {
  try {
    return compile(source, { maxLength: 1 << 20, timeoutMs: 50 }, "path");
  } catch {
    return undefined;
  }
}

/** The maximal member chains rooted at `state` or `views` (e.g. `state._tasks[params.key].claimed_by`). */
function readPaths(root: AstNode): string[] {
  const found = new Set<string>();
  const isChain = (n: AstNode): boolean => {
    if (n.op === "id") return n.args === "state" || n.args === "views";
    if (n.op === "." || n.op === "[]") return isChain((n.args as AstNode[])[0]);
    return false;
  };
  const visit = (n: unknown, parentIsChain: boolean) => {
    if (!n || typeof n !== "object" || !("op" in n)) return;
    const node = n as AstNode;
    const chain = (node.op === "." || node.op === "[]") && isChain(node);
    if (chain && !parentIsChain) {
      try {
        found.add(serialize(node as never));
      } catch { /* a path we cannot print is simply not explained */ }
    }
    const args = node.args;
    if (Array.isArray(args)) args.forEach((a, i) => visit(a, chain && i === 0));
    else if (args && typeof args === "object") {
      for (const v of Object.values(args as Record<string, unknown>)) visit(v, false);
    }
  };
  visit(root, false);
  return [...found].slice(0, 20);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 77) + "…" : s);
}
