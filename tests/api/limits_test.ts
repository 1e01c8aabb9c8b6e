/**
 * Abuse under load: per-token rate limiting (`429 rate_limited` + `Retry-After`), per-room quotas with
 * clear 4xx errors, and idle waiters plus slow partial requests that do not hold up other clients.
 */
import assert from "node:assert/strict";
import { client, http, type Res, startServer } from "../_server.ts";
import { metric, until } from "../_setup.ts";

Deno.test("a token over its rate gets 429 rate_limited with Retry-After; other tokens and /healthz are unaffected", async () => {
  await using s = await startServer({ fakeClock: true, limits: { rateLimitPerSec: 2, rateLimitBurst: 4 } });
  const c = client(s.base);
  const room = await c.createRoom("rl");
  const alice = await c.join(room.id, "alice");
  for (let i = 0; i < 4; i++) await c.ok(room.id, alice, "_set_state", { key: "n", value: i });
  const over = await c.invoke(room.id, alice, "_set_state", { key: "n", value: 99 });
  assert.equal(over.status, 429);
  assert.equal(over.json.error, "rate_limited");
  assert.equal(over.headers.get("x-error-code"), "rate_limited");
  assert.equal(over.headers.get("retry-after"), "1");
  assert.equal(over.json.retry_after_ms, 500);
  assert.equal(typeof over.json.message, "string");
  // reads count too, and the refused call was not applied
  assert.equal((await c.http("GET", `/rooms/rl/state?key=n`, { token: alice })).status, 429);
  const admin = await c.http("GET", `/rooms/rl/state?scope=alice&key=n`, { token: room.token });
  assert.equal(admin.status, 200);
  assert.equal(admin.json.value, 3);
  assert.equal((await http(s.base, "GET", "/healthz")).status, 200);
  s.clock.advance(500);
  await c.ok(room.id, alice, "_set_state", { key: "n", value: 4 });
  assert.equal((await c.invoke(room.id, alice, "_set_state", { key: "n", value: 5 })).status, 429);
});

Deno.test("the state-entry quota refuses new keys with 429 quota_exceeded but allows overwrites", async () => {
  await using s = await startServer({ limits: { roomMaxEntries: 3 } });
  const c = client(s.base);
  const room = await c.createRoom("q1");
  const alice = await c.join(room.id, "alice");
  for (const k of ["a", "b", "c"]) await c.ok(room.id, alice, "_set_state", { key: k, value: 1 });
  const r = await c.invoke(room.id, alice, "_set_state", { key: "d", value: 1 });
  assert.equal(r.status, 429);
  assert.equal(r.json.error, "quota_exceeded");
  assert.equal(r.json.quota, "room_entries");
  assert.equal(r.json.limit, 3);
  await c.ok(room.id, alice, "_set_state", { key: "a", value: 2 });
  await c.ok(room.id, alice, "_delete_state", { key: "b" });
  await c.ok(room.id, alice, "_set_state", { key: "d", value: 1 });
});

Deno.test("the stored-bytes quota counts the write being made", async () => {
  await using s = await startServer({ limits: { roomMaxBytes: 100 } });
  const c = client(s.base);
  const room = await c.createRoom("q2");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, alice, "_set_state", { key: "a", value: "x".repeat(60) });
  const r = await c.invoke(room.id, alice, "_set_state", { key: "b", value: "y".repeat(60) });
  assert.equal(r.status, 429);
  assert.equal(r.json.error, "quota_exceeded");
  assert.equal(r.json.quota, "room_bytes");
  // shrinking is always allowed, and then the room has room again
  await c.ok(room.id, alice, "_set_state", { key: "a", value: "x" });
  await c.ok(room.id, alice, "_set_state", { key: "b", value: "y".repeat(60) });
});

