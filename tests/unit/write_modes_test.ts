/**
 * applyWrite without HTTP: every `_set_state` mode with its version numbers, the guards (`if_version`,
 * `if`), the size limit, and refusals that do not quote a value the writer may not read.
 */
import assert from "node:assert/strict";
import { DEFAULT_LIMITS } from "../../config.ts";
import { applyTx } from "../../engine/tx.ts";
import { applyWrite } from "../../engine/write_modes.ts";
import { ApiError } from "../../errors.ts";
import { ADMIN, memoryRoom } from "./_room.ts";

const noCtx = () => ({});

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  throw new Error("expected a refusal");
}

Deno.test("applyWrite: value, merge, increment and append, each a new version", () => {
  const { tx } = memoryRoom();
  const t = tx(ADMIN);
  const w = (spec: Record<string, unknown>) => applyWrite(t, spec, "_shared", noCtx, "params");
  assert.deepEqual(w({ key: "v", value: "a" }), { scope: "_shared", key: "v", value: "a", version: 1 });
  assert.equal(w({ key: "v", value: "b" }).version, 2);
  w({ key: "o", value: { a: 1, b: 1 } });
  assert.deepEqual(w({ key: "o", merge: { b: 2, c: 3 } }).value, { a: 1, b: 2, c: 3 });
  assert.equal(w({ key: "n", increment: true }).value, 1, "a missing counter starts at 0");
  assert.equal(w({ key: "n", increment: 5 }).value, 6);
  assert.equal(w({ key: "n", increment: true, value: -2 }).value, 4);
  assert.deepEqual(w({ key: "list", append: true, value: "x" }).value, ["x"]);
  assert.deepEqual(w({ key: "list", append: true, value: "y" }).value, ["x", "y"]);
  assert.deepEqual(
    [w({ append: true, value: "first" }).key, w({ append: true, value: "second" }).key],
    ["1", "2"],
    "append without a key adds log rows keyed 1, 2, …",
  );
});

Deno.test("applyWrite refuses mixed modes, a missing value and a non-number increment", () => {
  const { tx } = memoryRoom();
  const t = tx(ADMIN);
  applyWrite(t, { key: "s", value: "text" }, "_shared", noCtx, "params");
  const cases: [Record<string, unknown>, string][] = [
    [{ key: "x", merge: { a: 1 }, increment: 1 }, "invalid_body"],
    [{ key: "x" }, "invalid_body"],
    [{ key: "s", increment: 1 }, "invalid_body"],
    [{ key: "x", increment: "many" }, "invalid_body"],
    [{ key: "", value: 1 }, "invalid_body"],
  ];
  for (const [spec, code] of cases) {
    assert.equal(
      refusal(() => applyWrite(t, spec, "_shared", noCtx, "params")).code,
      code,
      JSON.stringify(spec),
    );
  }
});

Deno.test("if_version is a compare-and-set; 0 means the key must not exist", () => {
  const { room, tx } = memoryRoom();
  const first = tx(ADMIN);
  applyWrite(first, { key: "lock", value: "a", if_version: 0 }, "_shared", noCtx, "params");
  applyTx(first);
  const again = tx(ADMIN);
  const e = refusal(() =>
    applyWrite(again, { key: "lock", value: "b", if_version: 0 }, "_shared", noCtx, "p")
  );
  assert.equal(e.code, "version_conflict");
  assert.equal(e.details.expected_version, 0);
  assert.equal((e.details.current as { version: number }).version, 1);
  applyWrite(again, { key: "lock", value: "b", if_version: 1 }, "_shared", noCtx, "params");
  applyTx(again);
  assert.equal(room.getEntry("_shared", "lock")?.value, "b");
});

Deno.test("a version conflict on a scope the writer may not read shows the version, not the value", () => {
  const { room, as, tx } = memoryRoom();
  const own = tx(as("bob"));
  applyWrite(own, { key: "secret", value: "s3cr3t" }, "bob", noCtx, "params");
  applyTx(own);
  // an action owned by bob writes bob's scope for alice; alice's refusal must not quote bob's value
  const e = refusal(() =>
    applyWrite(tx(as("alice")), { key: "secret", value: 1, if_version: 0 }, "bob", noCtx, "params")
  );
  assert.equal(e.code, "version_conflict");
  assert.deepEqual(e.details.current, { scope: "bob", key: "secret", version: 1 });
  assert.ok(!JSON.stringify(e.toBody()).includes("s3cr3t"));
  assert.equal(room.getEntry("bob", "secret")?.version, 1);
});

Deno.test("an `if` that is false is 409 precondition_failed with the paths it read", () => {
  const { tx } = memoryRoom();
  const ctx = () => ({ state: { _shared: { turn: 3n } } });
  const e = refusal(() =>
    applyWrite(tx(ADMIN), { key: "x", value: 1, if: "state._shared.turn == 4" }, "_shared", ctx, "params")
  );
  assert.equal(e.code, "precondition_failed");
  assert.equal(e.details.evaluated, false);
  assert.deepEqual(e.details.detail, { "state._shared.turn": 3 });
});

Deno.test("a value over maxValueBytes is 400 value_too_large naming the field", () => {
  const { tx } = memoryRoom();
  const t = tx(ADMIN, { ...DEFAULT_LIMITS, maxValueBytes: 10 });
  const e = refusal(() => applyWrite(t, { key: "big", value: "x".repeat(20) }, "_shared", noCtx, "params"));
  assert.equal(e.code, "value_too_large");
  assert.equal(e.details.field, "params.value");
  assert.equal(t.get("_shared", "big"), undefined, "nothing staged");
});
