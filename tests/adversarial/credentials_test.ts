/**
 * Issue 12, class 6 — credentials that stop, stop everywhere: an open `/wait` (also invoke-and-wait and
 * MCP wait_for) and an open `/events` feed end when their token stops being valid (re-join rotation,
 * rotate-view-token, room deleted), and never carry anything written after that; grant changes apply to
 * open feeds from the next event; a deleted room's waiters never re-bind to a room re-created under the
 * same id, in this process or another.
 */
import assert from "node:assert/strict";
import {
  client,
  deadline,
  http,
  httpWithin,
  mcpCall,
  metric,
  noLeak,
  ok,
  openFeed,
  type Res,
  spawnServer,
  startServer,
  tempDir,
  until,
} from "./_harness.ts";

const AFTER = "written-after-the-rotation-77";
const WATCHDOG_MS = 15_000;

/** A /wait that only becomes true through a write made after the credential stopped working. */
function waitFor(
  base: string,
  room: string,
  token: string,
  condition: string,
  timeout = 10_000,
): Promise<Res> {
  const q = `condition=${encodeURIComponent(condition)}&timeout=${timeout}&include=state,messages`;
  return httpWithin(timeout + WATCHDOG_MS, base, "GET", `/rooms/${room}/wait?${q}`, { token });
}

async function waiters(base: string, n: number) {
  await until(
    async () => (await metric(base, "agent_sync_waiters")) >= n,
    WATCHDOG_MS,
    `${n} waiters blocked`,
  );
}

type Feed = Awaited<ReturnType<typeof openFeed>>;

/** The feed got `event: error` with this code, then ended, and never delivered a change after it. */
async function feedEnded(feed: Feed, code: string, what: string) {
  const err = await feed.waitFor((f) => f.event === "error", WATCHDOG_MS, `${what}: event: error`);
  assert.equal(JSON.parse(err.data ?? "{}").error, code, `${what}: ${err.data}`);
  await feed.waitEnded(WATCHDOG_MS, `${what}: the feed closes`);
  const i = feed.frames.indexOf(err);
  assert.deepEqual(feed.frames.slice(i + 1), [], `${what}: nothing after the error`);
}

Deno.test("a re-join ends the agent's open /wait (401 invalid_token) and /events feed (event: error); nothing written after reaches them", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("rejoin");
  const old = await c.join(room.id, "bob", { state: { secret: "before" } });
  const wait = waitFor(s.base, room.id, old, `state.self.secret == "${AFTER}"`);
  const feed = await openFeed(s.base, `/rooms/rejoin/events`, old);
  try {
    await waiters(s.base, 1);
    const rejoin = await http(s.base, "POST", `/rooms/rejoin/agents`, { token: old, body: { id: "bob" } });
    assert.equal(rejoin.status, 201, rejoin.text);
    await c.ok(room.id, room.token, "_set_state", { scope: "bob", key: "secret", value: AFTER });
    await c.ok(room.id, room.token, "_send_message", { body: AFTER });
    const w = await deadline(wait, WATCHDOG_MS, "the old token's wait");
    noLeak(AFTER, w);
    assert.equal(w.status, 401, w.text.slice(0, 300));
    assert.equal(w.json.error, "invalid_token");
    await feedEnded(feed, "invalid_token", "old token's feed");
    noLeak(AFTER, feed.text());
    // the new token works
    ok(await http(s.base, "GET", `/rooms/rejoin/context`, { token: rejoin.json.token }));
  } finally {
    await feed.close();
  }
});

Deno.test("rotate-view-token ends the old view token's open /wait and /events feed", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("viewrot");
  const wait = waitFor(
    s.base,
    room.id,
    room.view,
    `has(state._shared.after) && state._shared.after == "${AFTER}"`,
  );
  const feed = await openFeed(s.base, `/rooms/viewrot/events`, room.view);
  try {
    await waiters(s.base, 1);
    ok(await http(s.base, "POST", `/rooms/viewrot/rotate-view-token`, { token: room.token }));
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "after", value: AFTER });
    await c.ok(room.id, room.token, "_send_message", { body: AFTER });
    const w = await deadline(wait, WATCHDOG_MS, "the old view token's wait");
    noLeak(AFTER, w);
    assert.equal(w.status, 401, w.text.slice(0, 300));
    assert.equal(w.json.error, "invalid_token");
    await feedEnded(feed, "invalid_token", "old view token's feed");
    noLeak(AFTER, feed.text());
  } finally {
    await feed.close();
  }
});

