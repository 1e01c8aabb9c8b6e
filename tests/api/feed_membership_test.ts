/**
 * The change feed carries membership and presence (issue 14.2): a join, a re-join or a PATCH is a `change`
 * event with the agents it created or changed; an agent starting or ending a wait is a `presence` event
 * without an id line, coalesced, never sent for a heartbeat that only moves `last_heartbeat`; agents see
 * every agent, as `/context` shows them, and nothing else of another agent.
 */
import assert from "node:assert/strict";
import { openFeed } from "../_feed.ts";
import { setupRoom } from "../_setup.ts";
import { setWaiting } from "../../engine/presence.ts";

const waitPath = (cond: string, timeout = 20_000) =>
  `/wait?condition=${encodeURIComponent(cond)}&timeout=${timeout}`;

Deno.test("a join and a PATCH are change events carrying the agents they created or changed", async () => {
  const { s, c, room, req } = await setupRoom({ room: "members" });
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token);
  try {
    await c.join(room.id, "carol", { role: "scout", meta: { color: "red" } });
    const joined = await feed.nextEvent("change");
    assert.equal(Number(joined.id), joined.data.cursor, "a commit: its id is the cursor");
    assert.deepEqual(joined.data.changes, []);
    assert.equal(joined.data.agents.length, 1);
    const carol = joined.data.agents[0];
    assert.equal(carol.id, "carol");
    assert.equal(carol.role, "scout");
    assert.deepEqual(carol.meta, { color: "red" });
    assert.equal(carol.status, "active");
    assert.equal("token" in carol || "token_hash" in carol, false, "no token in the feed");

    const r = await req("PATCH", "/agents/carol", room.token, { grants: ["_tasks"], role: "lead" });
    assert.equal(r.status, 200, r.text);
    const patched = await feed.nextEvent("change");
    assert.equal(patched.data.cursor, Number(joined.id) + 1);
    assert.deepEqual(patched.data.agents.map((a: { id: string }) => a.id), ["carol"]);
    assert.deepEqual(patched.data.agents[0].grants, ["_tasks"]);
    assert.equal(patched.data.agents[0].role, "lead");
  } finally {
    await feed.close();
  }
});

Deno.test("a wait is a presence event without an id line; a plain call (heartbeat only) sends none", async () => {
  const { s, c, room, req, alice, bob } = await setupRoom({ room: "presence-feed" });
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, alice);
  const ac = new AbortController();
  try {
    await feed.next(); // the connect comment
    // alice's own calls move only her last_heartbeat: nothing to send
    assert.equal((await req("GET", "/context", alice)).status, 200);
    assert.equal((await req("GET", "/context", bob)).status, 200);
    const cond = 'state._shared.phase == "go"';
    const blocked = c.http("GET", `/rooms/${room.id}${waitPath(cond)}`, { token: bob, signal: ac.signal })
      .catch(() => undefined);
    const ev = await feed.next();
    assert.equal(ev.event, "presence", `the first event after the calls: ${feed.raw.at(-1)}`);
    assert.equal(ev.id, undefined, "presence is not a commit: no id line");
    assert.ok(!feed.raw.at(-1)!.split("\n").some((l) => l.startsWith("id:")), String(feed.raw.at(-1)));
    const data = JSON.parse(ev.data!);
    assert.deepEqual(data.agents.map((a: { id: string }) => a.id), ["bob"], "only bob changed");
    assert.equal(data.agents[0].status, "waiting");
    assert.equal(data.agents[0].waiting_on, cond);
    assert.equal(typeof data.agents[0].last_heartbeat, "string");
    assert.equal(typeof data.cursor, "number");
    ac.abort();
    await blocked;
    const back = await feed.nextEvent("presence");
    // the wait's end is bob's last sign of life: last_seen moves with it
    const last = back.data.agents[0]?.last_seen;
    assert.ok(last >= data.agents[0].last_seen, JSON.stringify(back.data.agents));
    assert.deepEqual(back.data.agents, [{
      ...data.agents[0],
      status: "active",
      waiting_on: null,
      last_seen: last,
    }]);
  } finally {
    ac.abort();
    await feed.close();
  }
});

Deno.test("presence changes made together arrive as one presence event with the latest state of each", async () => {
  const { s, room } = await setupRoom({ room: "coalesce", agents: ["alice", "bob", "carol"] });
  await using _ = s;
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, room.token);
  try {
    await feed.next();
    // the hook every presence change calls, three times in one turn (as a burst of waits would)
    const r = await s.eng.rooms.get(room.id);
    setWaiting(s.eng, r, "bob", "x == 1");
    setWaiting(s.eng, r, "carol", "y == 2");
    setWaiting(s.eng, r, "bob", null);
    const ev = await feed.nextEvent("presence");
    const byId = Object.fromEntries(ev.data.agents.map((a: { id: string }) => [a.id, a]));
    assert.deepEqual(Object.keys(byId).sort(), ["bob", "carol"], "one event for the burst");
    assert.equal(byId.bob.status, "active", "bob's latest state, not the waiting in between");
    assert.equal(byId.carol.waiting_on, "y == 2");
    setWaiting(s.eng, r, "carol", null);
    const next = await feed.nextEvent("presence");
    assert.deepEqual(next.data.agents.map((a: { id: string; status: string }) => [a.id, a.status]), [[
      "carol",
      "active",
    ]]);
  } finally {
    await feed.close();
  }
});

Deno.test("an agent's feed shows other agents as /context does, and never their private state", async () => {
  const { s, c, room, req, alice, bob } = await setupRoom({ room: "feed-privacy" });
  await using _ = s;
  await c.ok(room.id, bob, "_set_state", { key: "plan", value: "attack from the north" });
  const feed = await openFeed(s.base, `/rooms/${room.id}/events`, alice);
  try {
    await req("PATCH", "/agents/bob", room.token, { grants: ["_tasks"] });
    const ev = await feed.nextEvent("change");
    const ctx = (await req("GET", "/context?only=agents", alice)).json;
    const shown = ev.data.agents[0];
    for (const [k, v] of Object.entries(ctx.agents.bob)) assert.deepEqual(shown[k], v, k);
    for (const frame of feed.raw) assert.ok(!frame.includes("north"), frame);
  } finally {
    await feed.close();
  }
});
