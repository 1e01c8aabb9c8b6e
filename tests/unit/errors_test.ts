/**
 * errors.ts owns failure: one zod translator naming the field, one response for anything thrown (status,
 * X-Error-Code, Retry-After, the error's own headers, a newline-ended JSON body), 500 for the unknown.
 */
import assert from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { ApiError, fromZod, toApiError, toErrorResponse } from "../../errors.ts";

const Body = z.strictObject({ key: z.string(), n: z.number().int().optional() });
const zodError = (v: unknown) => Body.safeParse(v).error!;

Deno.test("fromZod names the first bad field, lists unknown keys, and keeps up to ten issues", () => {
  const wrong = fromZod(zodError({ key: 1 }), "invalid_body");
  assert.equal(wrong.code, "invalid_body");
  assert.equal(wrong.details.field, "key");
  assert.match(wrong.message, /^key: /);
  const unknown = fromZod(zodError({ key: "k", colour: "red" }), "invalid_params");
  assert.equal(unknown.message, 'unknown field "colour"');
  assert.equal(unknown.details.field, "colour", "an unknown key names itself");
  const inside = fromZod(
    z.strictObject({ o: z.strictObject({}) }).safeParse({ o: { x: 1 } }).error!,
    "invalid_body",
  );
  assert.equal(inside.details.field, "o.x");
  assert.equal(inside.message, 'unknown field "x" in o');
  assert.equal(
    fromZod(zodError(null), "invalid_params").details.field,
    "params",
    "a root-level issue names the root",
  );
  const nested = fromZod(zodError({ key: "k", n: 1.5 }), "invalid_body", "actions[2]");
  assert.equal(nested.details.field, "actions[2].n", "`at` says where the value sat");
  assert.deepEqual((nested.details.issues as { path: string }[]).map((i) => i.path), ["n"]);
  assert.equal(fromZod(zodError("x"), "invalid_query").details.field, "query");
});

Deno.test("toErrorResponse: status, X-Error-Code, the error's headers, Retry-After, newline-ended JSON", async () => {
  const quota = toErrorResponse(new ApiError("quota_exceeded", "full", { quota: "room_entries", limit: 3 }));
  assert.equal(quota.status, 429);
  assert.equal(quota.headers.get("x-error-code"), "quota_exceeded");
  assert.equal(quota.headers.get("retry-after"), null, "only rate_limited says when to retry");
  const text = await quota.text();
  assert.ok(text.endsWith("\n"));
  assert.deepEqual(JSON.parse(text), {
    error: "quota_exceeded",
    message: "full",
    quota: "room_entries",
    limit: 3,
  });
  const limited = toErrorResponse(new ApiError("rate_limited", "slow down", { retry_after_ms: 1500 }));
  assert.equal(limited.headers.get("retry-after"), "2");
  await limited.body?.cancel();
  const allow = toErrorResponse(
    new ApiError("method_not_allowed", "POST only", {}, { headers: { allow: "POST" } }),
  );
  assert.equal(allow.status, 405);
  assert.equal(allow.headers.get("allow"), "POST");
  await allow.body?.cancel();
});

Deno.test("toApiError: zod as the given code, HTTP exceptions by status, anything else a logged 500", () => {
  assert.equal(toApiError(zodError({})).code, "invalid_body");
  assert.equal(toApiError(zodError({}), { zodCode: "invalid_params" }).code, "invalid_params");
  assert.equal(toApiError(new HTTPException(413, { message: "big" })).code, "payload_too_large");
  const bad = toApiError(new HTTPException(400, { message: "nope" }));
  assert.equal(bad.code, "bad_request");
  assert.equal(bad.status, 400);
  const logged: Record<string, unknown>[] = [];
  const original = console.error;
  console.error = () => {};
  try {
    const bug = toApiError(new TypeError("x is undefined"), { log: (l) => logged.push(l) });
    assert.equal(bug.code, "internal_error");
    assert.equal(bug.status, 500);
    assert.ok(!bug.message.includes("undefined"), "the bug's text stays in the log");
  } finally {
    console.error = original;
  }
  assert.match(String(logged[0].error), /TypeError: x is undefined/);
});
