/**
 * CEL budgets as a client sees them: views computed once per commit for every reader, listings that say
 * when the request's CEL budget cut them short (REST and MCP), RE2 patterns checked at registration, the
 * stored-expression quota at import.
 */
import assert from "node:assert/strict";
import { client, http, startServer } from "../_server.ts";
import { metric, until } from "../_setup.ts";

const heavy = (tail = "true") => `state._shared.l.all(a, state._shared.l.all(b, a + b >= 0)) && ${tail}`;
const LIST = Array.from({ length: 300 }, (_, i) => i);

Deno.test("views are computed once per commit for every reader, whatever its privacy; presence changes do not recompute them", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("once");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 7 });
  await c.ok(room.id, alice, "_register_view", { id: "alice.hp", expr: 'state["alice"].hp' });
  await c.ok(room.id, room.token, "_register_view", { id: "players", expr: "size(agents)" });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 1 });
  const bob = await c.join(room.id, "bob"); // a commit: views are computed again on the next read
  const evaluations = () => metric(s.base, "agent_sync_cel_evaluations_total");
  const first = await c.context(room.id, bob, "?only=views");
  assert.deepEqual(first.views, { "alice.hp": 7, players: 2 });
  const after = await evaluations();
  for (const token of [room.token, room.view, alice, bob]) {
    const r = await http(s.base, "GET", `/rooms/${room.id}/context?only=views`, { token });
    assert.deepEqual(r.json.views, first.views);
  }
  // presence: bob starts waiting (status "waiting"), then gives up
  const ac = new AbortController();
  const w = http(s.base, "GET", `/rooms/${room.id}/wait?condition=false&timeout=5000`, {
    token: bob,
    signal: ac.signal,
  }).catch(() => undefined);
  await until(
    async () =>
      (await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token })).json
        .some((a: { id: string; status: string }) => a.id === "bob" && a.status === "waiting"),
    { what: "bob waiting" },
  );
  await http(s.base, "GET", `/rooms/${room.id}/views`, { token: alice });
  ac.abort();
  await w;
  const waitEvaluations = 1; // the wait's own condition, once at registration
  assert.equal(await evaluations(), after + waitEvaluations, "no view was evaluated again");
});

Deno.test("a listing cut short by the request's CEL budget says so: header on REST, _cel_budget_exhausted on REST objects and MCP", async () => {
  await using s = await startServer({ limits: { celRequestMs: 30 } });
  const c = client(s.base);
  const room = await c.createRoom("degrade");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: [] });
  const eve = await c.join(room.id, "eve");
  for (let i = 0; i < 30; i++) {
    await c.ok(room.id, room.token, "_register_action", { id: `h${i}`, if: heavy(), writes: [] });
  }
  const cheap = await http(s.base, "GET", `/rooms/${room.id}/actions`, { token: eve });
  assert.equal(cheap.headers.get("x-cel-budget-exhausted"), null, "a listing within budget says nothing");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: LIST });
  const list = await http(s.base, "GET", `/rooms/${room.id}/actions`, { token: eve });
  assert.equal(list.status, 200);
  assert.equal(list.headers.get("x-cel-budget-exhausted"), "true");
  const custom = (list.json as { id: string; available: boolean }[]).filter((a) => /^h\d+$/.test(a.id));
  assert.equal(custom.length, 30, "every action is listed");
  assert.ok(custom.some((a) => !a.available), "those past the budget are unavailable");
  const ctx = await http(s.base, "GET", `/rooms/${room.id}/context?only=actions`, { token: eve });
  assert.equal(ctx.json._cel_budget_exhausted, true);
  const mcp = await http(s.base, "POST", "/mcp", {
    token: eve,
    headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
    raw: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "read_context", arguments: { only: ["actions"] } },
    }),
  });
  const out = JSON.parse(mcp.json.result.content[0].text);
  assert.equal(out._cel_budget_exhausted, true, mcp.text.slice(0, 300));
});

Deno.test("a literal pattern RE2 refuses is 400 invalid_cel at registration, naming the field", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("re2reg");
  for (
    const [params, field] of [
      [{ id: "a", if: "'x'.matches('(?<=a)b')", writes: [] }, "if"],
      [
        { id: "b", writes: [{ scope: "_shared", key: "k", value: 1, if: "'x'.matches('(x)\\\\1')" }] },
        "writes[0].if",
      ],
    ] as const
  ) {
    const r = await c.invoke(room.id, room.token, "_register_action", params);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, "invalid_cel");
    assert.equal(r.json.field, field);
  }
  const v = await c.invoke(room.id, room.token, "_register_view", { id: "v", expr: "'x'.matches('[')" });
  assert.equal(v.json.error, "invalid_cel");
  assert.equal(v.json.field, "expr");
});

