/**
 * GET /rooms/:id/wait (reference/api.md#wait): immediate and commit-driven triggers, timeout, validation before waiting,
 * include, presence while blocked, release on disconnect, privacy, timer wake-ups and `after=` cursors.
 */
import assert from "node:assert/strict";
import { http, type Res } from "../_server.ts";
import { metric, setupRoom, until } from "../_setup.ts";

const q = encodeURIComponent;

async function setup(server: { fakeClock?: boolean } = {}) {
  const fx = await setupRoom({ room: "w", server });
  const wait = (token: string, qs: string, signal?: AbortSignal) =>
    http(fx.s.base, "GET", `/rooms/${fx.room.id}/wait?${qs}`, { token, signal });
  return { ...fx, wait, agentStatus: fx.agent };
}

Deno.test("wait returns at once with triggered:true, value and context when the condition already holds", async () => {
  const { s, c, room, alice, wait } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { key: "phase", value: "playing" });
  const r = await wait(alice, `condition=${q('state._shared.phase == "playing"')}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.triggered, true);
  assert.equal(r.json.condition, 'state._shared.phase == "playing"');
  assert.equal(r.json.value, true);
  assert.equal(r.json.context.state._shared.phase, "playing");
  assert.equal(r.json.context.self, "alice");
  assert.equal(typeof r.json.cursor, "number");
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("wait is woken by another client's committed write and answers with the new state", async () => {
  const { s, c, room, alice, bob, wait, agentStatus } = await setup();
  await using _ = s;
  let settled = false;
  const pending = wait(alice, `condition=${q("state._shared.turn >= 2")}`).finally(() => settled = true);
  await until(async () => (await agentStatus("alice")).status === "waiting", { what: "alice to block" });
  await c.ok(room.id, room.token, "_set_state", { key: "turn", value: 1 });
  await c.ok(room.id, bob, "_set_state", { scope: "bob", key: "noise", value: 1 });
  assert.equal(settled, false, "a write that does not make the condition true must not wake the waiter");
  const w = await c.ok(room.id, room.token, "_set_state", { key: "turn", value: 2 });
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.json.triggered, true);
  assert.equal(r.json.context.state._shared.turn, 2);
  assert.ok(r.json.cursor >= w.cursor);
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("wait times out with {triggered:false, timeout:true, elapsed_ms}", async () => {
  const { s, room, alice, wait } = await setup();
  await using _ = s;
  const r = await wait(alice, `condition=${q("state._shared.never == 1")}&timeout=30`);
  assert.equal(r.status, 200);
  assert.equal(r.json.triggered, false);
  assert.equal(r.json.timeout, true);
  assert.ok(Number.isInteger(r.json.elapsed_ms) && r.json.elapsed_ms >= 0);
  assert.equal(typeof r.json.cursor, "number", "a timeout answer carries the cursor too");
  assert.equal(r.json.context, undefined);
  assert.equal(s.eng.metrics.waiters, 0);
  void room;
});

Deno.test("wait rejects a bad condition with 400 invalid_cel before waiting, and a missing one with 400", async () => {
  const { s, alice, wait, agentStatus } = await setup();
  await using _ = s;
  // default timeout is 25 s: an answer at all shows it did not wait
  const r = await wait(alice, `condition=${q("state._shared.x ==")}`);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, "invalid_cel");
  assert.equal(r.json.expression, "state._shared.x ==");
  assert.equal(typeof r.json.detail, "string");
  assert.equal(typeof r.json.message, "string");
  assert.equal((await agentStatus("alice")).status, "active");
  const none = await wait(alice, "timeout=10");
  assert.equal(none.status, 400);
  assert.equal(none.json.field, "condition");
  const badTimeout = await wait(alice, `condition=true&timeout=soon`);
  assert.equal(badTimeout.status, 400);
  assert.equal(badTimeout.json.error, "invalid_query");
  const unknown = await wait(alice, `condition=true&colour=red`);
  assert.equal(unknown.status, 400);
});

Deno.test("wait include: context by default, a comma list of sections, state.<scope>, unknown section 400", async () => {
  const { s, c, room, alice, wait } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { key: "phase", value: "lobby" });
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 7 });

  const def = await wait(alice, "condition=true");
  assert.deepEqual(Object.keys(def.json.context).sort(), [
    "actions",
    "agents",
    "cursor",
    "messages",
    "proposals",
    "self",
    "state",
    "views",
  ]);

  const two = await wait(alice, `condition=true&include=${q("state,agents")}`);
  assert.equal(two.status, 200);
  assert.equal(two.json.context, undefined);
  assert.equal(two.json.state._shared.phase, "lobby");
  assert.equal(two.json.state.self.hp, 7);
  assert.equal(two.json.agents.bob.name, "bob");
  assert.equal(two.json.actions, undefined);
  assert.equal(two.json.messages, undefined);

  const spaced = await wait(alice, `condition=true&include=${q("actions, messages")}`);
  assert.equal(spaced.status, 200);
  assert.ok(spaced.json.actions._send_message);
  assert.equal(spaced.json.messages.count, 0);
  assert.equal(spaced.json.state, undefined);

  const scoped = await wait(alice, `condition=true&include=${q("state._shared")}`);
  assert.deepEqual(scoped.json.state, { _shared: { phase: "lobby" } });

  const bad = await wait(alice, `condition=true&include=${q("state,secrets")}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, "invalid_query");
  assert.equal(bad.json.field, "include");
});

