import assert from "node:assert/strict";
import { checkTemplate, resolveString, resolveTemplate } from "../../engine/templates.ts";
import { ApiError } from "../../errors.ts";

const vars = {
  self: "alice",
  now: "2026-01-01T00:00:00.000Z",
  params: { n: 5, s: "hi", o: { a: { b: [1, 2] } }, inj: "${self}" },
};

Deno.test("resolveString: placeholders, exact matches keep their JSON type", () => {
  assert.equal(resolveString("${self}", vars), "alice");
  assert.equal(resolveString("${now}", vars), vars.now);
  assert.equal(resolveString("${params.n}", vars), 5);
  assert.deepEqual(resolveString("${params.o}", vars), { a: { b: [1, 2] } });
  assert.deepEqual(resolveString("${params.o.a.b}", vars), [1, 2]);
  assert.equal(resolveString("n=${params.n}", vars), "n=5");
  assert.equal(resolveString("${self}:${params.s}", vars), "alice:hi");
  assert.equal(resolveString("${params.missing}", vars), null);
  assert.equal(resolveString("x${params.missing}y", vars), "xy");
  assert.equal(resolveString("no placeholders", vars), "no placeholders");
});

Deno.test("resolveTemplate: deep, in keys, single pass (a param is never re-scanned)", () => {
  const out = resolveTemplate({
    "${self}": { list: ["${params.n}", "${params.inj}"], "k-${params.s}": "${params.inj}!" },
  }, vars);
  assert.deepEqual(out, { alice: { list: [5, "${self}"], "k-hi": "${self}!" } });
  assert.equal(resolveTemplate(7, vars), 7);
  assert.equal(resolveTemplate(null, vars), null);
});

Deno.test("checkTemplate: unknown placeholders and undeclared params are 400 naming the path", () => {
  const declared = new Set(["n"]);
  checkTemplate({ value: "${self} ${now} ${params.n} ${params.n.deep}" }, "writes[0]", declared);
  for (
    const [tmpl, path] of [
      [{ value: "${whoami}" }, "writes[0].value"],
      [{ value: { x: ["${params.other}"] } }, "writes[0].value.x[0]"],
      [{ merge: { "${env.HOME}": 1 } }, 'writes[0].merge key "${env.HOME}"'],
    ] as const
  ) {
    try {
      checkTemplate(tmpl, "writes[0]", declared);
      assert.fail("expected invalid_template");
    } catch (e) {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, "invalid_template");
      assert.equal(e.details.field, path);
    }
  }
});