Deno.test("an import holding more stored expressions than a room may is 429 room_expressions and creates nothing", async () => {
  await using s = await startServer({ limits: { roomMaxExpressions: 3 } });
  const ts = "2026-01-01T00:00:00.000Z";
  const snapshot = {
    format: "agent-sync.room/v1",
    id: "imported",
    room: { id: "source", meta: {}, created_at: ts, seq: 1 },
    agents: [],
    state: [{ scope: "_shared", key: "e", value: 1, version: 1, updated_at: ts, seq: 1, enabled: "true" }],
    actions: [{ id: "a", if: "true", enabled: "true", writes: [], registrar: "admin", created_at: ts }],
    views: [{ id: "v", expr: "1", registrar: "admin", created_at: ts }],
    messages: [],
    audit: [],
    ticks: {},
  };
  const r = await http(s.base, "POST", "/rooms/import", { body: snapshot });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.quota, "room_expressions");
  assert.equal(r.json.limit, 3);
  assert.equal((await http(s.base, "GET", "/rooms/imported")).status, 404);
  snapshot.views = [];
  assert.equal((await http(s.base, "POST", "/rooms/import", { body: snapshot })).status, 201);
});

Deno.test("cheap waits are always re-evaluated: far more of them than one round's budget all wake", async () => {
  // cheap (~0.1 ms) and with a per-expression limit far away: on a loaded machine a preempted evaluation
  // must neither hit the 50 ms limit nor look expensive; 120 of them still overflow one 5 ms round
  await using s = await startServer({ limits: { celCommitMs: 5, roomCelMsPerSec: 0, celTimeoutMs: 10_000 } });
  const c = client(s.base);
  const room = await c.createRoom("cheap");
  await c.ok(room.id, room.token, "_set_state", {
    scope: "_shared",
    key: "l",
    value: Array.from({ length: 15 }, (_, i) => i),
  });
  const cond = encodeURIComponent(heavy("state._shared.go == true")); // well under 5 ms, not free
  const waits = Array.from(
    { length: 120 },
    () =>
      http(s.base, "GET", `/rooms/${room.id}/wait?condition=${cond}&timeout=20000`, { token: room.token }),
  );
  await until(async () => (await metric(s.base, "agent_sync_waiters")) === 120, {
    what: "120 waits blocked",
  });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "go", value: true });
  const answers = await Promise.all(waits);
  const odd = answers.filter((r) => r.status !== 200 || r.json.triggered !== true);
  assert.deepEqual(odd.map((r) => `${r.status} ${r.text.slice(0, 200)}`), []);
});

Deno.test("an invocation whose CEL context the request's budget could not build is refused cel_limit, not decided on missing entries", async () => {
  await using s = await startServer({ limits: { celRequestMs: 30, roomCelMsPerSec: 0 } });
  const c = client(s.base);
  const room = await c.createRoom("partial");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: [] });
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: Array.from(
      { length: 10 },
      (_, i) => ({ scope: "_tasks", key: `t${i}`, value: i, enabled: heavy() }),
    ),
  });
  // "only if nobody holds t9": an entry hidden for want of CEL time must not read as absent
  await c.ok(room.id, room.token, "_register_action", {
    id: "take_last",
    if: "!has(state._tasks.t9)",
    writes: [{ scope: "_shared", key: "taken", value: true }],
  });
  const eve = await c.join(room.id, "eve");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: LIST });
  const r = await c.invoke(room.id, eve, "take_last");
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error, "cel_limit");
  assert.match(r.json.message, /context/);
  const taken = await http(s.base, "GET", `/rooms/${room.id}/state?scope=_shared&key=taken`, {
    token: room.token,
  });
  assert.equal(taken.status, 404, "nothing was written");
  const ev = await http(s.base, "POST", `/rooms/${room.id}/eval`, {
    token: eve,
    body: { expr: "has(state._tasks.t9)" },
  });
  assert.equal(ev.status, 400, "an /eval on such a context is refused the same way");
  assert.equal(ev.json.error, "cel_limit");
});
