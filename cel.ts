/**
 * @module cel — compile (cached) and evaluate CEL with limits, and convert between JSON and CEL values.
 * Expected outcomes (false, a missing key) are values here; only a client's bad expression throws.
 */
import { Environment } from "@marcbachmann/cel-js";
import { serialize } from "@marcbachmann/cel-js/serialize";
import { CEL_CACHE_MAX, CEL_MAX_BUILT, CEL_MAX_STEPS } from "./config.ts";
import { ApiError } from "./errors.ts";

type AstNode = { op: string; args: unknown };
type Parsed = ((ctx?: Record<string, unknown>) => unknown) & {
  ast: AstNode;
  check(): { valid: boolean; error?: Error };
};

export type Program = { source: string; run: Parsed; paths: string[] };

export type CelResult =
  | { ok: true; value: unknown }
  | { ok: false; error: string; limit: boolean };

export type CelLimits = { maxLength: number; timeoutMs: number };

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
class CelLimitError extends Error {}
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
  const program = { source, run, paths: readPaths(run.ast) };
  if (cache.size >= CEL_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(source, program);
  return program;
}

/** Evaluates with the step and time budget; returns the JSON-shaped value or the runtime error. */
export function evaluate(program: Program, ctx: Record<string, unknown>, timeoutMs: number): CelResult {
  const outer = deadline;
  const outerSteps = steps;
  const outerBuilt = built;
  steps = 0;
  built = 0;
  deadline = Math.min(outer, performance.now() + timeoutMs);
  try {
    return { ok: true, value: fromCel(program.run(safeContext(ctx))) };
  } catch (e) {
    if (e instanceof CelLimitError) {
      return {
        ok: false,
        error: `evaluation exceeded the ${timeoutMs} ms / ${MAX_STEPS} step limit`,
        limit: true,
      };
    }
    return { ok: false, error: firstLine(e), limit: false };
  } finally {
    deadline = outer;
    steps = outerSteps;
    built = outerBuilt;
  }
}

/** Evaluates and throws `400 cel_limit` when the budget is exceeded; other failures stay values. */
export function evaluateOrLimit(
  program: Program,
  ctx: Record<string, unknown>,
  timeoutMs: number,
): CelResult {
  const r = evaluate(program, ctx, timeoutMs);
  if (!r.ok && r.limit) {
    throw new ApiError("cel_limit", `expression ${quote(program.source)} exceeded the evaluation limit`, {
      expression: program.source,
      detail: r.error,
    });
  }
  return r;
}

/** Truthiness for predicates: only boolean true passes. */
export function isTrue(r: CelResult): boolean {
  return r.ok && r.value === true;
}

/** A map as CEL gets it: a plain object, or a Map when one of its keys is "constructor" (see celMap). */
export type CelMap = Record<string, unknown> | Map<string, unknown>;

/**
 * cel-js tells a map from other objects by its `constructor` property, which an own key of that name hides
 * ("Unsupported type"): such an object goes to CEL as a Map. Every map built for CEL (scopes, agents,
 * actions, converted values; the context's state, views and params at evaluation) passes here.
 */
export function celMap(o: Record<string, unknown>): CelMap {
  return Object.hasOwn(o, "constructor") ? new Map(Object.entries(o)) : o;
}

/** A copy of a CEL map with `key` set to `value`, or removed when `value` is undefined. */
export function celWith(m: CelMap, key: string, value: unknown): CelMap {
  if (m instanceof Map) {
    const copy = new Map(m);
    if (value === undefined) copy.delete(key);
    else copy.set(key, value);
    return copy;
  }
  const copy = { ...m };
  if (value === undefined) delete copy[key];
  else copy[key] = value;
  return celMap(copy);
}

/** The keys of a CEL map. */
export function celKeys(m: CelMap): string[] {
  return m instanceof Map ? [...m.keys()] : Object.keys(m);
}

