import assert from "node:assert/strict";
import { checkParamSchema, validateParams } from "../../engine/params.ts";
import type { ParamSpec } from "../../engine/model.ts";
import { ApiError } from "../../errors.ts";

const schema: Record<string, ParamSpec> = {
  s: { type: "string", enum: ["a", "b"] },
  n: { type: "number" },
  i: { type: "integer", default: 3 },
  b: { type: "boolean" },
  o: { type: "object" },
  arr: { type: "array" },
  any: { type: "any", required: true },
};

function problems(params: Record<string, unknown>): string[] {
  try {
    validateParams(schema, params);
  } catch (e) {
    assert.ok(e instanceof ApiError);
    assert.equal(e.code, "invalid_params");
    return (e.details.params as { param: string }[]).map((p) => p.param).sort();
  }
  return [];
}

Deno.test("validateParams: types, enum, required, defaults, unknown params", () => {
  assert.deepEqual(validateParams(schema, { any: 0 }), { i: 3, any: 0 });
  assert.deepEqual(
    validateParams(schema, { s: "a", n: 1.5, i: 2, b: false, o: {}, arr: [], any: { x: 1 } }),
    { s: "a", n: 1.5, i: 2, b: false, o: {}, arr: [], any: { x: 1 } },
  );
  assert.deepEqual(problems({ any: 1 }), []);
  assert.deepEqual(problems({}), ["any"]);
  assert.deepEqual(problems({ any: 1, s: "c" }), ["s"]);
  assert.deepEqual(problems({ any: 1, n: "1" }), ["n"]);
  assert.deepEqual(problems({ any: 1, i: 1.5 }), ["i"]);
  assert.deepEqual(problems({ any: 1, b: "true", o: [], arr: {} }), ["arr", "b", "o"]);
  assert.deepEqual(problems({ any: 1, extra: 1 }), ["extra"]);
  assert.deepEqual(validateParams(undefined, {}), {});
});

Deno.test("validateParams: defaults are copies, not shared objects", () => {
  const s: Record<string, ParamSpec> = { o: { type: "object", default: { list: [] } } };
  const a = validateParams(s, {}) as { o: { list: unknown[] } };
  a.o.list.push(1);
  assert.deepEqual((validateParams(s, {}) as { o: unknown }).o, { list: [] });
});

Deno.test("checkParamSchema: a default must match its own type and enum", () => {
  checkParamSchema({ x: { type: "integer", default: 1 } }, "params");
  for (
    const spec of [{ type: "integer", default: "1" }, {
      type: "string",
      enum: ["a"],
      default: "b",
    }] as ParamSpec[]
  ) {
    try {
      checkParamSchema({ x: spec }, "params");
      assert.fail("expected a 400");
    } catch (e) {
      assert.ok(e instanceof ApiError);
      assert.equal(e.details.field, "params.x.default");
    }
  }
});