Deno.test("invoke-and-wait and MCP wait_for end with invalid_token when their token is rotated", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("rotwait");
  const old = await c.join(room.id, "bob", { state: { secret: "before" } });
  const cond = `state.self.secret == "${AFTER}"`;
  const invokeWait = http(s.base, "POST", `/rooms/rotwait/actions/_set_state/invoke`, {
    token: old,
    body: { params: { key: "note", value: 1 }, wait: { condition: cond, timeout: 10_000, include: "state" } },
  });
  const mcpWait = mcpCall(s.base, old, "wait_for", { condition: cond, timeout: 10_000, include: "state" });
  await waiters(s.base, 2);
  ok(
    await http(s.base, "POST", `/rooms/rotwait/agents`, { token: room.token, body: { id: "bob" } }),
    "the room token re-joins bob",
  );
  await c.ok(room.id, room.token, "_set_state", { scope: "bob", key: "secret", value: AFTER });
  const iw = await deadline(invokeWait, WATCHDOG_MS, "invoke-and-wait");
  noLeak(AFTER, iw);
  assert.ok(
    (iw.status === 401 && iw.json.error === "invalid_token") || iw.json?.wait?.error === "invalid_token",
    `invoke-and-wait: ${iw.status} ${iw.text.slice(0, 300)}`,
  );
  const mw = await deadline(mcpWait, WATCHDOG_MS, "MCP wait_for");
  noLeak(AFTER, mw.res);
  assert.ok(
    (mw.res.status === 401 && mw.res.json?.error === "invalid_token") || mw.body?.error === "invalid_token",
    `MCP wait_for: ${mw.res.status} ${mw.res.text.slice(0, 300)}`,
  );
});

Deno.test("a PATCH of grants applies to an open feed from the next event: removed grants are never used again, added ones are", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("grants");
  const bob = await c.join(room.id, "bob");
  const carol = await c.join(room.id, "carol");
  ok(
    await http(s.base, "PATCH", `/rooms/grants/agents/bob`, {
      token: room.token,
      body: { grants: ["carol"] },
    }),
  );
  const feed = await openFeed(s.base, `/rooms/grants/events`, bob);
  try {
    await c.ok(room.id, carol, "_set_state", { key: "while_granted", value: 1 });
    await feed.waitFor(
      (f) => (f.data ?? "").includes("while_granted"),
      WATCHDOG_MS,
      "a granted change arrives",
    );
    ok(await http(s.base, "PATCH", `/rooms/grants/agents/bob`, { token: room.token, body: { grants: [] } }));
    await c.ok(room.id, carol, "_set_state", { key: "after_removal", value: 2 });
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "marker1", value: 1 });
    await feed.waitFor(
      (f) => (f.data ?? "").includes("marker1"),
      WATCHDOG_MS,
      "a later visible change arrives",
    );
    assert.ok(!feed.text().includes("after_removal"), `a removed grant was used: ${feed.text()}`);
    ok(
      await http(s.base, "PATCH", `/rooms/grants/agents/bob`, {
        token: room.token,
        body: { grants: ["carol"] },
      }),
    );
    await c.ok(room.id, carol, "_set_state", { key: "after_regrant", value: 3 });
    await feed.waitFor(
      (f) => (f.data ?? "").includes("after_regrant"),
      WATCHDOG_MS,
      "an added grant applies from the next event",
    );
  } finally {
    await feed.close();
  }
});

Deno.test("an open /wait follows grant changes: a removed grant stops, an added grant starts, from the next evaluation", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("gwait");
  const bob = await c.join(room.id, "bob");
  const carol = await c.join(room.id, "carol", { state: { k: 0 } });
  ok(
    await http(s.base, "PATCH", `/rooms/gwait/agents/bob`, {
      token: room.token,
      body: { grants: ["carol"] },
    }),
  );
  const removed = waitFor(s.base, room.id, bob, `state.carol.k == 1`, 1500);
  await waiters(s.base, 1);
  ok(await http(s.base, "PATCH", `/rooms/gwait/agents/bob`, { token: room.token, body: { grants: [] } }));
  await c.ok(room.id, carol, "_set_state", { key: "k", value: 1 });
  const r1 = await deadline(removed, WATCHDOG_MS, "wait after grant removal");
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json.triggered, false, `the removed grant was used: ${r1.text.slice(0, 300)}`);
  const added = waitFor(s.base, room.id, bob, `has(state.carol) && state.carol.k == 2`, 10_000);
  await waiters(s.base, 1);
  ok(
    await http(s.base, "PATCH", `/rooms/gwait/agents/bob`, {
      token: room.token,
      body: { grants: ["carol"] },
    }),
  );
  await c.ok(room.id, carol, "_set_state", { key: "k", value: 2 });
  const r2 = await deadline(added, WATCHDOG_MS, "wait after grant");
  assert.equal(r2.json.triggered, true, r2.text.slice(0, 300));
});

