/**
 * The shape every JSON value the server takes must have (json_shape.ts): nesting measured on the text before
 * parsing, then finite numbers and no `__proto__` keys, with the path of the first problem.
 */
import assert from "node:assert/strict";
import { checkJsonValue, checkTextDepth } from "../../json_shape.ts";
import { ApiError } from "../../errors.ts";

function refusal(fn: () => void): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail("expected a refusal");
}

Deno.test("checkTextDepth counts arrays and objects, not brackets inside strings, and scans 10,000 levels flat", () => {
  checkTextDepth(`{"a":[1,{"b":"[[[[{{{{\\"]]]"}]}`, 3);
  const e = refusal(() => checkTextDepth(`{"a":[1,{"b":[]}]}`, 3));
  assert.equal(e.code, "too_deep");
  assert.deepEqual(e.details, { field: "body", limit: 3 });
  assert.equal(refusal(() => checkTextDepth("[".repeat(10_000) + "]".repeat(10_000), 64)).code, "too_deep");
  checkTextDepth("[]".repeat(100_000), 1);
});

Deno.test("checkJsonValue names the first number that is not finite and the first __proto__ key", () => {
  const body = JSON.parse(`{"params":{"value":[1,{"x":1e400}]}}`);
  let e = refusal(() => checkJsonValue(body, "", 64));
  assert.equal(e.code, "invalid_body");
  assert.equal(e.details.field, "params.value[1].x");
  e = refusal(() => checkJsonValue(JSON.parse(`{"a":{"__proto__":{"p":1}}}`), "writes[0].value", 64));
  assert.equal(e.code, "invalid_body");
  assert.equal(e.details.field, "writes[0].value.a.__proto__");
  e = refusal(() => checkJsonValue([[NaN]], "writes[2].value", 64));
  assert.equal(e.details.field, "writes[2].value[0][0]");
  assert.equal(
    refusal(() => checkJsonValue(-Infinity, "params.increment", 64)).details.field,
    "params.increment",
  );
  checkJsonValue({ constructor: 1, toString: [2], n: -1.5e308 }, "v", 64);
});

Deno.test("checkJsonValue measures the depth of built values: too_deep names the value", () => {
  let v: unknown = 0;
  for (let i = 0; i < 65; i++) v = [v];
  const e = refusal(() => checkJsonValue(v, "writes[0].value", 64));
  assert.equal(e.code, "too_deep");
  assert.deepEqual(e.details, { field: "writes[0].value", limit: 64 });
  checkJsonValue((v as unknown[])[0], "writes[0].value", 64);
});