/** The maps of an evaluation context keyed by names a client chooses (state, views, params), made CEL-safe. */
const NAMED_MAPS = ["state", "views", "params"] as const;
function safeContext(ctx: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const name of NAMED_MAPS) {
    const m = ctx[name];
    if (m === null || typeof m !== "object" || m instanceof Map || !Object.hasOwn(m, "constructor")) continue;
    // copy the descriptors: lazily built members (agents, actions) stay lazy
    out ??= Object.defineProperties({}, Object.getOwnPropertyDescriptors(ctx));
    out[name] = celMap(m as Record<string, unknown>);
  }
  return out ?? ctx;
}

/** A container being filled in by `copyDeep`. */
type Shell = unknown[] | CelMap;

/**
 * The walk both conversions share, with an explicit stack (a value stored before the nesting limit existed
 * may be deeper than the call stack allows): `member(x, fill)` says what `x` becomes — a value, or an
 * empty container handed to `fill`, which copies x's members into it (each through `member`) later.
 */
function copyDeep(v: unknown, member: (x: unknown, fill: (src: object, out: Shell) => Shell) => unknown) {
  const work: [object, Shell][] = [];
  const fill = (src: object, out: Shell) => (work.push([src, out]), out);
  const root = member(v, fill);
  for (let job = work.pop(); job; job = work.pop()) {
    const [src, out] = job;
    if (Array.isArray(src)) { for (const x of src) (out as unknown[]).push(member(x, fill)); }
    else if (src instanceof Map) { for (const [k, x] of src) put(out, String(k), member(x, fill)); }
    else {
      const o = src as Record<string, unknown>;
      for (const k in o) if (Object.hasOwn(o, k)) put(out, k, member(o[k], fill));
    }
  }
  return root;
}

function put(out: Shell, k: string, v: unknown): void {
  if (out instanceof Map) out.set(k, v);
  else (out as Record<string, unknown>)[k] = v;
}

/**
 * JSON → CEL: integral numbers become int (BigInt) so `turn + 1` works; an object with a key "constructor"
 * becomes a Map (celMap). Iterative (copyDeep).
 */
export function toCel(v: unknown): unknown {
  if (v === null || typeof v !== "object") return celLeaf(v);
  return copyDeep(v, (x, fill) => {
    if (x === null || typeof x !== "object") return celLeaf(x);
    return fill(x, Array.isArray(x) ? [] : Object.hasOwn(x, "constructor") ? new Map() : {});
  });
}

function celLeaf(v: unknown): unknown {
  return typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v;
}

/** CEL → JSON: ints back to numbers, maps to objects, other library types to strings. Iterative (copyDeep). */
export function fromCel(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v === null || typeof v !== "object") return v;
  return copyDeep(v, (x, fill) => {
    if (typeof x === "bigint") return Number(x);
    if (x === null || typeof x !== "object") return x;
    if (Array.isArray(x)) return fill(x, []);
    if (x instanceof Map) return fill(x, {});
    if (x instanceof Uint8Array) return Array.from(x);
    const proto = Object.getPrototypeOf(x);
    return proto === Object.prototype || proto === null ? fill(x, {}) : libraryValue(x);
  });
}

/** A value of one of cel-js's own types (timestamp, uint, duration, …) as JSON. */
function libraryValue(v: object): unknown {
  if (v instanceof Date) return v.toISOString();
  if ("valueOf" in v && typeof (v as { valueOf(): unknown }).valueOf() === "bigint") {
    return Number((v as { valueOf(): bigint }).valueOf());
  }
  return String(v);
}

/** Evaluates each state/views path the expression reads, for explained refusals (`detail`). */
export function explainPaths(program: Program, ctx: Record<string, unknown>, timeoutMs: number) {
  const out: Record<string, unknown> = {};
  for (const path of program.paths) {
    const sub = cache.get(path) ?? safeCompile(path);
    if (!sub) continue;
    const r = evaluate(sub, ctx, timeoutMs);
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
