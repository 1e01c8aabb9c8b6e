/**
 * Operations: /healthz, /metrics (Prometheus text), request ids and structured request logs, room export
 * and import under a new id with new tokens, and DELETE /rooms/:id removing every row.
 */
import assert from "node:assert/strict";
import { createApp } from "../../app.ts";
import { client, http, startServer } from "../_server.ts";
import { metric, until } from "../_setup.ts";

Deno.test("GET /healthz is 200 {ok:true} while the database answers and 503 when it does not", async () => {
  await using s = await startServer();
  const r = await http(s.base, "GET", "/healthz");
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { ok: true });
  s.store.close();
  const down = await http(s.base, "GET", "/healthz");
  assert.equal(down.status, 503);
  assert.equal(down.json.error, "db_unavailable");
});

Deno.test("GET /metrics reports requests by route and status, invocations by outcome, waiters, commits and rooms", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("m");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, alice, "_set_state", { key: "a", value: 1 });
  await c.ok(room.id, alice, "_set_state", { key: "a", value: 2 });
  assert.equal(
    (await c.invoke(room.id, alice, "_set_state", { key: "a", value: 3, if_version: 1 })).status,
    409,
  );
  assert.equal((await c.http("GET", "/rooms/m/context")).status, 401);
  const ac = new AbortController();
  const waiting = c.http("GET", `/rooms/m/wait?condition=${encodeURIComponent("state.self.a == 100")}`, {
    token: alice,
    signal: ac.signal,
  })
    .catch(() => undefined);
  const text = await until(async () => {
    const t = (await http(s.base, "GET", "/metrics")).text;
    return /^agent_sync_waiters 1$/m.test(t) && t;
  }, { what: "the waiter to show in /metrics" });
  ac.abort();
  await waiting;
  // a disconnect releases the waiter as soon as the server sees it
  const r = await until(async () => {
    const m = await http(s.base, "GET", "/metrics");
    return /^agent_sync_waiters 0$/m.test(m.text) && m;
  }, { what: "the released waiter to leave /metrics" });
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.match(text, /^agent_sync_waiters 1$/m);
  assert.match(text, /^# TYPE agent_sync_http_requests_total counter$/m);
  assert.match(
    text,
    /^agent_sync_http_requests_total\{method="POST",route="\/rooms\/:id\/actions\/:action\/invoke",status="200"\} 2$/m,
  );
  assert.match(
    text,
    /^agent_sync_http_requests_total\{method="POST",route="\/rooms\/:id\/actions\/:action\/invoke",status="409"\} 1$/m,
  );
  assert.match(
    text,
    /^agent_sync_http_requests_total\{method="GET",route="\/rooms\/:id\/context",status="401"\} 1$/m,
  );
  assert.match(text, /^agent_sync_invocations_total\{outcome="ok"\} 2$/m);
  assert.match(text, /^agent_sync_invocations_total\{outcome="version_conflict"\} 1$/m);
  assert.match(text, /^agent_sync_rooms_in_memory 1$/m);
  assert.match(text, /^# TYPE agent_sync_commit_seconds histogram$/m);
  const batches = Number(/^agent_sync_commit_seconds_count (\d+)$/m.exec(text)?.[1]);
  assert.ok(batches >= 3);
  assert.match(text, new RegExp(`^agent_sync_commit_seconds_bucket\\{le="\\+Inf"\\} ${batches}$`, "m"));
  assert.match(r.text, /^agent_sync_waiters 0$/m);
  // hostile paths share one label instead of growing the series
  await http(s.base, "GET", "/no/such/path/123");
  assert.match((await http(s.base, "GET", "/metrics")).text, /route="unmatched",status="404"/);
});

