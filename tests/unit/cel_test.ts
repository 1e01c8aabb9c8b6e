import assert from "node:assert/strict";
import { compile, evaluate, evaluateOrLimit, explainPaths, fromCel, isTrue, toCel } from "../../cel.ts";
import { ApiError } from "../../errors.ts";

const L = { maxLength: 4096, timeoutMs: 50 };
const run = (src: string, ctx: Record<string, unknown> = {}) => evaluate(compile(src, L), ctx, 50);
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
  const r = evaluate(p, toCel(big) as Record<string, unknown>, 50);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.limit, true);
  assert.ok(performance.now() - started < 5000, "the budget stops the evaluation");
  throwsCode(() => evaluateOrLimit(p, toCel(big) as Record<string, unknown>, 50), "cel_limit");
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
  const d = explainPaths(p, ctx, 50);
  assert.equal(d["state._tasks[params.key].claimed_by"], "bob");
  assert.equal(d["state._shared.open"], true);
  const m = explainPaths(compile("state._shared.nope == 1", L), ctx, 50) as Record<
    string,
    { missing: boolean }
  >;
  assert.equal(m["state._shared.nope"].missing, true);
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
