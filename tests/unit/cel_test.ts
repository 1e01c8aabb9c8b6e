import assert from "node:assert/strict";
import {
  CelBucket,
  CelBudget,
  compile,
  evaluate,
  evaluateOrLimit,
  explainPaths,
  fromCel,
  isTrue,
  toCel,
} from "../../cel.ts";
import { DEFAULT_LIMITS } from "../../config.ts";
import { ApiError } from "../../errors.ts";

const L = { maxLength: 4096, timeoutMs: 50 };
const budget = (limitMs = 100, roomCelMsPerSec = 0) =>
  new CelBudget({ ...DEFAULT_LIMITS, roomCelMsPerSec }, "request", limitMs);
const run = (src: string, ctx: Record<string, unknown> = {}) => evaluate(compile(src, L), ctx, budget());
const state = (v: Record<string, unknown>) => ({ state: toCel(v) });

function throwsCode(fn: () => unknown, code: string, field?: string) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, code);
    if (field) assert.equal(e.details.field, field);
    return e;
  }
  assert.fail(`expected ${code}`);
}

Deno.test("cel: integral JSON numbers are int, others double; int results are JSON numbers", () => {
  const ctx = state({ _shared: { turn: 3, ratio: 0.5 } });
  assert.deepEqual(run("state._shared.turn + 1", ctx), { ok: true, value: 4 });
  assert.equal(typeof run("state._shared.turn + 1", ctx).ok, "boolean");
  assert.deepEqual(run("state._shared.ratio * 2.0", ctx), { ok: true, value: 1 });
  assert.equal(
    run("state._shared.turn + state._shared.ratio", ctx).ok,
    false,
    "int + double has no overload",
  );
  assert.deepEqual(run("double(state._shared.turn) + state._shared.ratio", ctx), { ok: true, value: 3.5 });
  assert.deepEqual(run("state._shared.turn > 2.5", ctx), { ok: true, value: true });
  assert.deepEqual(run("[1, 2, 3].size()"), { ok: true, value: 3 });
  assert.deepEqual(run("{'a': 1}"), { ok: true, value: { a: 1 } });
});

Deno.test("cel: has(), `in`, and a missing key is a runtime error (a value, not a throw)", () => {
  const ctx = state({ _shared: { phase: "lobby", tags: ["x", "y"] } });
  assert.equal(run("has(state._shared.phase)", ctx).ok && true, true);
  assert.deepEqual(run("has(state._shared.phase)", ctx), { ok: true, value: true });
  assert.deepEqual(run("has(state._shared.nope)", ctx), { ok: true, value: false });
  assert.deepEqual(run('"phase" in state._shared', ctx), { ok: true, value: true });
  assert.deepEqual(run('"y" in state._shared.tags', ctx), { ok: true, value: true });
  assert.deepEqual(run('"z" in state._shared.tags', ctx), { ok: true, value: false });
  const missing = run("state._shared.nope == 1", ctx);
  assert.equal(missing.ok, false);
  if (!missing.ok) {
    assert.match(missing.error, /nope/);
    assert.equal(missing.limit, false);
  }
  assert.equal(isTrue(missing), false);
  assert.equal(isTrue(run("1 == 1")), true);
  assert.equal(isTrue(run("1")), false, "only boolean true passes a predicate");
});

Deno.test("cel: syntax and type errors are 400 invalid_cel naming the field, with expression and detail", () => {
  const e = throwsCode(() => compile("state._shared.(", L, "if"), "invalid_cel", "if") as ApiError;
  assert.equal(e.details.expression, "state._shared.(");
  assert.equal(typeof e.details.detail, "string");
  throwsCode(() => compile("", L, "enabled"), "invalid_cel", "enabled");
  throwsCode(() => compile(42, L, "expr"), "invalid_cel", "expr");
  throwsCode(() => compile("1 + 'a'", L, "expr"), "invalid_cel", "expr");
});

