/**
 * Liveness over HTTP with the fake clock: an agent silent for the room's `liveness_ms` is `gone` (with
 * `last_seen`) in every listing and in CEL, any call brings it back, an open wait counts while it is open
 * (the room token's perspective does not), waiters on `agents` wake when someone goes gone, `PATCH
 * /rooms/:id` changes the window, and the time the server was down does not count.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { until } from "../_setup.ts";

const WINDOW = 10_000;

async function fixture(o: { dbPath?: string; clockStart?: number } = {}) {
  const s = await startServer({ fakeClock: true, ...o });
  const c = client(s.base);
  const room = await c.createRoom("live", { liveness_ms: WINDOW });
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  const req = (method: string, path: string, token?: string, body?: unknown) =>
    c.http(method, `/rooms/${room.id}${path}`, { token, body });
  const agentAs = async (token: string, id: string) =>
    ((await req("GET", "/agents", token)).json as { id: string; status: string; last_seen: string }[])
      .find((a) => a.id === id)!;
  return { s, c, room, alice, bob, req, agentAs };
}

Deno.test("an agent silent for the window is gone everywhere; any call brings it back", async (t) => {
  const { s, c, room, alice, bob, req, agentAs } = await fixture();
  await using _ = s;
  const joined = new Date(s.clock.now()).toISOString();

  await t.step("one ms before the window: still there", async () => {
    s.clock.advance(WINDOW - 1);
    await c.context(room.id, bob); // bob keeps himself alive
    assert.equal((await agentAs(bob, "alice")).status, "active");
  });

  await t.step("at the window: gone with last_seen, in /agents, /context, CEL and /poll", async () => {
    s.clock.advance(1);
    const a = await agentAs(bob, "alice");
    assert.equal(a.status, "gone");
    assert.equal(a.last_seen, joined);
    assert.equal((await c.context(room.id, bob, "?only=agents")).agents.alice.status, "gone");
    const ev = await req("POST", "/eval", bob, {
      expr: 'agents.alice.status == "gone" && agents.bob.status != "gone"',
    });
    assert.equal(ev.json.value, true, ev.text);
    assert.equal((await req("POST", "/eval", bob, { expr: "agents.alice.last_seen" })).json.value, joined);
    const poll = (await req("GET", "/poll", room.token)).json;
    assert.equal(poll.agents.find((x: { id: string }) => x.id === "alice").status, "gone");
    assert.equal(poll.room.liveness_ms, WINDOW);
  });

  await t.step("alice calls: live again, last_seen moves", async () => {
    await c.context(room.id, alice, "?only=state");
    const a = await agentAs(bob, "alice");
    assert.equal(a.status, "active");
    assert.equal(a.last_seen, new Date(s.clock.now()).toISOString());
  });

  await t.step("the room token reading as alice is not a sign of alice's life", async () => {
    s.clock.advance(WINDOW);
    await c.context(room.id, room.token, "?agent=alice");
    assert.equal((await agentAs(room.token, "alice")).status, "gone");
  });
});

Deno.test("an open wait keeps its agent there; a waiter on agents wakes when one goes gone", async () => {
  const { s, c, room, alice, bob, req, agentAs } = await fixture();
  await using _ = s;
  const before = s.eng.metrics.waiters;
  const cond = encodeURIComponent('agents.bob.status == "gone"');
  const watching = req("GET", `/wait?condition=${cond}&timeout=25000&include=agents`, alice);
  await until(() => s.eng.metrics.waiters > before, { what: "alice to block" });
  s.clock.advance(WINDOW - 1);
  assert.equal((await agentAs(room.token, "bob")).status, "active");
  s.clock.advance(1);
  const woke = await watching;
  assert.equal(woke.json.triggered, true, woke.text);
  assert.equal(woke.json.agents.bob.status, "gone");
  // alice waited through the whole window and more: an open wait counts while it is open
  assert.equal((await agentAs(room.token, "alice")).status, "active");
  void c;
  void bob;
});

Deno.test("PATCH /rooms/:id changes the window (room token only); bad values are 400", async () => {
  const { s, c, room, alice, req, agentAs } = await fixture();
  await using _ = s;
  s.clock.advance(WINDOW);
  assert.equal((await agentAs(room.token, "alice")).status, "gone");
  const r = await req("PATCH", "", room.token, { liveness_ms: 3 * WINDOW });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.liveness_ms, 3 * WINDOW);
  assert.equal((await agentAs(room.token, "alice")).status, "active", "the new window applies at once");
  const reset = await req("PATCH", "", room.token, { liveness_ms: null });
  assert.equal(reset.json.liveness_ms, 60_000, "null: the server's default");
  assert.equal((await req("PATCH", "", alice, { liveness_ms: 5000 })).json.error, "forbidden");
  assert.equal((await req("PATCH", "", room.view, { liveness_ms: 5000 })).json.error, "read_only_token");
  for (const body of [{ liveness_ms: 10 }, { liveness_ms: "5000" }, { window: 5000 }]) {
    const bad = await req("PATCH", "", room.token, body);
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error, "invalid_body");
  }
  const create = await c.http("POST", "/rooms", { body: { liveness_ms: 100 } });
  assert.equal(create.status, 400);
  assert.equal(create.json.field, "liveness_ms");
});

Deno.test("after a restart, silence counts from the restart: the time the server was down does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-live-" });
  try {
    const first = await fixture({ dbPath: `${dir}/sync.db` });
    const stopped = first.s.clock.now() + WINDOW / 2;
    first.s.clock.advance(WINDOW / 2);
    await first.s.close();
    // down for an hour, far longer than the window
    const s = await startServer({
      fakeClock: true,
      dbPath: `${dir}/sync.db`,
      clockStart: stopped + 3_600_000,
    });
    await using _ = s;
    const c = client(s.base);
    const status = async (id: string) =>
      ((await c.http("GET", "/rooms/live/agents", { token: first.room.token })).json as {
        id: string;
        status: string;
      }[]).find((a) => a.id === id)!.status;
    assert.equal(await status("alice"), "active", "nobody is gone for the time the server was down");
    s.clock.advance(WINDOW - 1);
    assert.equal(await status("alice"), "active");
    s.clock.advance(1);
    assert.equal(await status("alice"), "gone", "a window after the restart");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