Deno.test("every response carries X-Request-Id and SYNC_LOG=requests writes one JSON line per request", async () => {
  await using s = await startServer();
  const lines: Record<string, unknown>[] = [];
  const app = createApp({ eng: s.eng, logRequests: true, log: (l) => lines.push(l) });
  const given = await app.fetch(
    new Request("http://x/rooms/nope/context", { headers: { "x-request-id": "trace-42" } }),
  );
  await given.body?.cancel();
  assert.equal(given.status, 404);
  assert.equal(given.headers.get("x-request-id"), "trace-42");
  const fresh = await app.fetch(
    new Request("http://x/healthz", { headers: { authorization: "Bearer room_secret" } }),
  );
  await fresh.body?.cancel();
  const id = fresh.headers.get("x-request-id");
  assert.match(id ?? "", /^[0-9a-f]{8}-[0-9a-z]+$/);
  assert.equal(lines.length, 2);
  assert.deepEqual(
    { ...lines[0], ts: undefined, ms: undefined },
    {
      ts: undefined,
      ms: undefined,
      level: "info",
      msg: "request",
      request_id: "trace-42",
      method: "GET",
      route: "/rooms/:id/context",
      path: "/rooms/nope/context",
      status: 404,
    },
  );
  assert.equal(lines[1].request_id, id);
  assert.ok(!JSON.stringify(lines).includes("room_secret"), "tokens are never logged");
  const quiet = await http(s.base, "GET", "/healthz");
  assert.ok(quiet.headers.get("x-request-id"));
});

async function populatedRoom(base: string) {
  const c = client(base);
  const room = await c.createRoom("src", { meta: { title: "source" } });
  const alice = await c.join(room.id, "alice", { role: "scout" });
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, room.token, "_register_action", {
    id: "bump",
    params: { by: { type: "integer", default: 1 } },
    writes: [{ scope: "_shared", key: "counter", increment: "${params.by}" }],
  });
  await c.ok(room.id, alice, "_set_state", { key: "secret", value: { hp: 7 } });
  await c.ok(room.id, alice, "_register_view", { id: "alice.hp", expr: "state.alice.secret.hp" });
  await c.ok(room.id, alice, "bump", { by: 2 });
  await c.ok(room.id, bob, "_send_message", { body: "hello", to: "alice" });
  await c.ok(room.id, bob, "_send_message", { body: "again" });
  assert.equal((await c.invoke(room.id, bob, "nope")).status, 404);
  return { c, room, alice, bob };
}