Deno.test("action and view quotas refuse the next registration with 429 quota_exceeded", async () => {
  await using s = await startServer({ limits: { roomMaxActions: 2, roomMaxViews: 2 } });
  const c = client(s.base);
  const room = await c.createRoom("q3");
  for (const id of ["a1", "a2"]) await c.ok(room.id, room.token, "_register_action", { id, writes: [] });
  const a = await c.invoke(room.id, room.token, "_register_action", { id: "a3", writes: [] });
  assert.equal(a.status, 429);
  assert.equal(a.json.error, "quota_exceeded");
  await c.ok(room.id, room.token, "_register_action", {
    id: "a1",
    description: "re-registering is fine",
    writes: [],
  });
  for (const id of ["v1", "v2"]) await c.ok(room.id, room.token, "_register_view", { id, expr: "1" });
  const v = await c.invoke(room.id, room.token, "_register_view", { id: "v3", expr: "1" });
  assert.equal(v.status, 429);
  assert.equal(v.json.error, "quota_exceeded");
});

Deno.test("the per-room message rate refuses the excess with 429 quota_exceeded and recovers with time", async () => {
  await using s = await startServer({ fakeClock: true, limits: { roomMessagesPerSec: 2 } });
  const c = client(s.base);
  const room = await c.createRoom("q4");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, alice, "_send_message", { body: "1" });
  await c.ok(room.id, alice, "_send_message", { body: "2" });
  const r = await c.invoke(room.id, alice, "_send_message", { body: "3" });
  assert.equal(r.status, 429);
  assert.equal(r.json.error, "quota_exceeded");
  assert.equal(r.json.quota, "room_messages_per_sec");
  assert.equal(r.json.retry_after_ms, 500);
  // a custom action appending to _messages is limited the same way; other writes are not
  await c.ok(room.id, room.token, "_register_action", {
    id: "say",
    writes: [{ scope: "_messages", append: true, value: "hi" }],
  });
  assert.equal((await c.invoke(room.id, alice, "say")).status, 429);
  await c.ok(room.id, alice, "_set_state", { key: "x", value: 1 });
  s.clock.advance(1000);
  await c.ok(room.id, alice, "say");
  const other = await c.createRoom("q4b");
  await c.ok(other.id, other.token, "_send_message", { body: "other rooms have their own budget" });
  const audit = await c.http("GET", `/rooms/q4/poll?audit_limit=50`, { token: room.token });
  assert.ok(
    audit.json.audit.some((a: { error: string }) => a.error === "quota_exceeded"),
    "the refusal is audited",
  );
});

/** Opens a raw connection that sends headers promising a body and then only part of it. */
async function slowPartialRequest(base: string, path: string): Promise<Deno.TcpConn> {
  const u = new URL(base);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const head =
    `POST ${path} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"id":`;
  await conn.write(new TextEncoder().encode(head));
  return conn;
}

Deno.test("300 idle waiters and slow partial requests do not hold up other clients", async () => {
  await using s = await startServer({ limits: { rateLimitPerSec: 0 } });
  const c = client(s.base);
  const room = await c.createRoom("idle");
  const bob = await c.join(room.id, "bob");
  const ac = new AbortController();
  const waits: Promise<Res | undefined>[] = [];
  for (let i = 0; i < 300; i++) {
    waits.push(
      c.http(
        "GET",
        `/rooms/idle/wait?condition=${encodeURIComponent("state._shared.go == true")}&timeout=20000`,
        {
          token: room.token,
          signal: ac.signal,
        },
      ).catch(() => undefined),
    );
  }
  const slow: Deno.TcpConn[] = [];
  for (let i = 0; i < 5; i++) slow.push(await slowPartialRequest(s.base, "/rooms"));
  for (const conn of slow) await conn.write(new TextEncoder().encode(' "sl'));
  try {
    await until(async () => await metric(s.base, "agent_sync_waiters") === 300, {
      what: "all 300 waiters to block",
    });
    const normal = await Promise.all(
      Array.from({ length: 50 }, (_, i) => c.invoke(room.id, bob, "_set_state", { key: `k${i}`, value: i })),
    );
    for (const r of normal) assert.equal(r.status, 200, r.text);
    assert.equal((await c.http("GET", `/rooms/idle/context`, { token: bob })).status, 200);
    // one write wakes them all
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "go", value: true });
    const woken = await Promise.all(waits);
    for (const r of woken) assert.equal(r?.json.triggered, true);
  } finally {
    ac.abort();
    await Promise.all(waits);
    for (const conn of slow) conn.close();
  }
  const m = await http(s.base, "GET", "/metrics");
  assert.match(m.text, /^agent_sync_waiters 0$/m);
});
