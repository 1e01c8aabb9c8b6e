/**
 * A room's history over HTTP: the timeline (`GET /history`: every commit with its writes, refusals with their
 * reason, joins and registrations as what they are, filters, paging), one key's versions
 * (`GET /state/history`) and the room as it stood after any commit (`/context?at=`, `/eval {at}`).
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

// deno-lint-ignore no-explicit-any
type Commit = any;

async function playedRoom() {
  const fx = await setupRoom({ server: { fakeClock: true } });
  const { c, room, alice, bob } = fx;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 1 }); // 3
  await c.ok(room.id, room.token, "_register_action", {
    id: "play",
    params: { move: { type: "string", required: true } },
    if: "state._shared.turn < 3",
    writes: [
      { scope: "_shared", key: "turn", increment: true },
      { scope: "_shared", key: "last", value: "${params.move}" },
    ],
  }); // 4
  await c.ok(room.id, alice, "play", { move: "north" }); // 5
  await c.ok(room.id, bob, "_send_message", { body: "your turn" }); // 6
  await c.ok(room.id, bob, "play", { move: "south" }); // 7
  assert.equal((await c.invoke(room.id, alice, "play", { move: "east" })).status, 409); // 8: refused
  await c.ok(room.id, alice, "_claim_message", { seq: 1 }); // 9
  await c.ok(room.id, room.token, "_delete_state", { scope: "_shared", key: "last" }); // 10
  return fx;
}

Deno.test("GET /history lists every commit newest first with who, what and the writes", async () => {
  const { s, req, room } = await playedRoom();
  await using _ = s;
  const r = await req("GET", "/history", room.token);
  assert.equal(r.status, 200, r.text);
  const seqs = r.json.commits.map((x: Commit) => x.seq);
  assert.deepEqual(seqs, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.equal(r.json.next, null);
  assert.equal(r.json.oldest_seq, 0);
  assert.equal(r.json.cursor, 10);
  const bySeq = new Map(r.json.commits.map((x: Commit) => [x.seq, x]));
  const play = bySeq.get(7) as Commit;
  assert.deepEqual([play.agent, play.action, play.ok], ["bob", "play", true]);
  assert.deepEqual(play.writes, [
    { scope: "_shared", key: "turn", version: 3, value: 3 },
    { scope: "_shared", key: "last", version: 2, value: "south" },
  ], "in the order the commit wrote them");
  assert.ok(!("params" in play), "params stay in the audit log");
  assert.equal(typeof play.ts, "string");
  const join = bySeq.get(1) as Commit;
  assert.deepEqual([join.agent, join.action, join.writes], ["alice", "_join", []]);
  assert.equal(join.agents[0].id, "alice");
  assert.ok(!JSON.stringify(join).includes("token"), "no token material");
  const registered = bySeq.get(4) as Commit;
  assert.equal(registered.action, "_register_action");
  assert.equal(registered.actions[0].id, "play");
  assert.equal(registered.actions[0].if, "state._shared.turn < 3");
  const deleted = bySeq.get(10) as Commit;
  assert.deepEqual(deleted.writes, [{ scope: "_shared", key: "last", version: 2, deleted: true }]);
  const sent = bySeq.get(6) as Commit;
  assert.equal(sent.writes[0].scope, "_messages");
  assert.equal(sent.writes[0].value.body, "your turn");
  assert.equal(sent.writes[0].value.claimed_by, null, "as sent, before the claim");
  const claimed = bySeq.get(9) as Commit;
  assert.deepEqual([claimed.writes[0].version, claimed.writes[0].value.claimed_by], [2, "alice"]);
});

Deno.test("GET /history shows a refusal with its error code, message and detail", async () => {
  const { s, req, room, alice } = await playedRoom();
  await using _ = s;
  for (const token of [room.token, alice, room.view]) {
    const refused = (await req("GET", "/history", token)).json.commits.find((x: Commit) => x.seq === 8);
    assert.ok(refused, "the invoker and the tokens see it");
    assert.deepEqual([refused.ok, refused.agent, refused.action, refused.error], [
      false,
      "alice",
      "play",
      "precondition_failed",
    ]);
    assert.match(refused.message, /is not satisfied/);
    assert.equal(refused.detail.expression, "state._shared.turn < 3");
    assert.deepEqual(refused.detail.detail, { "state._shared.turn": 3 });
    assert.deepEqual(refused.writes, []);
  }
});

Deno.test("GET /history pages with next, newest or oldest first, and filters", async (t) => {
  const { s, req, room } = await playedRoom();
  await using _ = s;
  await t.step("limit and next walk the whole timeline without gaps or repeats", async () => {
    const seen: number[] = [];
    let path = "/history?limit=3";
    for (let i = 0; i < 10; i++) {
      const r = await req("GET", path, room.token);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.commits.length <= 3);
      seen.push(...r.json.commits.map((x: Commit) => x.seq));
      if (r.json.next === null) break;
      path = `/history?limit=3&before=${r.json.next}`;
    }
    assert.deepEqual(seen, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });
  await t.step("order=asc with after pages oldest first", async () => {
    const r1 = await req("GET", "/history?order=asc&limit=4", room.token);
    assert.deepEqual(r1.json.commits.map((x: Commit) => x.seq), [1, 2, 3, 4]);
    const r2 = await req("GET", `/history?order=asc&limit=4&after=${r1.json.next}`, room.token);
    assert.deepEqual(r2.json.commits.map((x: Commit) => x.seq), [5, 6, 7, 8]);
  });
  await t.step("after and before bound the range", async () => {
    const r = await req("GET", "/history?after=3&before=7", room.token);
    assert.deepEqual(r.json.commits.map((x: Commit) => x.seq), [6, 5, 4]);
  });
  await t.step("agent, action, scope and key filter", async () => {
    const byAgent = await req("GET", "/history?agent=bob", room.token);
    assert.deepEqual(byAgent.json.commits.map((x: Commit) => x.seq), [7, 6, 2]);
    const byAction = await req("GET", "/history?action=play", room.token);
    assert.deepEqual(byAction.json.commits.map((x: Commit) => x.seq), [8, 7, 5]);
    const byKey = await req("GET", "/history?scope=_shared&key=last", room.token);
    assert.deepEqual(byKey.json.commits.map((x: Commit) => x.seq), [10, 7, 5]);
    const byScope = await req("GET", "/history?scope=_messages", room.token);
    assert.deepEqual(byScope.json.commits.map((x: Commit) => x.seq), [9, 6]);
    const both = await req("GET", "/history?agent=alice&action=play", room.token);
    assert.deepEqual(both.json.commits.map((x: Commit) => x.seq), [8, 5]);
  });
  await t.step("bad queries are 400 invalid_query", async () => {
    for (
      const q of ["limit=x", "order=sideways", "key=last", "after=-1", "nope=1", "before=1.5"]
    ) {
      const r = await req("GET", `/history?${q}`, room.token);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error, "invalid_query", q);
    }
  });
});

Deno.test("GET /state/history lists every version of a key with the commit that wrote it", async () => {
  const { s, req, alice } = await playedRoom();
  await using _ = s;
  const r = await req("GET", "/state/history?scope=_shared&key=turn", alice);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(
    r.json.versions.map((v: Commit) => [v.seq, v.version, v.value, v.agent, v.action]),
    [[7, 3, 3, "bob", "play"], [5, 2, 2, "alice", "play"], [3, 1, 1, "admin", "_set_state"]],
  );
  assert.ok(r.json.versions.every((v: Commit) => typeof v.ts === "string"));
  const last = await req("GET", "/state/history?scope=_shared&key=last&limit=1", alice);
  assert.deepEqual(last.json.versions.map((v: Commit) => [v.seq, v.deleted]), [[10, true]]);
  assert.equal(last.json.next, 10);
  const older = await req("GET", `/state/history?scope=_shared&key=last&before=10`, alice);
  assert.deepEqual(older.json.versions.map((v: Commit) => v.value), ["south", "north"]);
  assert.equal((await req("GET", "/state/history?scope=_shared", alice)).json.error, "invalid_query");
  const none = await req("GET", "/state/history?scope=_shared&key=never", alice);
  assert.deepEqual(none.json.versions, []);
});

Deno.test("/context?at= shows the room as it stood right after that commit", async (t) => {
  const { s, req, room, c, alice, bob } = await playedRoom();
  await using _ = s;
  await t.step("state, actions and messages of then", async () => {
    const at5 = await req("GET", "/context?at=5", bob);
    assert.equal(at5.status, 200, at5.text);
    assert.deepEqual(at5.json.state._shared, { turn: 2, last: "north" });
    assert.equal(at5.json.cursor, 5);
    assert.equal(at5.json.at.seq, 5);
    assert.equal(at5.json.messages.count, 0);
    assert.ok(at5.json.actions.play.available, "turn 2 < 3 then");
    const at7 = await req("GET", "/context?at=7", bob);
    assert.deepEqual(at7.json.state._shared, { turn: 3, last: "south" });
    assert.equal(at7.json.actions.play.available, false);
    assert.equal(at7.json.messages.recent[0].claimed_by, null, "claimed later, at 9");
    const at9 = await req("GET", "/context?at=9", bob);
    assert.equal(at9.json.messages.recent[0].claimed_by, "alice");
    const at10 = await req("GET", "/context?at=10", bob);
    assert.deepEqual(at10.json.state._shared, { turn: 3 });
    const at0 = await req("GET", "/context?at=0", room.token);
    assert.deepEqual([at0.json.state, at0.json.agents], [{}, {}]);
  });
  await t.step("agents as they were: members then, with the grants of then", async () => {
    await c.http("PATCH", `/rooms/${room.id}/agents/bob`, { token: room.token, body: { grants: ["alice"] } }); // 11
    await c.ok(room.id, alice, "_set_state", { key: "plan", value: "hidden-then" }); // 12
    const then = await req("GET", "/context?at=1", room.token);
    assert.deepEqual(Object.keys(then.json.agents), ["alice"]);
    const now = await req("GET", "/context?at=12", bob);
    assert.deepEqual(now.json.state.alice, { plan: "hidden-then" }, "granted at 11");
    assert.deepEqual(now.json.agents.bob.grants, ["alice"]);
    const before = await req("GET", "/context?at=10", bob);
    assert.equal(before.json.state.alice, undefined, "not granted yet at 10");
    const asBob = await req("GET", "/context?at=10&agent=bob", room.token);
    assert.equal(asBob.json.state.alice, undefined, "the room token as bob sees what bob could");
    assert.equal(asBob.json.self, "bob");
    const notYet = await req("GET", "/context?at=1&agent=bob", room.token);
    assert.equal(notYet.status, 404);
    assert.equal(notYet.json.error, "agent_not_found");
  });
  await t.step("a future seq is 400 invalid_query; reading the past marks nothing read", async () => {
    const r = await req("GET", "/context?at=999", bob);
    assert.equal(r.status, 400);
    assert.deepEqual([r.json.error, r.json.field], ["invalid_query", "at"]);
    await req("GET", "/context?at=9", alice);
    const live = await req("GET", "/context", alice);
    assert.equal(live.json.messages.unread, 1, "the message bob sent is still unread for alice");
  });
});

Deno.test("/context?at= judges timers and enabled at that commit's time; views from that state", async () => {
  const { s, c, room, req, alice } = await setupRoom({ server: { fakeClock: true } });
  await using _ = s;
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [
      { scope: "_shared", key: "door", value: "open", timer: { ms: 60_000 } },
      { scope: "_shared", key: "phase", value: "day" },
      { scope: "_shared", key: "night_hint", value: "moon", enabled: 'state._shared.phase == "night"' },
    ],
  }); // 3
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 80 }); // 4
  await c.ok(room.id, alice, "_register_view", {
    id: "alice-status",
    expr: 'state.alice.hp > 50 ? "ok" : "hurt"',
  }); // 5
  s.clock.advance(61_000);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "phase", value: "night" }); // 6
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 10 }); // 7
  const live = await c.context(room.id, room.token);
  assert.equal(live.state._shared.door, undefined, "expired now");
  const at5 = await req("GET", "/context?at=5", room.token);
  assert.equal(at5.json.state._shared.door, "open", "live at commit 5's time");
  assert.equal(at5.json.state._shared.night_hint, undefined, "enabled false then");
  assert.equal(at5.json.views["alice-status"], "ok");
  const at7 = await req("GET", "/context?at=7", room.token);
  assert.equal(at7.json.state._shared.door, undefined);
  assert.equal(at7.json.state._shared.night_hint, "moon");
  assert.equal(at7.json.views["alice-status"], "hurt");
  const at4 = await req("GET", "/context?at=4", room.token);
  assert.deepEqual(at4.json.views, {}, "the view was registered at 5");
});

Deno.test("POST /eval with at evaluates against the room at that commit, with the caller's privacy", async () => {
  const { s, c, room, req, alice, bob } = await setupRoom();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "n", value: 1 }); // 3
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "n", value: 2 }); // 4
  await c.ok(room.id, alice, "_set_state", { key: "secret", value: "x" }); // 5
  const r = await req("POST", "/eval", bob, { expr: "state._shared.n", at: 3 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.value, 1);
  assert.equal(r.json.at.seq, 3);
  assert.equal((await req("POST", "/eval", bob, { expr: "state._shared.n" })).json.value, 2);
  const hidden = await req("POST", "/eval", bob, { expr: "state.alice.secret", at: 5 });
  assert.equal(hidden.json.value, null);
  assert.ok(hidden.json.error, "bob cannot read alice's scope at 5 either");
  const asAlice = await req("POST", "/eval", room.token, {
    expr: "state.self.secret",
    at: 5,
    agent: "alice",
  });
  assert.equal(asAlice.json.value, "x");
  assert.equal((await req("POST", "/eval", bob, { expr: "1", at: 99 })).json.error, "invalid_query");
  const bad = await req("POST", "/eval", bob, { expr: "1", at: -1 });
  assert.deepEqual([bad.status, bad.json.error], [400, "invalid_body"]);
});
