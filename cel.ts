/**
 * @module cel — compile (cached) and evaluate CEL with limits, and convert between JSON and CEL values.
 * Every evaluation goes through `evaluate`, which measures it and charges a `CelBudget` (a request, a view
 * computation, a waiter) and the room's `CelBucket`. Expected outcomes (false, a missing key) are values
 * here; only a client's bad expression throws. `matches` is RE2 (linear time, interruptible).
 */
import { Environment } from "@marcbachmann/cel-js";
import { serialize } from "@marcbachmann/cel-js/serialize";
import { RE2JS } from "re2js";
import {
  CEL_CACHE_MAX,
  CEL_MAX_BUILT,
  CEL_MAX_PATTERN_LENGTH,
  CEL_MAX_STEPS,
  CEL_PATTERN_CACHE_MAX,
  CEL_PATTERN_DFA_BYTES,
} from "./config.ts";
import { ApiError } from "./errors.ts";

type AstNode = { op: string; args: unknown };
type Parsed = ((ctx?: Record<string, unknown>) => unknown) & {
  ast: AstNode;
  check(): { valid: boolean; error?: Error };
};

export type Program = { source: string; run: Parsed; paths: string[] };

/** Which CEL limit stopped an evaluation: its own (time, steps, size), its budget's, or the room's time. */
export type CelLimitKind = "expression" | "budget" | "room";

export type CelResult =
  | { ok: true; value: unknown }
  | { ok: false; error: string; limit: false | CelLimitKind };

export type CelLimits = { maxLength: number; timeoutMs: number };

/** The limits a budget is made of (config.ts `Limits` has them). */
export type CelBudgetLimits = { celTimeoutMs: number; celRequestMs: number; roomCelMsPerSec: number };

/**
 * What one unit of work may spend on CEL and what it spent (ms of measured evaluation): one request (its
 * `Op` carries it), one view computation, one waiter. One object per unit, nothing per evaluation.
 */
export class CelBudget {
  /** ms of evaluation charged so far */
  spent = 0;
  /** ms of the last evaluation charged (a waiter's cost) */
  last = 0;
  /** evaluations past it fail fast as `cel_limit` */
  limitMs: number;
  /** a CEL limit refused or cut off an evaluation: a listing that depended on it is incomplete */
  exhausted = false;
  /** the caller's own expression was answered `cel_limit` (the rate limiter's penalty counts it) */
  struck = false;
  /** the room's bucket does not refuse or cut it off (a cheap waiter's re-evaluation); it is still charged */
  overdraw = false;
  readonly timeoutMs: number;
  readonly limits: CelBudgetLimits;
  /** whose budget, for messages: "request", "views", … */
  readonly what: string;

  constructor(limits: CelBudgetLimits, what = "request", limitMs = limits.celRequestMs) {
    this.limitMs = limitMs;
    this.timeoutMs = limits.celTimeoutMs;
    this.limits = limits;
    this.what = what;
  }
}

/**
 * A room's CEL time: a bucket refilled at SYNC_ROOM_CEL_MS_PER_SEC, spent by every evaluation in the room
 * and bounding each (an evaluation may use what the bucket holds). It holds at most one request's budget
 * (or one second's worth, if less): however many of a room's requests arrive together, the room keeps the
 * thread for at most that long at a time. Once empty, the room's evaluations fail fast until it refills,
 * so one room cannot take the thread from the others. On the room's runtime; two numbers.
 */
export class CelBucket {
  #level = NaN;
  #at = 0;

