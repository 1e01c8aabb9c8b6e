/**
 * Presence follows the agent, not the request (issue 14.5): a status an agent set itself stays through its
 * reads, writes and refused calls; a wait shows `waiting` and then gives the agent its own status back;
 * `_heartbeat` with another status (or a PATCH) changes it. Calls move `last_heartbeat` only.
 */
import assert from "node:assert/strict";
import { type RoomFixture, setupRoom, until } from "../_setup.ts";

/** Alice blocks in a /wait that nothing satisfies, until `signal` aborts it. */
const blockAlice = (fx: RoomFixture<"alice" | "bob">, signal: AbortSignal) =>
  fx.c.http("GET", `/rooms/${fx.room.id}/wait?condition=false&timeout=20000`, { token: fx.alice, signal })
    .catch(() => undefined);

Deno.test("a status set with _heartbeat stays through calls and refusals, and comes back after a wait", async () => {
  const fx = await setupRoom({ room: "status", server: { fakeClock: true } });
  const { s, c, room, req, agent, alice } = fx;
  await using _ = s;
  await c.ok(room.id, alice, "_heartbeat", { status: "idle" });
  const set = await agent("alice");
  assert.equal(set.status, "idle");

  s.clock.advance(2000);
  // reads, a write, and refusals of every kind: none of them is alice saying she is active
  assert.equal((await req("GET", "/context", alice)).status, 200);
  assert.equal((await req("POST", "/eval", alice, { expr: "1 + 1" })).status, 200);
  await c.ok(room.id, alice, "_set_state", { key: "note", value: 1 });
  const refusals = [
    await req("POST", "/actions/nope/invoke", alice, {}),
    await req("POST", "/actions/_set_state/invoke", alice, {
      params: { key: "note", value: 2, if: "false" },
    }),
    await req("GET", "/state?scope=bob", alice),
    await req("POST", "/actions/_set_state/invoke", alice, { params: { bogus: 1 } }),
  ];
  assert.deepEqual(refusals.map((r) => r.status), [404, 409, 403, 400]);
  const after = await agent("alice");
  assert.equal(after.status, "idle", "no call reset the status alice set");
  assert.notEqual(after.last_heartbeat, set.last_heartbeat, "the calls were signs of life all the same");

  // a wait: waiting while blocked, then alice's own status again
  const ac = new AbortController();
  const blocked = blockAlice(fx, ac.signal);
  await until(async () => (await agent("alice")).status === "waiting", { what: "alice waiting" });
  assert.equal((await agent("alice")).waiting_on, "false");
  ac.abort();
  await blocked;
  await until(async () => (await agent("alice")).status !== "waiting", { what: "the wait to end" });
  const back = await agent("alice");
  assert.equal(back.status, "idle", "after the wait: the status alice had set before it");
  assert.equal(back.waiting_on, null);

  // a wait that triggers at once never showed waiting and changes nothing
  await c.ok(room.id, room.token, "_set_state", { key: "go", value: true });
  const now = await req("GET", "/wait?condition=state._shared.go&timeout=1000", alice);
  assert.equal(now.json.triggered, true);
  assert.equal((await agent("alice")).status, "idle");

  // setting another status is what changes it
  await c.ok(room.id, alice, "_heartbeat", { status: "busy" });
  assert.equal((await agent("alice")).status, "busy");
  await c.ok(room.id, alice, "_heartbeat", {});
  assert.equal((await agent("alice")).status, "active", "a bare heartbeat says active");
});

Deno.test("a status set while a wait blocks is the one kept when the wait ends", async () => {
  const fx = await setupRoom({ room: "status-during" });
  const { s, c, room, agent, alice } = fx;
  await using _ = s;
  const ac = new AbortController();
  const blocked = blockAlice(fx, ac.signal);
  await until(async () => (await agent("alice")).status === "waiting", { what: "alice waiting" });
  await c.ok(room.id, alice, "_heartbeat", { status: "done" });
  ac.abort();
  await blocked;
  await until(async () => (await agent("alice")).waiting_on === null, { what: "the wait to end" });
  assert.equal((await agent("alice")).status, "done");
});
