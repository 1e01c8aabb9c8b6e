/**
 * Room and agent lifecycle (reference/api.md: rooms, agents, reads): creation and tokens, listings per token kind, view-token rotation,
 * join with inline state/public keys/views, the re-join rules with token rotation, PATCH, presence.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

Deno.test("rooms: create, list, read, rotate the view token", async (t) => {
  await using s = await startServer();
  const c = client(s.base);

  await t.step("POST /rooms generates an id and returns both tokens once", async () => {
    const res = await c.http("POST", "/rooms", { body: { meta: { name: "Gen" } } });
    assert.equal(res.status, 201);
    assert.match(res.json.id, /^[A-Za-z0-9._:-]+$/);
    assert.match(res.json.token, /^room_[0-9a-f]{32,}$/);
    assert.match(res.json.view_token, /^view_[0-9a-f]{32,}$/);
    assert.deepEqual(res.json.meta, { name: "Gen" });
    const info = await c.http("GET", `/rooms/${res.json.id}`, { token: res.json.token });
    assert.equal(info.status, 200);
    assert.ok(!info.text.includes(res.json.token));
    assert.equal(info.json.token, undefined);
    assert.equal(info.json.view_token, undefined);
    const empty = await c.http("POST", "/rooms");
    assert.equal(empty.status, 201);
    assert.notEqual(empty.json.id, res.json.id);
  });

  await t.step("a taken id is 409 room_exists", async () => {
    await c.createRoom("taken");
    const again = await c.http("POST", "/rooms", { body: { id: "taken" } });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, "room_exists");
    assert.equal(again.json.token, undefined);
  });

  await t.step("GET /rooms lists the rooms each token belongs to", async () => {
    const a = await c.createRoom("list-a");
    const b = await c.createRoom("list-b");
    const alice = await c.join(a.id, "alice");
    for (
      const [tok, want] of [[a.token, "list-a"], [a.view, "list-a"], [alice, "list-a"], [b.token, "list-b"]]
    ) {
      const res = await c.http("GET", "/rooms", { token: tok });
      assert.equal(res.status, 200);
      const ids = res.json.map((x: { id: string }) => x.id);
      assert.deepEqual(ids, [want]);
    }
    const anon = await c.http("GET", "/rooms");
    assert.equal(anon.status, 200);
    assert.deepEqual(anon.json, []);
  });

  await t.step("GET /rooms/:id needs no token; an unknown room is 404 room_not_found", async () => {
    const info = await c.http("GET", "/rooms/list-a");
    assert.equal(info.status, 200);
    assert.equal(info.json.id, "list-a");
    assert.ok(info.json.created_at);
    const missing = await c.http("GET", "/rooms/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error, "room_not_found");
    const missingTok = await c.http("GET", "/rooms/nope/context", { token: "room_abc" });
    assert.equal(missingTok.json.error, "room_not_found");
  });

  await t.step("rotate-view-token: room token only; the old view token stops working", async () => {
    const r = await c.createRoom("rot");
    const alice = await c.join(r.id, "alice");
    assert.equal((await c.http("GET", `/rooms/${r.id}/context`, { token: r.view })).status, 200);
    for (const tok of [alice, r.view]) {
      const no = await c.http("POST", `/rooms/${r.id}/rotate-view-token`, { token: tok });
      assert.equal(no.status, 403);
    }
    const rot = await c.http("POST", `/rooms/${r.id}/rotate-view-token`, { token: r.token });
    assert.equal(rot.status, 200);
    assert.match(rot.json.view_token, /^view_/);
    const old = await c.http("GET", `/rooms/${r.id}/context`, { token: r.view });
    assert.equal(old.status, 401);
    assert.equal(old.json.error, "invalid_token");
    assert.equal((await c.http("GET", `/rooms/${r.id}/context`, { token: rot.json.view_token })).status, 200);
  });
});

Deno.test("agents: join, re-join rules, PATCH, presence", async (t) => {
  await using s = await startServer({ fakeClock: true });
  const c = client(s.base);
  const r = await c.createRoom("agents");
  let alice = "";

  await t.step("join with inline state, public_keys and views", async () => {
    const res = await c.http("POST", `/rooms/${r.id}/agents`, {
      body: {
        id: "alice",
        name: "Alice",
        role: "warrior",
        meta: { lvl: 3 },
        state: { health: 100, inventory: ["sword"] },
        public_keys: ["health"],
        views: [{ id: "alice-combat", expr: 'state["alice"]["health"] > 50 ? "ready" : "wounded"' }],
      },
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.json.token, /^as_/);
    assert.equal(res.json.role, "warrior");
    assert.deepEqual(res.json.grants, []);
    alice = res.json.token;
    const ctx = await c.context(r.id, alice);
    assert.deepEqual(ctx.state.self, { health: 100, inventory: ["sword"] });
    assert.equal(ctx.views["alice.health"], 100);
    assert.equal(ctx.views["alice-combat"], "ready");
    assert.equal(ctx.self, "alice");
    const versions = await c.http("GET", `/rooms/${r.id}/state?scope=alice&key=health`, { token: alice });
    assert.equal(versions.json.version, 1);
  });

  await t.step("a failing inline view makes the whole join fail (nothing half-joined)", async () => {
    const res = await c.http("POST", `/rooms/${r.id}/agents`, {
      body: { id: "carol", state: { a: 1 }, views: [{ id: "bad", expr: "1 +" }] },
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, "invalid_cel");
    const agents = (await c.http("GET", `/rooms/${r.id}/agents`, { token: r.token })).json;
    assert.ok(!agents.some((a: { id: string }) => a.id === "carol"));
  });

  await t.step("re-join without a token or with another agent's token is 409 agent_exists", async () => {
    const bob = await c.join(r.id, "bob");
    for (const tok of [undefined, bob]) {
      const res = await c.http("POST", `/rooms/${r.id}/agents`, { token: tok, body: { id: "alice" } });
      assert.equal(res.status, 409);
      assert.equal(res.json.error, "agent_exists");
      assert.equal(res.json.token, undefined);
    }
    assert.equal((await c.http("GET", `/rooms/${r.id}/context`, { token: alice })).status, 200);
  });

  await t.step("re-join with the agent's token rotates it; the old one is 401", async () => {
    const res = await c.http("POST", `/rooms/${r.id}/agents`, { token: alice, body: { id: "alice" } });
    assert.equal(res.status, 201);
    assert.notEqual(res.json.token, alice);
    const old = await c.http("GET", `/rooms/${r.id}/context`, { token: alice });
    assert.equal(old.status, 401);
    assert.equal(old.json.error, "invalid_token");
    alice = res.json.token;
    const ctx = await c.context(r.id, alice);
    assert.equal(ctx.state.self.health, 100, "state survives a re-join");
    assert.equal(ctx.agents.alice.role, "warrior", "role survives a re-join without one");
  });

  await t.step("re-join with the room token rotates too", async () => {
    const res = await c.http("POST", `/rooms/${r.id}/agents`, {
      token: r.token,
      body: { id: "alice", role: "mage" },
    });
    assert.equal(res.status, 201);
    assert.equal((await c.http("GET", `/rooms/${r.id}/context`, { token: alice })).status, 401);
    alice = res.json.token;
    assert.equal((await c.context(r.id, alice)).agents.alice.role, "mage");
  });

  await t.step("PATCH /agents/:agent needs the room token; grants take effect", async () => {
    const denied = await c.invoke(r.id, alice, "_set_state", { scope: "_shared", key: "phase", value: "x" });
    assert.equal(denied.status, 403);
    for (const tok of [alice, r.view, undefined]) {
      const res = await c.http("PATCH", `/rooms/${r.id}/agents/alice`, {
        token: tok,
        body: { grants: ["_shared"] },
      });
      assert.ok([401, 403].includes(res.status), `${res.status}`);
    }
    const res = await c.http("PATCH", `/rooms/${r.id}/agents/alice`, {
      token: r.token,
      body: { grants: ["_shared", "bob"], role: "admin", name: "Alice B", meta: { x: 1 } },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.grants, ["_shared", "bob"]);
    assert.equal(res.json.name, "Alice B");
    const ok = await c.invoke(r.id, alice, "_set_state", {
      scope: "_shared",
      key: "phase",
      value: "endgame",
    });
    assert.equal(ok.status, 200);
    const bobScope = await c.http("GET", `/rooms/${r.id}/state?scope=bob`, { token: alice });
    assert.equal(bobScope.status, 200, "a granted scope is readable");
    const unknown = await c.http("PATCH", `/rooms/${r.id}/agents/zed`, {
      token: r.token,
      body: { role: "x" },
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error, "agent_not_found");
  });

  await t.step("GET /agents lists presence; every authenticated call updates last_heartbeat", async () => {
    const list = async () => (await c.http("GET", `/rooms/${r.id}/agents`, { token: r.token })).json;
    const before = (await list()).find((a: { id: string }) => a.id === "bob");
    assert.equal(before.status, "active");
    assert.ok(before.last_heartbeat);
    assert.equal(before.token, undefined);
    s.clock.advance(5);
    const bob = await c.http("POST", `/rooms/${r.id}/agents`, { token: r.token, body: { id: "bob" } });
    const t0 = (await list()).find((a: { id: string }) => a.id === "bob").last_heartbeat;
    s.clock.advance(5);
    await c.http("GET", `/rooms/${r.id}/context`, { token: bob.json.token });
    const t1 = (await list()).find((a: { id: string }) => a.id === "bob").last_heartbeat;
    assert.ok(Date.parse(t1) > Date.parse(t0), `${t1} > ${t0}`);
    const hb = await c.ok(r.id, bob.json.token, "_heartbeat", { status: "busy" });
    assert.equal(hb.status, "busy");
    assert.equal((await list()).find((a: { id: string }) => a.id === "bob").status, "busy");
  });
});
