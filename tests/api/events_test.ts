/**
 * GET /rooms/:id/events: the Server-Sent Events change feed — one event per visible commit, `id:` is the
 * cursor, `Last-Event-ID` resumes without gaps or duplicates, privacy as everywhere.
 */
import assert from "node:assert/strict";
import { openFeed } from "../_feed.ts";
import { setupRoom, until } from "../_setup.ts";

const setup = () => setupRoom({ room: "feed" });

Deno.test("events is text/event-stream with one change event per commit whose id is the cursor", async () => {
  const { s, c, room } = await setup();
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token);
  try {
    assert.equal(feed.res.status, 200);
    assert.match(feed.res.headers.get("content-type")!, /^text\/event-stream/);
    assert.equal(feed.res.headers.get("cache-control"), "no-cache");
    const hello = await feed.next();
    assert.ok(hello.comments.length >= 1, "the stream opens with a comment line");
    assert.equal(hello.event, undefined);

    const w1 = await c.ok(room.id, room.token, "_set_state", { key: "turn", value: 1 });
    const w2 = await c.ok(room.id, room.token, "_send_message", { body: "hello" });
    const [e1, e2] = await feed.changes(2);
    assert.equal(e1.id, w1.cursor);
    assert.equal(e1.data.cursor, w1.cursor);
    assert.deepEqual(e1.data.changes, [{ scope: "_shared", key: "turn", version: 1 }]);
    assert.equal((e1.data.audit as { action: string }).action, "_set_state");
    assert.equal(e2.id, w2.cursor);
    assert.equal((e2.data.messages as { seq: number; body: string }[])[0].body, "hello");
  } finally {
    await feed.close();
  }
  // the server learns of the close asynchronously
  await until(async () => (await s.eng.rooms.get(room.id)).rt.listeners.size === 0, {
    what: "closing the feed to remove its listener",
  });
  assert.equal(
    (await s.eng.rooms.get(room.id)).rt.listeners.size,
    0,
    "closing the feed removes its listener",
  );
});

Deno.test("events resumes from Last-Event-ID (and ?after=) without gaps or duplicates", async () => {
  const { s, c, room } = await setup();
  await using _ = s;
  const start = (await c.context(room.id, room.token)).cursor as number;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events?after=${start}`, room.token);
  const seen: number[] = [];
  const cursors: number[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      cursors.push((await c.ok(room.id, room.token, "_set_state", { key: "k", value: i })).cursor);
    }
    for (const e of await feed.changes(3)) seen.push(e.id);
  } finally {
    await feed.close();
  }
  // written while nobody listened
  for (let i = 4; i <= 6; i++) {
    cursors.push((await c.ok(room.id, room.token, "_set_state", { key: "k", value: i })).cursor);
  }
  const resumed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token, {
    "last-event-id": String(seen[2]),
  });
  try {
    cursors.push((await c.ok(room.id, room.token, "_set_state", { key: "k", value: 7 })).cursor);
    const more = await resumed.changes(4);
    seen.push(...more.map((e) => e.id));
    assert.deepEqual(more.map((e) => e.data.changes[0].version), [4, 5, 6, 7]);
  } finally {
    await resumed.close();
  }
  assert.deepEqual(seen, cursors, "every commit exactly once, in order");
  assert.equal(new Set(seen).size, seen.length);

  // ?after= does the same as the header
  const fromQuery = await openFeed(s.base, `/rooms/${room.id}/events?after=${cursors[4]}`, room.token);
  try {
    const [e] = await fromQuery.changes(1);
    assert.equal(e.id, cursors[5]);
  } finally {
    await fromQuery.close();
  }
});

Deno.test("events carry only what the caller may see: bob's feed never shows alice's scope or audit", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, bob);
  try {
    await c.ok(room.id, alice, "_set_state", { key: "plan", value: "attack from the north" });
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "public", value: 1 });
    await c.ok(room.id, bob, "_set_state", { key: "mine", value: 2 });
    const events = await feed.changes(2);
    // alice's private write was a commit too, but bob's feed skipped it entirely
    assert.deepEqual(events[0].data.changes, [{ scope: "_shared", key: "public", version: 1 }]);
    assert.equal(events[0].data.audit, null, "the admin's audit row is not bob's to read");
    assert.deepEqual(events[1].data.changes, [{ scope: "bob", key: "mine", version: 1 }]);
    assert.equal((events[1].data.audit as { agent: string }).agent, "bob");
    for (const frame of feed.raw) {
      assert.ok(!frame.includes("plan") && !frame.includes("north") && !frame.includes('"alice"'), frame);
    }
  } finally {
    await feed.close();
  }
});

Deno.test("events needs a token of the room; agent=<other> is 403 identity_mismatch", async () => {
  const { s, c, room, alice } = await setup();
  await using _ = s;
  const none = await c.http("GET", `/rooms/${room.id}/events`);
  assert.equal(none.status, 401);
  const other = await c.http("GET", `/rooms/${room.id}/events?agent=bob`, { token: alice });
  assert.equal(other.status, 403);
  assert.equal(other.json.error, "identity_mismatch");
  const bad = await c.http("GET", `/rooms/${room.id}/events?after=soon`, { token: alice });
  assert.equal(bad.status, 400);
  const missing = await c.http("GET", `/rooms/nope/events`, { token: alice });
  assert.equal(missing.status, 404);
});

Deno.test("events: comment lines (connect notice, heartbeat) are SSE comments a client ignores", async () => {
  const { s, room } = await setup();
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token);
  try {
    const hello = await feed.next();
    // every line of a non-event frame is either a comment (":") or a field EventSource understands
    for (const line of feed.raw[0].split("\n")) assert.match(line, /^(:|retry: \d+$)/);
    assert.equal(hello.data, undefined);
  } finally {
    await feed.close();
  }
});