Deno.test("while blocked the agent is 'waiting' with waiting_on in GET /agents and /context, then 'active'", async () => {
  const { s, c, room, alice, bob, wait } = await setup();
  await using _ = s;
  const cond = "state._shared.go == true";
  const pending = wait(alice, `condition=${q(cond)}`);
  let seen: Res | undefined;
  await until(async () => {
    seen = await c.http("GET", `/rooms/${room.id}/agents`, { token: bob });
    return seen.json.find((a: { id: string }) => a.id === "alice").status === "waiting";
  }, { what: "alice to show as waiting" });
  assert.equal(seen!.json.find((a: { id: string }) => a.id === "alice").waiting_on, cond);
  const ctx = await c.context(room.id, bob);
  assert.equal(ctx.agents.alice.status, "waiting");
  assert.equal(ctx.agents.alice.waiting_on, cond);
  const ev = await c.http("POST", `/rooms/${room.id}/eval`, {
    token: bob,
    body: { expr: 'agents.alice.status == "waiting"' },
  });
  assert.equal(ev.json.value, true);

  await c.ok(room.id, room.token, "_set_state", { key: "go", value: true });
  assert.equal((await pending).json.triggered, true);
  const after = (await c.http("GET", `/rooms/${room.id}/agents`, { token: bob })).json
    .find((a: { id: string }) => a.id === "alice");
  assert.equal(after.status, "active");
  assert.equal(after.waiting_on, null);
});

Deno.test("a client that disconnects releases its waiter at once", async () => {
  const { s, room, alice, wait, agentStatus } = await setup();
  await using _ = s;
  const ac = new AbortController();
  const pending = wait(alice, `condition=${q("state._shared.never == 1")}`, ac.signal).catch((e) => e);
  await until(() => s.eng.metrics.waiters === 1, { what: "the waiter to register" });
  assert.equal((await agentStatus("alice")).status, "waiting");
  ac.abort();
  assert.ok((await pending) instanceof Error);
  await until(() => s.eng.metrics.waiters === 0, { what: "the server to release the waiter" });
  assert.equal(await metric(s.base, "agent_sync_waiters"), 0, "the /metrics gauge says so too");
  const a = await agentStatus("alice");
  assert.equal(a.status, "active");
  assert.equal(a.waiting_on, null);
  const r = await s.eng.rooms.get(room.id);
  assert.equal(r.rt.listeners.size, 0);
});

