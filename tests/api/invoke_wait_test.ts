/**
 * Invoke-and-wait (issue 9): `POST /actions/:id/invoke` with `wait` commits like a plain invocation, then
 * blocks until the condition holds for a state committed after it; refusals and bad waits never block.
 */
import assert from "node:assert/strict";
import { setupRoom, until } from "../_setup.ts";

async function setup() {
  const fx = await setupRoom();
  const { c, room } = fx;
  // agents write _shared through a custom action (a plain _set_state on _shared is the room token's)
  await c.ok(room.id, room.token, "_register_action", {
    id: "put",
    params: { key: { type: "string", required: true }, value: { type: "any" } },
    writes: [{ scope: "_shared", key: "${params.key}", value: "${params.value}" }],
  });
  const invokeWait = (
    token: string,
    action: string,
    params: unknown,
    wait: Record<string, unknown>,
    signal?: AbortSignal,
  ) =>
    c.http("POST", `/rooms/${room.id}/actions/${action}/invoke`, { token, body: { params, wait }, signal });
  return { ...fx, invokeWait };
}

Deno.test("invoke with wait returns the invocation and the wake in one response", async () => {
  const { s, c, room, alice, bob, invokeWait } = await setup();
  await using _ = s;
  const pending = invokeWait(alice, "put", { key: "ping", value: 1 }, {
    condition: "has(state._shared.pong)",
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  // the invocation committed before the wait started: others see it already
  assert.equal((await c.context(room.id, bob)).state._shared.ping, 1);
  await c.ok(room.id, bob, "put", { key: "pong", value: 2 });
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.action, "put");
  assert.deepEqual(r.json.writes.map((w: { key: string }) => w.key), ["ping"]);
  assert.equal(typeof r.json.cursor, "number");
  assert.equal(r.json.wait.triggered, true);
  assert.equal(r.json.wait.value, true);
  assert.ok(r.json.wait.cursor > r.json.cursor, "the wake describes a later commit than the invocation's");
  // default include is changes: what happened after the invocation, with values, and no full context
  assert.deepEqual(r.json.wait.changes, [{ scope: "_shared", key: "pong", version: 1, value: 2 }]);
  assert.equal(r.json.wait.context, undefined);
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("invoke-and-wait never wakes on the state its own invocation produced", async () => {
  const { s, c, room, alice, bob, invokeWait, barrier } = await setup();
  await using _ = s;
  // the condition is true as soon as alice's own write commits: that must not count
  const pending = invokeWait(alice, "put", { key: "x", value: 1 }, {
    condition: "state._shared.x == 1",
    timeout: 20_000,
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  // a later commit alice cannot see does not wake her either: once the barrier saw it, so had alice
  const seen = await barrier();
  await c.ok(room.id, bob, "_set_state", { key: "secret", value: 7 });
  await seen();
  assert.equal(s.eng.metrics.waiters, 1, "neither her own write nor bob's private one may wake alice");
  // a later visible commit with the condition still true wakes her
  await c.ok(room.id, bob, "put", { key: "y", value: 1 });
  const r = await pending;
  assert.equal(r.json.wait.triggered, true);
  assert.deepEqual(r.json.wait.changes, [{ scope: "_shared", key: "y", version: 1, value: 1 }]);
  assert.ok(!r.text.includes("secret"), "bob's private key must not appear in alice's response");
});

Deno.test("a refused invocation with wait returns its refusal at once and does not wait", async () => {
  const { s, c, room, alice, invokeWait } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "closed",
    if: "state._shared.open == true",
    writes: [{ scope: "_shared", key: "n", increment: 1 }],
  });
  const r = await invokeWait(alice, "closed", {}, { condition: "true", timeout: 20_000 });
  assert.equal(r.status, 409);
  assert.equal(r.json.error, "precondition_failed");
  assert.equal(r.json.wait, undefined);
  assert.equal(s.eng.metrics.waiters, 0);
  const unknown = await invokeWait(alice, "nope", {}, { condition: "true", timeout: 20_000 });
  assert.equal(unknown.status, 404);
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("invoke with an invalid wait is a 400 and commits nothing", async () => {
  const { s, c, room, alice, invokeWait } = await setup();
  await using _ = s;
  const before = (await c.context(room.id, alice)).cursor;
  const bad = [
    [{ condition: "state._shared.x ==" }, "invalid_cel"],
    [{ condition: "true", include: "everything" }, "invalid_query"],
    [{ condition: "true", timeout: -1 }, "invalid_body"],
    [{ condition: "true", bogus: 1 }, "invalid_body"],
    [{ timeout: 5 }, "invalid_body"],
  ] as const;
  for (const [wait, code] of bad) {
    const r = await invokeWait(alice, "put", { key: "x", value: 1 }, wait);
    assert.equal(r.status, 400, JSON.stringify(wait));
    assert.equal(r.json.error, code, JSON.stringify(wait));
    assert.equal(typeof r.json.message, "string");
  }
  const ctx = await c.context(room.id, alice);
  assert.equal(ctx.state._shared?.x, undefined, "a bad wait must not let the invocation commit");
  assert.equal(ctx.cursor, before);
});

Deno.test("invoke-and-wait times out with triggered:false and the cursor", async () => {
  const { s, alice, invokeWait } = await setup();
  await using _ = s;
  const r = await invokeWait(alice, "_set_state", { key: "x", value: 1 }, { condition: "false", timeout: 1 });
  assert.equal(r.status, 200);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.writes[0].value, 1);
  assert.equal(r.json.wait.triggered, false);
  assert.equal(r.json.wait.timeout, true);
  assert.equal(typeof r.json.wait.cursor, "number");
  assert.ok(r.json.wait.cursor >= r.json.cursor);
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("a client that disconnects during invoke-and-wait releases its waiter; the write stays", async () => {
  const { s, c, room, alice, invokeWait } = await setup();
  await using _ = s;
  const before = s.eng.metrics.waiters;
  const ac = new AbortController();
  const pending = invokeWait(alice, "put", { key: "left", value: true }, {
    condition: "false",
    timeout: 20_000,
  }, ac.signal).catch((e) => e);
  await until(() => s.eng.metrics.waiters === before + 1, { what: "alice to block" });
  ac.abort();
  assert.ok((await pending) instanceof Error);
  await until(() => s.eng.metrics.waiters === before, { what: "the waiter to be released" });
  assert.equal((await c.context(room.id, alice)).state._shared.left, true);
  const agents = (await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token })).json;
  const me = (Array.isArray(agents) ? agents : agents.agents).find((a: { id: string }) => a.id === "alice");
  assert.notEqual(me.status, "waiting");
});

Deno.test("invoke-and-wait with wait.after lists changes since the caller's cursor", async () => {
  const { s, c, room, alice, bob, invokeWait } = await setup();
  await using _ = s;
  const seen = (await c.context(room.id, alice)).cursor;
  await c.ok(room.id, bob, "put", { key: "meanwhile", value: "b" });
  const pending = invokeWait(alice, "put", { key: "mine", value: "a" }, {
    condition: "has(state._shared.go)",
    include: ["changes", "state"],
    after: seen,
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  await c.ok(room.id, bob, "put", { key: "go", value: 1 });
  const r = await pending;
  const keys = r.json.wait.changes.map((ch: { key: string }) => ch.key).sort();
  assert.deepEqual(keys, ["go", "mine", "meanwhile"].sort(), "bob's earlier write is not lost between calls");
  assert.equal(r.json.wait.state._shared.go, 1);
});

Deno.test("a retried invoke-and-wait (same Idempotency-Key) waits after the first call's commit: a wake in between is not missed", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  const body = {
    params: { key: "ping", value: 1 },
    wait: { condition: "has(state._shared.pong)", timeout: 10_000 },
  };
  const send = (signal?: AbortSignal) =>
    c.http("POST", `/rooms/${room.id}/actions/put/invoke`, {
      token: alice,
      body,
      headers: { "idempotency-key": "turn-7" },
      signal,
    });
  // the first call commits and blocks; its client goes away before the answer
  const ac = new AbortController();
  const first = send(ac.signal).catch((e) => e);
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  ac.abort();
  assert.ok((await first) instanceof Error);
  await until(() => s.eng.metrics.waiters === 0, { what: "the waiter to be released" });
  const committedAt = (await c.context(room.id, alice)).cursor; // nothing else committed since
  // the wake-up arrives while alice is reconnecting
  await c.ok(room.id, bob, "put", { key: "pong", value: 2 });
  const retry = await send();
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.json.cursor, committedAt, "the replay answers at the first call's cursor");
  assert.deepEqual(
    retry.json.writes,
    [{ scope: "_shared", key: "ping", value: 1, version: 1 }],
    "not run twice",
  );
  assert.equal(retry.json.wait.triggered, true, `the retry saw bob's commit: ${retry.text}`);
  assert.ok(retry.json.wait.cursor > retry.json.cursor, "the wake is after the first call's commit");
  assert.deepEqual(retry.json.wait.changes, [{ scope: "_shared", key: "pong", version: 1, value: 2 }]);
  const ping = await c.http("GET", `/rooms/${room.id}/state?scope=_shared&key=ping`, { token: alice });
  assert.equal(ping.json.version, 1, "the retry wrote nothing");
});