Deno.test("cel: the length limit and the evaluation budget (cel_limit)", () => {
  throwsCode(
    () => compile("1 == 1 " + "&& true ".repeat(600), { maxLength: 4096, timeoutMs: 50 }, "if"),
    "cel_limit",
    "if",
  );
  // a nested comprehension over a large list: 1000 × 1000 × 1000 steps, far beyond the budget
  const big = { xs: Array.from({ length: 1000 }, (_, i) => i) };
  const src = "xs.all(a, xs.all(b, xs.all(c, a + b + c >= 0)))";
  const p = compile(src, L, "expr");
  const started = performance.now();
  const r = evaluate(p, toCel(big) as Record<string, unknown>, budget(Infinity));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.limit, "expression");
  assert.ok(performance.now() - started < 5000, "the budget stops the evaluation");
  const b = budget(Infinity);
  throwsCode(() => evaluateOrLimit(p, toCel(big) as Record<string, unknown>, b), "cel_limit");
  assert.equal(b.struck, true, "the caller's own expression answered cel_limit is remembered (penalty)");
  // an ordinary expression still works afterwards (the budget is per evaluation)
  assert.deepEqual(run("xs.size()", toCel(big) as Record<string, unknown>), { ok: true, value: 1000 });
});

Deno.test("cel: toCel/fromCel round-trip JSON", () => {
  const v = { a: 1, b: 2.5, c: [1, "x", null, true], d: { e: { f: 7 } } };
  const c = toCel(v) as Record<string, unknown>;
  assert.equal(typeof c.a, "bigint");
  assert.equal(typeof c.b, "number");
  assert.deepEqual(fromCel(c), v);
});

Deno.test("cel: explainPaths reports the value of each state path read", () => {
  const p = compile("state._tasks[params.key].claimed_by == null && state._shared.open", L, "if");
  const ctx = {
    ...state({ _tasks: { "1": { claimed_by: "bob" } }, _shared: { open: true } }),
    params: { key: "1" },
  };
  const d = explainPaths(p, ctx, budget());
  assert.equal(d["state._tasks[params.key].claimed_by"], "bob");
  assert.equal(d["state._shared.open"], true);
  const m = explainPaths(compile("state._shared.nope == 1", L), ctx, budget()) as Record<
    string,
    { missing: boolean }
  >;
  assert.equal(m["state._shared.nope"].missing, true);
});

// ── matches (RE2) ───────────────────────────────────────────────────────────────────────────────

Deno.test("cel: matches is an RE2 search: catastrophic patterns answer at once, inline flags work", () => {
  const cases: [string, Record<string, unknown>, unknown][] = [
    [`'${"a".repeat(40)}!'.matches('(a+)+$')`, {}, false],
    [`'${"a".repeat(64)}!'.matches('(a|aa)*$')`, {}, true],
    [`s.matches('(.*a){20}')`, { s: "a".repeat(19) + "b".repeat(30_000) }, false],
    [`'ABC'.matches('(?i)abc')`, {}, true],
    [`'a\\nb'.matches('(?s)a.b')`, {}, true],
    [`'hello'.matches('ell')`, {}, true],
    [`'hello'.matches('^ell')`, {}, false],
    [`['ab', 'b'].all(x, x.matches('b$'))`, {}, true],
    [`s.matches(p)`, { s: "x1y", p: "\\d" }, true],
  ];
  for (const [src, ctx, want] of cases) {
    const r = evaluate(compile(src, L), ctx, budget(Infinity));
    assert.deepEqual(r, { ok: true, value: want }, src);
  }
});

Deno.test("cel: a pattern RE2 refuses or longer than 1024 characters: 400 when literal, a runtime error when not", () => {
  throwsCode(() => compile(`'aa'.matches('(a)\\\\1')`, L, "if"), "invalid_cel", "if");
  throwsCode(() => compile(`'a'.matches('(?=a)')`, L, "if"), "invalid_cel", "if");
  const long = throwsCode(
    () => compile(`'x'.matches('${"a".repeat(1025)}')`, L, "expr"),
    "cel_limit",
    "expr",
  );
  assert.equal(long.details.limit, 1024);
  assert.deepEqual(run(`'xyz'.matches('${"a".repeat(1024)}')`), { ok: true, value: false });
  for (const p of ["a".repeat(1025), "(a", "(a)\\1"]) {
    const r = run("'xyz'.matches(p)", { p });
    assert.equal(r.ok, false, p);
    if (!r.ok) {
      assert.equal(r.limit, false, "a runtime error, like any other");
      assert.match(r.error, /matches/);
    }
  }
});

Deno.test("cel: a linear-time match that is still long is cut off at the deadline", () => {
  // a[ab]{20}$ defeats the DFA: re2js falls back to its NFA, ~0.1-1 s for 256 KB
  let s = "";
  for (let i = 0, x = 7; i < 256 * 1024; i++) {
    s += (x = (x * 1103515245 + 12345) % 2147483648) & 1024 ? "a" : "b";
  }
  const r = evaluate(compile("s.matches('a[ab]{20}$')", L), { s: s + "b".repeat(30) }, budget(Infinity));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.limit, "expression");
});