Deno.test("wait conditions use the waiter's privacy: another agent's scope never triggers and a missing key means not yet", async () => {
  const { s, c, room, alice, bob, wait } = await setup();
  await using _ = s;
  await c.ok(room.id, alice, "_set_state", { key: "secret", value: "north" });
  // bob cannot see alice's scope: not true now, and alice writing it again does not wake him
  const pending = wait(bob, `condition=${q('state.alice.secret == "north"')}&timeout=300`);
  await until(() => s.eng.metrics.waiters === 1, { what: "bob to block" });
  await c.ok(room.id, alice, "_set_state", { key: "secret", value: "north" });
  const r = await pending;
  assert.equal(r.json.triggered, false);
  assert.equal(r.json.timeout, true);
  assert.ok(!r.text.includes("north"));

  const probe = await wait(bob, `condition=${q('has(state.alice) || "alice" in state')}&timeout=10`);
  assert.equal(probe.json.triggered, false, "bob cannot even learn that alice's scope exists");

  // a missing key is "not yet": alice waits on a key nobody has written, then it appears
  const later = wait(alice, `condition=${q("state._shared.flag == true")}`);
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  await c.ok(room.id, bob, "_send_message", { body: "unrelated" });
  await c.ok(room.id, room.token, "_set_state", { key: "flag", value: true });
  assert.equal((await later).json.triggered, true);

  // alice's own scope is visible to her under her id and as self
  const own = await wait(
    alice,
    `condition=${q('state.alice.secret == "north" && state.self.secret == "north"')}`,
  );
  assert.equal(own.json.triggered, true);
});

Deno.test("a timer expiry wakes the waiters whose condition it changes (fake clock)", async () => {
  const { s, c, room, alice, wait } = await setup({ fakeClock: true });
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", {
    key: "bomb",
    value: 1,
    timer: { ms: 60_000, effect: "delete" },
  });
  await c.ok(room.id, room.token, "_set_state", {
    key: "door",
    value: "open",
    timer: { ms: 120_000, effect: "enable" },
  });
  // an entry and a view whose `enabled` flips when the bomb's timer removes it
  await c.ok(room.id, room.token, "_set_state", {
    key: "treasure",
    value: "gold",
    enabled: "!has(state._shared.bomb)",
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: "safe",
    expr: "true",
    enabled: "!has(state._shared.bomb)",
  });
  const gone = wait(alice, `condition=${q("!has(state._shared.bomb)")}`);
  const opened = wait(alice, `condition=${q('state._shared.door == "open"')}`);
  const found = wait(alice, `condition=${q('state._shared.treasure == "gold"')}`);
  const safe = wait(alice, `condition=${q('"safe" in views && views.safe')}`);
  await until(() => s.eng.metrics.waiters === 4, { what: "the waiters to block" });
  const listening = async () => (await s.eng.rooms.get(room.id)).rt.listeners.size;
  // advancing the clock re-checks every waiter at once, and a woken one stops listening at once
  s.clock.advance(30_000);
  assert.equal(await listening(), 4, "nothing expired yet");
  s.clock.advance(30_001);
  const g = await gone;
  assert.equal(g.json.triggered, true);
  assert.equal(g.json.context.state._shared.bomb, undefined);
  assert.equal((await found).json.triggered, true);
  assert.equal((await safe).json.context.views.safe, true);
  assert.equal(s.eng.metrics.waiters, 1);
  s.clock.advance(60_000);
  const o = await opened;
  assert.equal(o.json.triggered, true);
  assert.equal(o.json.context.state._shared.door, "open");
});

Deno.test("a real short timer wakes a waiter without any write (boundary scheduling)", async () => {
  const { s, c, room, alice, wait } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", {
    key: "flash",
    value: 1,
    timer: { ms: 40, effect: "delete" },
  });
  const r = await wait(alice, `condition=${q("!has(state._shared.flash)")}&timeout=20000`);
  assert.equal(r.json.triggered, true);
  assert.equal(r.json.timeout, undefined);
});