  /** ms of CEL the room may still spend at `now` (performance.now()); Infinity when unbounded. */
  level(now: number, limits: CelBudgetLimits): number {
    const rate = limits.roomCelMsPerSec;
    if (!(rate > 0)) return Infinity;
    const burst = Math.min(rate, limits.celRequestMs);
    this.#level = Number.isNaN(this.#level)
      ? burst
      : Math.min(burst, this.#level + ((now - this.#at) * rate) / 1000);
    this.#at = now;
    return this.#level;
  }

  spend(ms: number): void {
    this.#level -= ms;
  }

  /** ms until the bucket holds time again, `pending` ms more spent. */
  refillMs(limits: CelBudgetLimits, pending = 0): number {
    const rate = limits.roomCelMsPerSec;
    const level = this.#level - pending;
    return !(level < 0) || !(rate > 0) ? 0 : Math.ceil((-level * 1000) / rate) + 1;
  }
}

/** This process's CEL work, for `/metrics`: evaluations, measured seconds, and refusals by limit. */
export const celStats = {
  evaluations: 0,
  seconds: 0,
  limited: { expression: 0, budget: 0, room: 0 } as Record<CelLimitKind, number>,
};

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

// ── matches: RE2 ──────────────────────────────────────────────────────────────────────────────────
// cel-js implements `string.matches` with JS RegExp (backtracking: `(a+)+$` never ends). CEL specifies RE2:
// after type-checking, every `matches` call node of a program gets a handler that runs re2js instead.
// re2js is linear in input × pattern, which is still seconds for 256 KB against a large pattern when its
// DFA gives up, so the input it reads is wrapped to check the evaluation's deadline every 256 characters
// (every engine of re2js reads its input through `step`).

type MachineInput = { step(pos: number): number };
type Re2Engine = {
  executeEngine(input: MachineInput, pos: number, anchor: number, ncap: number): unknown;
  prog: unknown;
  lazyDFA: unknown;
  dfa: object;
};
const UNANCHORED = 0; // re2js RE2Flags.UNANCHORED: `matches` is a search, as RE2::PartialMatch
// the classes of re2js's string input and of its DFA are not exported: taken from a probe
const { InputBase, DfaClass } = (function probeRe2() {
  const probe = RE2JS.compile("a");
  const re = probe.re2Input as unknown as Re2Engine;
  let input: MachineInput | undefined;
  const own = re.executeEngine;
  re.executeEngine = function (this: Re2Engine, i, ...rest) {
    input = i;
    return own.call(this, i, ...rest);
  };
  probe.test("xa");
  if (!input) throw new Error("re2js input could not be probed");
  return {
    InputBase: input.constructor as new (s: string) => MachineInput,
    DfaClass: re.dfa.constructor as new (prog: unknown, maxMem: number) => unknown,
  };
})();
let scanned = 0;
class DeadlineInput extends InputBase {
  override step(pos: number): number {
    if ((++scanned & 255) === 0 && performance.now() > deadline) {
      throw new CelLimitError("matches exceeded the evaluation limit");
    }
    return super.step(pos);
  }
}

const patterns = new Map<string, Re2Engine | Error>();

/** The compiled pattern, or the reason it is not one (cached either way, bounded). */
function pattern(source: string): Re2Engine | Error {
  const hit = patterns.get(source);
  if (hit) return hit;
  let compiled: Re2Engine | Error;
  if (source.length > CEL_MAX_PATTERN_LENGTH) {
    compiled = new Error(
      `matches: the pattern is ${source.length} characters; the limit is ${CEL_MAX_PATTERN_LENGTH}`,
    );
  } else {
    try {
      compiled = RE2JS.compile(source).re2Input as unknown as Re2Engine;
      compiled.lazyDFA = new DfaClass(compiled.prog, CEL_PATTERN_DFA_BYTES);
    } catch (e) {
      compiled = new Error(`matches: not an RE2 pattern: ${firstLine(e)}`);
    }
  }
  if (patterns.size >= CEL_PATTERN_CACHE_MAX) patterns.delete(patterns.keys().next().value!);
  patterns.set(source, compiled);
  return compiled;
}

type MatchesNode = AstNode & {
  handle: (args: unknown[], ev: unknown, ast: MatchesNode) => unknown;
  jsHandle?: MatchesNode["handle"];
};

function matchesRe2(args: unknown[], ev: unknown, ast: MatchesNode): unknown {
  const [s, p] = args;
  if (typeof s !== "string" || typeof p !== "string") return ast.jsHandle!(args, ev, ast);
  const re = pattern(p);
  if (re instanceof Error) throw re;
  return re.executeEngine(new DeadlineInput(s), 0, UNANCHORED, 0) !== null;
}

/** Points every `matches` call of a checked program at RE2; a literal pattern is checked now. */
function useRe2(root: AstNode, field: string): void {
  const seen = new Set<unknown>();
  const visit = (n: unknown): void => {
    if (!n || typeof n !== "object" || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) return n.forEach(visit);
    if (!("op" in n)) return Object.values(n).forEach(visit);
    const node = n as MatchesNode;
    const args = node.args as unknown[];
    if (node.op === "rcall" && args[0] === "matches" && (args[2] as unknown[]).length === 1) {
      const arg = (args[2] as AstNode[])[0];
      if (arg.op === "value" && typeof arg.args === "string") literalPattern(arg.args, field);
      if (node.handle !== matchesRe2) {
        node.jsHandle = node.handle;
        node.handle = matchesRe2;
      }
    }
    visit(node.args);
    visit((node as unknown as { meta?: { alternate?: unknown } }).meta?.alternate);
  };
  visit(root);
}

function literalPattern(source: string, field: string): void {
  const re = pattern(source);
  if (!(re instanceof Error)) return;
  if (source.length > CEL_MAX_PATTERN_LENGTH) {
    throw new ApiError("cel_limit", `${field}: ${re.message}`, { field, limit: CEL_MAX_PATTERN_LENGTH });
  }
  throw new ApiError("invalid_cel", `${field}: ${re.message}`, {
    field,
    expression: source,
    detail: re.message,
  });
}

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
