/**
 * A refusal explains what its condition read as far as the invoker may see it (issue 14.6): a path into a
 * scope the invoker may not read says "not visible to you" — not `missing` with "No such key: alice", which
 * would pass for a scope that does not exist — and never its value.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

Deno.test("a condition reading another agent's scope is explained as not visible, never as missing", async () => {
  const { s, c, room, alice, bob } = await setupRoom({ room: "detail" });
  await using _ = s;
  await c.ok(room.id, alice, "_set_state", { key: "plan", value: "attack from the north" });
  await c.ok(room.id, alice, "_register_action", {
    id: "guess_plan",
    scope: "alice",
    params: { guess: { type: "string", required: true } },
    if: 'state["alice"].plan == params.guess && state._shared.open != true',
    writes: [{ scope: "_shared", key: "winner", value: "${self}" }],
  });
  const r = await c.invoke(room.id, bob, "guess_plan", { guess: "defend" });
  assert.equal(r.status, 409);
  assert.equal(r.json.error, "precondition_failed");
  assert.deepEqual(r.json.detail['state["alice"].plan'], { hidden: true, error: "not visible to you" });
  assert.deepEqual(r.json.detail["state._shared.open"], {
    missing: true,
    error: r.json.detail["state._shared.open"].error,
  });
  assert.ok(!r.text.includes("north"), r.text);
  // alice herself is told the value
  const own = await c.invoke(room.id, alice, "guess_plan", { guess: "defend" });
  assert.equal(own.json.detail['state["alice"].plan'], "attack from the north");

  // a direct write's `if` naming a scope bob cannot read: the same words
  const direct = await c.invoke(room.id, bob, "_set_state", {
    key: "k",
    value: 1,
    if: "state.alice.plan == 'x'",
  });
  assert.equal(direct.status, 409);
  assert.deepEqual(direct.json.detail["state.alice.plan"], { hidden: true, error: "not visible to you" });
});