Deno.test("wait after=CURSOR is edge-triggered and reports changes and new message seqs", async () => {
  const { s, c, room, alice, bob, wait, barrier } = await setup();
  await using _ = s;
  const c0 = (await c.context(room.id, alice)).cursor as number;
  const w1 = await c.ok(room.id, room.token, "_set_state", { key: "x", value: 1 });
  const c1 = (await c.context(room.id, alice)).cursor as number;
  assert.ok(c1 > c0);
  void w1;

  // since c0 something visible changed and x holds: immediate, with the change listed
  const first = await wait(alice, `condition=${q("state._shared.x == 1")}&after=${c0}`);
  assert.equal(first.json.triggered, true);
  assert.deepEqual(first.json.changes, [{ scope: "_shared", key: "x", version: 1 }]);
  assert.deepEqual(first.json.messages_since, []);
  assert.equal(first.json.cursor, c1);

  // since c1 nothing changed: the already-seen write does not re-trigger
  let settled = false;
  const pending = wait(alice, `condition=${q("state._shared.x == 1")}&after=${c1}`).finally(() =>
    settled = true
  );
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  // a change alice cannot see does not count either: once the barrier saw bob's commit, so had alice
  const seen = await barrier();
  await c.ok(room.id, bob, "_set_state", { key: "private", value: 1 });
  await seen();
  assert.equal(settled, false, "bob's private write must not wake alice");
  assert.equal(s.eng.metrics.waiters, 1, "alice is still waiting");
  await c.ok(room.id, bob, "_send_message", { body: "hi" });
  const r = await pending;
  assert.equal(r.json.triggered, true);
  assert.deepEqual(r.json.changes.filter((ch: { scope: string }) => ch.scope !== "_messages"), []);
  assert.ok(!r.json.changes.some((ch: { scope: string }) => ch.scope === "bob"));
  assert.deepEqual(r.json.messages_since, [1]);
  assert.ok(r.json.cursor > c1);

  // repeated writes to one key are reported once with the latest version
  const c2 = r.json.cursor;
  await c.ok(room.id, room.token, "_set_state", { key: "x", value: 2 });
  await c.ok(room.id, room.token, "_set_state", { key: "x", value: 3 });
  const again = await wait(alice, `condition=true&after=${c2}&include=state`);
  assert.deepEqual(again.json.changes, [{ scope: "_shared", key: "x", version: 3 }]);
  assert.equal(again.json.state._shared.x, 3);
  assert.equal(again.json.context, undefined);
});

Deno.test("wait agent=<other> is 403 identity_mismatch; the room token may wait as an agent", async () => {
  const { s, c, room, alice, wait, agentStatus } = await setup();
  await using _ = s;
  const r = await wait(alice, "condition=true&agent=bob");
  assert.equal(r.status, 403);
  assert.equal(r.json.error, "identity_mismatch");
  assert.equal((await wait(alice, "condition=true&agent=alice")).status, 200);
  const viewer = await wait(room.view, "condition=true&agent=bob");
  assert.equal(viewer.status, 403);
  assert.equal((await wait("", "condition=true")).status, 401);

  const pending = wait(room.token, `condition=${q("state._shared.go == 1")}&agent=bob`);
  await until(async () => (await agentStatus("bob")).status === "waiting", {
    what: "bob (via room token) to block",
  });
  await c.ok(room.id, room.token, "_set_state", { key: "go", value: 1 });
  const done = await pending;
  assert.equal(done.json.context.self, "bob");
  assert.equal((await agentStatus("bob")).status, "active");
});

Deno.test("wait returns 404 room_not_found for an unknown room", async () => {
  const { s, alice } = await setup();
  await using _ = s;
  const r = await http(s.base, "GET", "/rooms/nope/wait?condition=true", { token: alice });
  assert.equal(r.status, 404);
  assert.equal(r.json.error, "room_not_found");
});

Deno.test("200 concurrent waiters in one room all wake on one write, and all time out when nothing happens", async () => {
  const { s, c, room, wait } = await setup();
  await using _ = s;
  const N = 200;
  const tokens: string[] = [];
  for (let i = 0; i < 10; i++) tokens.push(await c.join(room.id, `w${i}`));

  const woken = Array.from(
    { length: N },
    (_, i) => wait(tokens[i % 10], `condition=${q("state._shared.go == true")}`),
  );
  await until(() => s.eng.metrics.waiters === N, { what: `${N} waiters to block` });
  await c.ok(room.id, room.token, "_set_state", { key: "go", value: true });
  const rs = await Promise.all(woken);
  assert.equal(rs.filter((r) => r.status === 200 && r.json.triggered === true).length, N);
  assert.equal(s.eng.metrics.waiters, 0);

  const idle = Array.from(
    { length: N },
    (_, i) => wait(tokens[i % 10], `condition=${q("state._shared.stop == true")}&timeout=200&include=state`),
  );
  const ts = await Promise.all(idle);
  assert.equal(
    ts.filter((r) => r.status === 200 && r.json.triggered === false && r.json.timeout === true).length,
    N,
  );
  assert.equal(s.eng.metrics.waiters, 0);
  const r = await s.eng.rooms.get(room.id);
  assert.equal(r.rt.listeners.size, 0);
  const agents = (await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token })).json;
  assert.ok(agents.every((a: { status: string }) => a.status !== "waiting"));
});