Deno.test("deleting a room ends its waiters (404 room_not_found) and feeds (event: error), and re-creating it binds none of them", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("gone");
  const bob = await c.join(room.id, "bob");
  const wait = waitFor(s.base, room.id, bob, `has(state.self.secret)`);
  const feed = await openFeed(s.base, `/rooms/gone/events`, bob);
  try {
    await waiters(s.base, 1);
    ok(await http(s.base, "DELETE", `/rooms/gone`, { token: room.token }));
    const fresh = await c.createRoom("gone");
    await c.join("gone", "bob", { state: { secret: AFTER } });
    await c.ok("gone", fresh.token, "_send_message", { body: AFTER });
    const w = await deadline(wait, WATCHDOG_MS, "waiter of the deleted room");
    noLeak(AFTER, w);
    assert.equal(w.status, 404, w.text.slice(0, 300));
    assert.equal(w.json.error, "room_not_found");
    await feedEnded(feed, "room_not_found", "feed of the deleted room");
    noLeak(AFTER, feed.text());
  } finally {
    await feed.close();
  }
});

Deno.test("two processes: room X deleted on one and re-created on the other — old waiters and feeds end, never see the new room", async () => {
  await using tmp = await tempDir();
  const env = { SYNC_PEER_POLL_MS: "50" };
  await using a = await spawnServer(tmp.db, env);
  await using b = await spawnServer(tmp.db, env);
  const A = client(a.base), B = client(b.base);
  const room = await B.createRoom("x");
  const oldBob = await B.join(room.id, "bob", { state: { secret: "old-owner" } });
  const waitA = waitFor(a.base, "x", oldBob, `state.self.secret == "${AFTER}"`);
  const feedA = await openFeed(a.base, `/rooms/x/events`, oldBob);
  try {
    await waiters(a.base, 1);
    // delete and re-create as one burst on B, inside one peer-poll interval of A
    ok(await http(b.base, "DELETE", `/rooms/x`, { token: room.token }));
    const fresh = await B.createRoom("x");
    await B.join("x", "bob", { state: { secret: AFTER } });
    await B.ok("x", fresh.token, "_send_message", { body: AFTER });
    const w = await deadline(waitA, WATCHDOG_MS, "the old waiter on A");
    noLeak(AFTER, w);
    assert.equal(w.status, 404, w.text.slice(0, 300));
    assert.equal(w.json.error, "room_not_found");
    await feedEnded(feedA, "room_not_found", "the old feed on A");
    noLeak(AFTER, feedA.text());
    // the new room works on both
    ok(await A.http("GET", `/rooms/x/context`, { token: fresh.token }));
  } finally {
    await feedA.close();
  }
});

Deno.test("two processes: a room re-created on the other at the very same seq is another room — its old tokens stop on this one", async () => {
  await using tmp = await tempDir();
  const env = { SYNC_PEER_POLL_MS: "50" };
  await using a = await spawnServer(tmp.db, env);
  await using b = await spawnServer(tmp.db, env);
  const A = client(a.base), B = client(b.base);
  const old = await A.createRoom("same");
  await A.ok("same", old.token, "_set_state", { scope: "_shared", key: "owner", value: "old-owner" });
  ok(await A.http("GET", `/rooms/same/context`, { token: old.token }), "A holds the room");
  // on B: delete and re-create, and bring the new room to the seq A holds for the old one
  ok(await B.http("DELETE", `/rooms/same`, { token: old.token }));
  const fresh = await B.createRoom("same");
  await B.ok("same", fresh.token, "_set_state", { scope: "_shared", key: "owner", value: AFTER });
  const stale = await A.http("GET", `/rooms/same/context`, { token: old.token });
  noLeak(AFTER, stale);
  assert.equal(stale.status, 401, `the old room token on A: ${stale.text.slice(0, 300)}`);
  assert.equal(stale.json.error, "invalid_token");
  const now = await A.context("same", fresh.token);
  assert.equal(now.state._shared.owner, AFTER, "A serves the new room to its own token");
});
