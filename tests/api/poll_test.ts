/**
 * GET /rooms/:id/poll (reference/api.md#reads): the dashboard bundle — agents, state without the logs, messages and audit
 * with their limits (default 500, max 2000), actions, views — filtered by the caller's privacy.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

type Row = { scope: string; key: string; value: unknown };

async function setup() {
  const fx = await setupRoom({ room: "dash" });
  const poll = (token: string | undefined, qs = "") => fx.req("GET", `/poll${qs}`, token);
  return { ...fx, poll };
}

Deno.test("poll returns the dashboard bundle; state carries neither _messages nor _audit", async () => {
  const { s, c, room, alice, poll } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { key: "phase", value: "lobby" });
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 3 });
  await c.ok(room.id, alice, "_send_message", { body: "hello" });
  await c.ok(room.id, room.token, "_register_view", { id: "phase-view", expr: "state._shared.phase" });
  const r = await poll(room.token);
  assert.equal(r.status, 200);
  for (const k of ["agents", "state", "messages", "actions", "views", "audit", "cursor"]) {
    assert.ok(k in r.json, k);
  }
  assert.deepEqual(r.json.agents.map((a: { id: string }) => a.id).sort(), ["alice", "bob"]);
  const scopes = new Set(r.json.state.map((e: Row) => e.scope));
  assert.ok(scopes.has("_shared") && scopes.has("alice"));
  assert.ok(!scopes.has("_messages") && !scopes.has("_audit"), [...scopes].join(","));
  assert.deepEqual(r.json.messages.map((m: { seq: number; body: string }) => [m.seq, m.body]), [[
    1,
    "hello",
  ]]);
  assert.ok(r.json.actions.some((a: { id: string }) => a.id === "_send_message"));
  assert.deepEqual(r.json.views.map((v: { id: string; value: unknown }) => [v.id, v.value]), [[
    "phase-view",
    "lobby",
  ]]);
  assert.deepEqual(r.json.audit.map((a: { action: string }) => a.action), [
    "_set_state",
    "_set_state",
    "_send_message",
    "_register_view",
  ]);
  const viewer = await poll(room.view);
  assert.equal(viewer.status, 200);
  assert.equal(viewer.json.audit.length, 4);
  assert.equal((await poll(undefined)).status, 401);
});

Deno.test("poll as an agent: no other agent's scope, only its own audit rows", async () => {
  const { s, c, room, alice, bob, poll } = await setup();
  await using _ = s;
  await c.ok(room.id, alice, "_set_state", { key: "secret_plan", value: "attack from the north" });
  await c.ok(room.id, bob, "_set_state", { key: "mine", value: 1 });
  await c.invoke(room.id, bob, "_set_state", { scope: "alice", key: "x", value: 1 }); // refused, audited
  const r = await poll(bob);
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes("north") && !r.text.includes("secret_plan"));
  assert.ok(r.json.state.every((e: Row) => e.scope !== "alice"));
  assert.ok(r.json.audit.length === 2 && r.json.audit.every((a: { agent: string }) => a.agent === "bob"));
  const asAlice = await poll(room.token, "?agent=alice");
  assert.equal(asAlice.status, 200);
  assert.ok(asAlice.text.includes("north"));
  assert.ok(asAlice.json.state.every((e: Row) => e.scope !== "bob"));
  const mismatch = await poll(bob, "?agent=alice");
  assert.equal(mismatch.status, 403);
  assert.equal(mismatch.json.error, "identity_mismatch");
});

Deno.test("poll messages_limit / audit_limit: newest N, default 500, capped at 2000; bad values 400", async () => {
  const { s, c, room, poll } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "burst",
    writes: Array.from(
      { length: 20 },
      (_, i) => ({ scope: "_messages", append: true, value: { body: `b${i}` } }),
    ),
  });
  for (let i = 0; i < 101; i++) await c.ok(room.id, room.token, "burst"); // 2020 messages
  // audit rows past 2000: refused invocations are audited too (cheap to make many)
  for (let i = 0; i < 20; i++) {
    await Promise.all(Array.from({ length: 100 }, () => c.invoke(room.id, room.token, "no_such_action")));
  }
  const def = await poll(room.token);
  assert.equal(def.json.messages.length, 500);
  assert.equal(def.json.messages.at(-1).seq, 2020);
  assert.equal(def.json.audit.length, 500);
  const small = await poll(room.token, "?messages_limit=3&audit_limit=2");
  assert.deepEqual(small.json.messages.map((m: { seq: number }) => m.seq), [2018, 2019, 2020]);
  assert.equal(small.json.audit.length, 2);
  assert.equal(small.json.audit.at(-1).action, "no_such_action");
  const capped = await poll(room.token, "?messages_limit=5000&audit_limit=100000");
  assert.equal(capped.json.messages.length, 2000);
  assert.equal(capped.json.messages[0].seq, 21);
  assert.equal(capped.json.audit.length, 2000);
  for (const bad of ["messages_limit=-1", "audit_limit=many", "limit=5"]) {
    const r = await poll(room.token, `?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal(r.json.error, "invalid_query");
  }
});