// ── budgets ─────────────────────────────────────────────────────────────────────────────────────

const HEAVY = "xs.all(a, xs.all(b, a + b >= 0))";
const xs = () => toCel({ xs: Array.from({ length: 300 }, (_, i) => i) }) as Record<string, unknown>;

Deno.test("cel: a budget is charged the measured time and, once spent, refuses further evaluations at once", () => {
  const b = budget(5);
  const p = compile(HEAVY, L);
  const r = evaluate(p, xs(), b);
  assert.equal(r.ok, false, "stopped by what is left of the budget");
  if (!r.ok) assert.equal(r.limit, "budget");
  assert.ok(b.spent >= 5, `charged ${b.spent} ms`);
  assert.equal(b.exhausted, true);
  assert.equal(b.struck, false, "a listing's evaluation running out is not the caller's own expression");
  const next = evaluate(compile("1 + 1", L), {}, b);
  assert.equal(next.ok, false);
  if (!next.ok) {
    assert.equal(next.limit, "budget");
    assert.match(next.error, /budget of 5 ms is spent/);
  }
});

Deno.test("cel: a room's bucket refuses evaluations once spent, except for a budget that may overdraw it", () => {
  const bucket = new CelBucket();
  const b = budget(Infinity, 5); // 5 ms of CEL per second for the room
  const p = compile(HEAVY, L);
  evaluate(p, xs(), b, bucket); // spends more than the bucket holds
  const refused = evaluate(compile("1 + 1", L), {}, b, bucket);
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.limit, "room");
    assert.match(refused.error, /retry in \d+ ms/);
  }
  const other = budget(Infinity, 5);
  other.overdraw = true;
  assert.deepEqual(evaluate(compile("1 + 1", L), {}, other, bucket), { ok: true, value: 2 });
  assert.deepEqual(evaluate(compile("1 + 1", L), {}, budget(Infinity, 5), new CelBucket()), {
    ok: true,
    value: 2,
  }, "another room's bucket is its own");
});

Deno.test("cel: an evaluation inside another (the actions map) is charged once, to the outer one", () => {
  const b = budget(Infinity);
  const inner = compile(HEAVY, L);
  let innerSpent = 0;
  const ctx: Record<string, unknown> = {};
  Object.defineProperty(ctx, "nested", {
    get() {
      const before = b.spent;
      evaluate(inner, xs(), b);
      innerSpent = b.spent - before;
      return true;
    },
  });
  const r = evaluate(compile("nested", L), ctx, b);
  assert.deepEqual(r, { ok: true, value: true });
  assert.equal(innerSpent, 0, "not charged while nested");
  assert.ok(b.spent > 0);
  assert.equal(b.last, b.spent);
});

Deno.test("cel: toCel and fromCel copy any depth without recursion (values stored before the nesting limit)", () => {
  let deep: unknown = 7;
  for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { a: deep };
  const back = fromCel(toCel(deep));
  assert.equal(JSON.stringify(back), JSON.stringify(deep));
  const ctx = state({ _shared: { d: deep } });
  assert.deepEqual(run("has(state._shared.d)", ctx), { ok: true, value: true });
  // the library itself may recurse into such a value: that is a runtime error (a value), never a throw
  const r = run("size(state._shared.d) == 1", ctx);
  assert.ok(r.ok || typeof r.error === "string");
});

Deno.test("cel: a key named constructor is an ordinary map key (the library types maps by that property)", () => {
  const ctx = state({ _shared: { constructor: { v: 1 }, toString: 2 } });
  assert.deepEqual(run('state._shared["constructor"].v', ctx), { ok: true, value: 1 });
  assert.deepEqual(run('"toString" in state._shared && !("valueOf" in state._shared)', ctx), {
    ok: true,
    value: true,
  });
  // the context's own maps: a scope, a view or a param named constructor
  const named = {
    state: { constructor: toCel({ hp: 3 }) },
    views: { constructor: 7n },
    params: { constructor: "p" },
  };
  assert.deepEqual(run('state["constructor"].hp + views["constructor"]', named), { ok: true, value: 10 });
  assert.deepEqual(run('params["constructor"]', named), { ok: true, value: "p" });
  assert.deepEqual(fromCel(toCel({ constructor: [1, { constructor: 2 }] })), {
    constructor: [1, { constructor: 2 }],
  });
});