Deno.test("GET /rooms/:id/export needs the room token and holds state, agents, actions, views, messages and audit", async () => {
  await using s = await startServer();
  const { c, room, alice, bob } = await populatedRoom(s.base);
  assert.equal((await c.http("GET", "/rooms/src/export", { token: alice })).status, 403);
  assert.equal((await c.http("GET", "/rooms/src/export", { token: room.view })).status, 403);
  assert.equal((await c.http("GET", "/rooms/src/export")).status, 401);
  const r = await c.http("GET", "/rooms/src/export", { token: room.token });
  assert.equal(r.status, 200);
  const snap = r.json;
  assert.equal(snap.format, "agent-sync.room/v2");
  assert.deepEqual(snap.room.meta, { title: "source" });
  assert.deepEqual(snap.agents.map((a: { id: string }) => a.id).sort(), ["alice", "bob"]);
  assert.ok(
    !r.text.includes("token_hash") && !r.text.includes(alice) && !r.text.includes(bob),
    "no token material",
  );
  const counter = snap.state.find((e: { key: string }) => e.key === "counter");
  assert.deepEqual([counter.value, counter.version], [2, 1]);
  assert.deepEqual(snap.actions.map((a: { id: string }) => a.id), ["bump"]);
  assert.deepEqual(snap.views.map((v: { id: string }) => v.id), ["alice.hp"]);
  assert.deepEqual(snap.messages.map((m: { body: string }) => m.body), ["hello", "again"]);
  assert.equal(snap.audit.length, 7);
  assert.deepEqual(snap.audit.map((a: { seq: number }) => a.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(snap.audit.at(-1).error, "action_not_found");
});

Deno.test("POST /rooms/import restores a snapshot under a new id with new tokens, shown once", async () => {
  await using s = await startServer();
  const { c, room, alice } = await populatedRoom(s.base);
  const snap = (await c.http("GET", "/rooms/src/export", { token: room.token })).json;
  const r = await c.http("POST", "/rooms/import", { body: { ...snap, id: "copy" } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, "copy");
  assert.match(r.json.token, /^room_/);
  assert.match(r.json.view_token, /^view_/);
  assert.deepEqual(Object.keys(r.json.agent_tokens).sort(), ["alice", "bob"]);
  const newAlice = r.json.agent_tokens.alice;
  // the old tokens belong to the old room only
  assert.equal((await c.http("GET", "/rooms/copy/context", { token: alice })).status, 401);
  assert.equal((await c.http("GET", "/rooms/copy/context", { token: room.token })).status, 401);
  const ctx = await c.context("copy", newAlice);
  assert.deepEqual(ctx.state.self, { secret: { hp: 7 } });
  assert.equal(ctx.state._shared.counter, 2);
  assert.equal(ctx.views["alice.hp"], 7);
  assert.equal(ctx.messages.count, 2);
  // the imported action works and the history continues from the imported audit
  const bumped = await c.ok("copy", newAlice, "bump", { by: 3 });
  assert.equal(bumped.writes[0].value, 5);
  assert.equal(bumped.writes[0].version, 2);
  const copy = (await c.http("GET", "/rooms/copy/export", { token: r.json.token })).json;
  assert.deepEqual(copy.audit.slice(0, 7), snap.audit);
  assert.equal(copy.audit[7].seq, 8);
  // the source is untouched; importing over an existing id is refused
  assert.equal((await c.context("src", alice)).state._shared.counter, 2);
  const again = await c.http("POST", "/rooms/import", { body: { ...snap, id: "copy" } });
  assert.equal(again.status, 409);
  assert.equal(again.json.error, "room_exists");
  const anon = await c.http("POST", "/rooms/import", { body: snap });
  assert.equal(anon.status, 201);
  assert.notEqual(anon.json.id, "src");
});

Deno.test("POST /rooms/import refuses malformed snapshots with 400 naming the problem", async () => {
  await using s = await startServer();
  const { c, room } = await populatedRoom(s.base);
  const snap = (await c.http("GET", "/rooms/src/export", { token: room.token })).json;
  const cases: [unknown, string][] = [
    [{}, "invalid_body"],
    [{ ...snap, format: "other" }, "invalid_body"],
    [{ ...snap, messages: [{ ...snap.messages[1] }] }, "invalid_body"],
    [{ ...snap, actions: [{ ...snap.actions[0], if: "((" }] }, "invalid_cel"],
    [{ ...snap, views: [{ ...snap.views[0], expr: 42 }] }, "invalid_body"],
    [{ ...snap, id: "bad id!" }, "invalid_body"],
  ];
  for (const [body, code] of cases) {
    const r = await c.http("POST", "/rooms/import", { body });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, code, r.text);
  }
  const bad = await c.http("POST", "/rooms/import", { raw: "{nope" });
  assert.equal(bad.json.error, "invalid_json");
});

Deno.test("DELETE /rooms/:id needs the room token, removes every row, and answers its waiters", async () => {
  await using s = await startServer();
  const { c, room, alice } = await populatedRoom(s.base);
  assert.equal((await c.http("DELETE", "/rooms/src", { token: alice })).status, 403);
  assert.equal((await c.http("DELETE", "/rooms/src", { token: room.view })).status, 403);
  const waiter = c.http(
    "GET",
    `/rooms/src/wait?condition=${encodeURIComponent("state._shared.counter > 50")}&timeout=20000`,
    {
      token: alice,
    },
  );
  await until(async () => await metric(s.base, "agent_sync_waiters") === 1, { what: "alice to block" });
  const r = await c.http("DELETE", "/rooms/src", { token: room.token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, deleted: "src" });
  const w = await waiter;
  assert.equal(w.status, 404);
  assert.equal(w.json.error, "room_not_found");
  assert.equal((await c.http("GET", "/rooms/src")).status, 404);
  assert.equal((await c.http("GET", "/rooms/src/context", { token: alice })).status, 404);
  for (const t of ["agents", "state", "messages", "audit", "actions", "views", "ticks", "idempotency"]) {
    const n = await s.store.client.execute({
      sql: `SELECT COUNT(*) AS n FROM ${t} WHERE room_id = ?`,
      args: ["src"],
    });
    assert.equal(Number(n.rows[0].n), 0, t);
  }
  // the id is free again
  assert.equal((await c.http("POST", "/rooms", { body: { id: "src" } })).status, 201);
});
