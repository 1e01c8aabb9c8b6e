/**
 * Moments on the real clock, nothing else happening in the room: a waiter registered before a commit that
 * adds an earlier timer wakes at that timer, a lapsing lease wakes a waiter through its expiry commit, an
 * agent going gone wakes a waiter on `agents` and is a `presence` event of the change feed. Each wait's own timeout is far later, so `triggered`
 * tells the moment woke it (the elapsed time is printed with MOMENTS_DEBUG=1, never asserted).
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { until } from "../_setup.ts";
import { openFeed } from "../_feed.ts";

const TIMEOUT = 8000;
const debug = (what: string, ms: number) => {
  if (Deno.env.get("MOMENTS_DEBUG")) console.log(`${what}: woke after ${ms} ms`);
};

async function fixture(liveness_ms?: number) {
  const s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom(undefined, liveness_ms ? { liveness_ms } : {});
  const alice = await c.join(room.id, "alice");
  const wait = async (condition: string, token = room.token) => {
    const before = s.eng.metrics.waiters;
    const q = `/rooms/${room.id}/wait?condition=${
      encodeURIComponent(condition)
    }&timeout=${TIMEOUT}&include=state`;
    const w = c.http("GET", q, { token });
    await until(() => s.eng.metrics.waiters > before, { what: "the waiter to block" });
    return { answer: w };
  };
  return { s, c, room, alice, wait };
}

Deno.test("a waiter registered before a commit that adds an earlier timer wakes at that timer", async () => {
  const { s, c, room, wait } = await fixture();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { key: "flash", value: 1 });
  const w = await wait("!has(state._shared.flash)");
  // the commit after the waiter registered adds a 300 ms delete timer: nothing else will commit
  await c.ok(room.id, room.token, "_set_state", { key: "flash", value: 2, timer: { ms: 300 } });
  const r = await w.answer;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.triggered, true, `woken by the timer, not the ${TIMEOUT} ms timeout: ${r.text}`);
  debug("timer added after the waiter", r.json.elapsed_ms);
});

Deno.test("a lease lapsing wakes the waiters whose condition its expiry changes", async () => {
  const { s, c, room, alice, wait } = await fixture();
  await using _ = s;
  await c.http("PATCH", `/rooms/${room.id}/agents/alice`, {
    token: room.token,
    body: { grants: ["_tasks"] },
  });
  const r = await c.invoke(room.id, alice, "_set_state", {
    scope: "_tasks",
    key: "7",
    value: "work",
    lease: { ttl_ms: 500 },
  });
  assert.equal(r.status, 200, r.text);
  const w = await wait('!("7" in state._tasks)');
  const woke = await w.answer;
  assert.equal(woke.json.triggered, true, `woken by the expiry: ${woke.text}`);
  debug("lease of 500 ms", woke.json.elapsed_ms);
});

Deno.test("an agent going gone wakes a waiter on agents", async () => {
  const { s, room, wait } = await fixture(600);
  await using _ = s;
  const woke = await (await wait('agents.alice.status == "gone"')).answer;
  assert.equal(woke.json.triggered, true, `woken when alice went gone: ${woke.text}`);
  debug("window of 600 ms", woke.json.elapsed_ms);
  void room;
});

Deno.test("a feed hears an agent go gone and come back (presence events, at the moment)", async () => {
  const { s, c, room, alice } = await fixture(600);
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token);
  try {
    await feed.next(); // the connect comment
    const gone = await feed.nextEvent("presence");
    assert.deepEqual(gone.data.agents.map((a: { id: string; status: string }) => [a.id, a.status]), [[
      "alice",
      "gone",
    ]]);
    await c.context(room.id, alice);
    const back = await feed.nextEvent("presence");
    assert.deepEqual(back.data.agents.map((a: { id: string; status: string }) => [a.id, a.status]), [[
      "alice",
      "active",
    ]]);
  } finally {
    await feed.close();
  }
});
