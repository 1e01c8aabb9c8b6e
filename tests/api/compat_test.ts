/**
 * The compatibility routes of reference/api.md#compatibility-routes (seeds 000 and 003): each is a thin route onto a builtin, so it is
 * audited and obeys the same authority rules, with the status codes and shapes its seed documents.
 */
import { SEND_MESSAGE } from "../_seed_actions.ts";
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

async function setup() {
  const fx = await setupRoom({ room: "demo" });
  const { room, req } = fx;
  /** The room's audit rows, newest last, as the room token sees them. */
  const audit = async () => {
    const r = await req("GET", "/poll?audit_limit=2000&messages_limit=1", room.token);
    assert.equal(r.status, 200);
    return r.json.audit as {
      action: string;
      agent: string;
      ok: boolean;
      status: number;
      params: Record<string, unknown>;
    }[];
  };
  const lastAudit = async () => (await audit()).at(-1)!;
  return { ...fx, audit, lastAudit };
}

Deno.test("PUT /state writes through _set_state: row shape, CAS, if gate, increment, authority, audit", async () => {
  const { s, room, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  const r = await req("PUT", "/state", room.token, { scope: "_shared", key: "phase", value: "lobby" });
  assert.equal(r.status, 200);
  assert.deepEqual(
    {
      room_id: r.json.room_id,
      scope: r.json.scope,
      key: r.json.key,
      value: r.json.value,
      version: r.json.version,
    },
    { room_id: "demo", scope: "_shared", key: "phase", value: "lobby", version: 1 },
  );
  assert.equal(typeof r.json.updated_at, "string");
  assert.deepEqual(
    (({ action, agent, ok, status }) => ({ action, agent, ok, status }))(await lastAudit()),
    { action: "_set_state", agent: "admin", ok: true, status: 200 },
  );

  const v2 = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "phase",
    value: "playing",
    if_version: 1,
  });
  assert.equal(v2.json.version, 2);
  const stale = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "phase",
    value: "x",
    if_version: 1,
  });
  assert.equal(stale.status, 409);
  assert.equal(stale.json.error, "version_conflict");
  assert.equal(stale.json.expected_version, 1);
  assert.equal(stale.json.current.value, "playing");
  const create = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "phase",
    value: "x",
    if_version: 0,
  });
  assert.equal(create.status, 409);
  const refused = await lastAudit();
  assert.equal(refused.ok, false);
  assert.equal(refused.status, 409);

  const gated = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "g",
    value: 1,
    if: 'state._shared.phase == "lobby"',
  });
  assert.equal(gated.status, 409);
  assert.equal(gated.json.error, "precondition_failed");
  assert.equal(gated.json.expression, 'state._shared.phase == "lobby"');
  const badCel = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "g",
    value: 1,
    if: "state._shared.phase ==",
  });
  assert.equal(badCel.status, 400);
  assert.equal(badCel.json.error, "invalid_cel");

  await req("PUT", "/state", room.token, { scope: "_shared", key: "n", value: 5, increment: true });
  const inc = await req("PUT", "/state", room.token, {
    scope: "_shared",
    key: "n",
    value: 2,
    increment: true,
  });
  assert.equal(inc.json.value, 7);

  const own = await req("PUT", "/state", alice, { scope: "alice", key: "health", value: 100 });
  assert.equal(own.status, 200);
  const denied = await req("PUT", "/state", alice, { scope: "bob", key: "health", value: 0 });
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error, "scope_denied");
  const deniedAudit = await lastAudit();
  assert.deepEqual([deniedAudit.agent, deniedAudit.ok, deniedAudit.status], ["alice", false, 403]);
  assert.equal((await req("PUT", "/state", room.view, { key: "x", value: 1 })).json.error, "read_only_token");
  assert.equal((await req("PUT", "/state", undefined, { key: "x", value: 1 })).status, 401);
  assert.equal((await req("PUT", "/state", bob, { key: "x" })).status, 400);
  const notJson = await s.eng.rooms.get(room.id).then(() => req("PUT", "/state", bob, undefined));
  assert.equal(notJson.status, 400);
});

Deno.test("PUT /state/batch → {ok, count, state}, all or nothing, one if gate, at most 20 writes", async () => {
  const { s, room, req, lastAudit } = await setup();
  await using _ = s;
  const r = await req("PUT", "/state/batch", room.token, {
    writes: [{ scope: "_shared", key: "phase", value: "lobby" }, {
      scope: "_shared",
      key: "max_players",
      value: 4,
    }],
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.count, 2);
  assert.deepEqual(
    r.json.state.map((e: { key: string; value: unknown; version: number }) => [e.key, e.value, e.version]),
    [
      ["phase", "lobby", 1],
      ["max_players", 4, 1],
    ],
  );
  assert.equal(r.json.state[0].room_id, "demo");
  assert.equal((await lastAudit()).action, "_batch_set_state");

  const partial = await req("PUT", "/state/batch", room.token, {
    writes: [{ scope: "_shared", key: "a", value: 1 }, {
      scope: "_shared",
      key: "phase",
      value: "x",
      if_version: 5,
    }],
  });
  assert.equal(partial.status, 409);
  assert.equal(
    (await req("GET", "/state?scope=_shared&key=a", room.token)).status,
    404,
    "nothing of a refused batch lands",
  );

  const gated = await req("PUT", "/state/batch", room.token, {
    if: 'state._shared.phase == "playing"',
    writes: [{ scope: "_shared", key: "a", value: 1 }],
  });
  assert.equal(gated.status, 409);
  assert.equal(gated.json.error, "precondition_failed");

  const tooMany = await req("PUT", "/state/batch", room.token, {
    writes: Array.from({ length: 21 }, (_, i) => ({ scope: "_shared", key: `k${i}`, value: i })),
  });
  assert.equal(tooMany.status, 400);
  assert.equal((await req("PUT", "/state/batch", room.token, { writes: [] })).status, 400);
});

Deno.test("GET /state returns one object for scope+key, an array otherwise; DELETE /state → {deleted:true}", async () => {
  const { s, room, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  await req("PUT", "/state", room.token, { scope: "_shared", key: "phase", value: "lobby" });
  await req("PUT", "/state", alice, { scope: "alice", key: "secret_plan", value: "attack from the north" });
  const one = await req("GET", "/state?scope=_shared&key=phase", bob);
  assert.equal(one.status, 200);
  assert.equal(one.json.value, "lobby");
  assert.equal(one.json.version, 1);
  const list = await req("GET", "/state?scope=_shared", bob);
  assert.ok(Array.isArray(list.json));
  assert.deepEqual(list.json.map((e: { key: string }) => e.key), ["phase"]);
  const denied = await req("GET", "/state?scope=alice", bob);
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error, "scope_denied");
  assert.ok(!denied.text.includes("north"));
  const all = await req("GET", "/state", bob);
  assert.ok(!all.text.includes("north"));

  const del = await req("DELETE", "/state", room.token, { scope: "_shared", key: "phase" });
  assert.equal(del.status, 200);
  assert.equal(del.json.deleted, true);
  assert.equal((await lastAudit()).action, "_delete_state");
  assert.equal((await req("GET", "/state?scope=_shared&key=phase", bob)).status, 404);
  const other = await req("DELETE", "/state", bob, { scope: "alice", key: "secret_plan" });
  assert.equal(other.status, 403);
  assert.equal(
    (await req("GET", "/state?scope=alice&key=secret_plan", alice)).json.value,
    "attack from the north",
  );
});

Deno.test("PUT/GET/DELETE /actions: register, list, get, delete (owner or room token), each audited", async () => {
  const { s, c, room, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  const put = await req("PUT", "/actions", room.token, SEND_MESSAGE);
  assert.equal(put.status, 200);
  assert.equal((await lastAudit()).action, "_register_action");
  const list = await req("GET", "/actions", alice);
  const mine = list.json.find((a: { id: string }) => a.id === "send_message");
  assert.equal(mine.available, true);
  assert.equal(mine.description, "Send a chat message to the room");
  assert.ok(list.json.some((a: { id: string; builtin?: boolean }) => a.id === "_send_message" && a.builtin));
  const one = await req("GET", "/actions/send_message", alice);
  assert.equal(one.json.id, "send_message");
  assert.deepEqual(one.json.params, { body: { type: "string" } });
  await c.ok(room.id, alice, "send_message", { body: "Hello everyone!" });

  const badCel = await req("PUT", "/actions", room.token, { id: "bad", if: "state._shared ==", writes: [] });
  assert.equal(badCel.status, 400);
  assert.equal(badCel.json.error, "invalid_cel");

  const byAlice = await req("PUT", "/actions", alice, {
    id: "wave",
    writes: [{ scope: "alice", key: "waved", value: true }],
    scope: "alice",
  });
  assert.equal(byAlice.status, 200);
  const notOwner = await req("DELETE", "/actions/wave", bob);
  assert.equal(notOwner.status, 403);
  assert.equal(notOwner.json.error, "not_owner");
  const del = await req("DELETE", "/actions/wave", alice);
  assert.equal(del.status, 200);
  assert.equal((await lastAudit()).action, "_delete_action");
  assert.equal((await req("GET", "/actions/wave", alice)).status, 404);
  assert.equal((await req("DELETE", "/actions/wave", room.token)).status, 404);
  assert.equal((await req("PUT", "/actions", room.view, { id: "x", writes: [] })).status, 403);
});

Deno.test("PUT|POST/GET/DELETE /views: register returns the value; bob sees the view, not alice's state", async () => {
  const { s, room, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  await req("PUT", "/state", alice, { scope: "alice", key: "health", value: 100 });
  const put = await req("PUT", "/views", alice, {
    id: "alice-status",
    scope: "alice",
    expr: 'state["alice"].health > 50 ? "healthy" : "wounded"',
    description: "Alice public health status",
  });
  assert.equal(put.status, 200);
  assert.equal(put.json.value, "healthy");
  assert.equal((await lastAudit()).action, "_register_view");
  const post = await req("POST", "/views", room.token, {
    id: "game-status",
    scope: "_shared",
    expr: '"lobby"',
  });
  assert.equal(post.status, 200);
  assert.equal(post.json.value, "lobby");

  const list = await req("GET", "/views", bob);
  assert.deepEqual(list.json.map((v: { id: string; value: unknown }) => [v.id, v.value]), [
    ["alice-status", "healthy"],
    ["game-status", "lobby"],
  ]);
  const one = await req("GET", "/views/alice-status", bob);
  assert.equal(one.json.value, "healthy");
  assert.equal((await req("GET", "/state?scope=alice", bob)).status, 403);

  assert.equal((await req("DELETE", "/views/alice-status", bob)).status, 403);
  const del = await req("DELETE", "/views/alice-status", alice);
  assert.equal(del.status, 200);
  assert.equal((await lastAudit()).action, "_delete_view");
  assert.equal((await req("GET", "/views/alice-status", bob)).status, 404);
  const bad = await req("PUT", "/views", room.token, { id: "v", expr: "1 +" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, "invalid_cel");
});

Deno.test("POST /messages → 201 with the message object (v3 fields too); from must be the caller", async () => {
  const { s, room, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  const r = await req("POST", "/messages", alice, { body: "hi", to: "bob" });
  assert.equal(r.status, 201);
  assert.equal(r.json.seq, 1);
  assert.equal(r.json.id, 1);
  assert.equal(r.json.room_id, "demo");
  assert.equal(r.json.from, "alice");
  assert.equal(r.json.from_agent, "alice");
  assert.equal(r.json.to_agent, "bob");
  assert.equal(r.json.kind, "chat");
  assert.equal(r.json.body, "hi");
  assert.equal(r.json.reply_to, null);
  assert.equal(r.json.claimed_by, null);
  assert.equal(r.json.claimed_at, null);
  assert.equal(typeof r.json.created_at, "string");
  assert.equal((await lastAudit()).action, "_send_message");

  const obj = await req("POST", "/messages", bob, {
    from: "bob",
    body: { result: 42 },
    kind: "result",
    reply_to: 1,
  });
  assert.equal(obj.status, 201);
  assert.deepEqual(obj.json.body, { result: 42 });
  assert.equal(obj.json.reply_to, 1);
  const forged = await req("POST", "/messages", bob, { from: "alice", body: "it was me" });
  assert.equal(forged.status, 403);
  assert.equal(forged.json.error, "identity_mismatch");
  assert.equal(forged.json.authenticated_as, "bob");
  assert.equal(forged.json.claimed, "alice");
  const missingReply = await req("POST", "/messages", bob, { body: "x", reply_to: 77 });
  assert.equal(missingReply.status, 404);
  assert.equal((await req("POST", "/messages", bob, {})).status, 400);
  assert.equal((await req("POST", "/messages", room.view, { body: "x" })).status, 403);
});

Deno.test("GET /messages filters by after, kind, thread, unclaimed and limit, oldest first", async () => {
  const { s, c, room, alice, bob, req } = await setup();
  await using _ = s;
  await req("POST", "/messages", alice, { body: "task one", kind: "task" }); // 1
  await req("POST", "/messages", alice, { body: "chat" }); // 2
  await req("POST", "/messages", bob, { body: "on it", reply_to: 1 }); // 3
  await req("POST", "/messages", alice, { body: "task two", kind: "task" }); // 4
  await req("POST", "/messages", bob, { body: "done", kind: "result", reply_to: 1 }); // 5
  await c.ok(room.id, bob, "_claim_message", { seq: 1 });
  const seqs = async (qs: string) => {
    const r = await req("GET", `/messages${qs}`, bob);
    assert.equal(r.status, 200, r.text);
    return r.json.map((m: { id: number }) => m.id);
  };
  assert.deepEqual(await seqs(""), [1, 2, 3, 4, 5]);
  assert.deepEqual(await seqs("?after=2"), [3, 4, 5]);
  assert.deepEqual(await seqs("?kind=task"), [1, 4]);
  assert.deepEqual(await seqs("?thread=1"), [1, 3, 5]);
  assert.deepEqual(await seqs("?kind=task&unclaimed=true"), [4]);
  assert.deepEqual(await seqs("?limit=2"), [1, 2]);
  assert.deepEqual(await seqs("?after=1&limit=2"), [2, 3]);
  const first = (await req("GET", "/messages?limit=1", bob)).json[0];
  assert.equal(first.claimed_by, "bob");
  assert.equal(first.from_agent, "alice");
  assert.equal((await req("GET", "/messages?limit=lots", bob)).status, 400);
  assert.equal((await req("GET", "/messages?colour=red", bob)).status, 400);
  assert.equal((await req("GET", "/messages", undefined)).status, 401);
});

Deno.test("GET /messages limit defaults to 50 and is capped at 500", async () => {
  const { s, c, room, req } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "burst",
    writes: Array.from(
      { length: 20 },
      (_, i) => ({ scope: "_messages", append: true, value: { body: `b${i}` } }),
    ),
  });
  for (let i = 0; i < 26; i++) await c.ok(room.id, room.token, "burst");
  assert.equal((await req("GET", "/messages", room.token)).json.length, 50);
  const capped = await req("GET", "/messages?limit=100000", room.token);
  assert.equal(capped.json.length, 500);
  assert.equal(capped.json[499].id, 500);
});

Deno.test("POST /messages/:seq/claim: 200 claimed:true, then 409 {claimed:false, claimed_by}, 404 unknown", async () => {
  const { s, alice, bob, req, lastAudit } = await setup();
  await using _ = s;
  await req("POST", "/messages", alice, { body: "analyze the dataset", kind: "task" });
  const won = await req("POST", "/messages/1/claim", bob, { agent: "bob" });
  assert.equal(won.status, 200);
  assert.equal(won.json.claimed, true);
  assert.equal(won.json.claimed_by, "bob");
  assert.equal(won.json.message_id, 1);
  assert.equal((await lastAudit()).action, "_claim_message");
  const lost = await req("POST", "/messages/1/claim", alice);
  assert.equal(lost.status, 409);
  assert.equal(lost.json.claimed, false);
  assert.equal(lost.json.claimed_by, "bob");
  assert.equal(typeof lost.json.claimed_at, "string");
  const refused = await lastAudit();
  assert.deepEqual([refused.action, refused.ok, refused.status], ["_claim_message", false, 409]);
  const missing = await req("POST", "/messages/99/claim", alice);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, "message_not_found");
  const asOther = await req("POST", "/messages/1/claim", alice, { agent: "bob" });
  assert.equal(asOther.status, 403);
  assert.equal(asOther.json.error, "identity_mismatch");
  const notASeq = await req("POST", "/messages/abc/claim", alice);
  assert.equal(notASeq.status, 404);
  assert.equal(notASeq.json.error, "message_not_found");
});

Deno.test("10 concurrent claims of one message: exactly one 200 claimed:true, nine 409 naming the winner", async () => {
  const { s, c, room, req } = await setup();
  await using _ = s;
  const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => c.join(room.id, `w${i}`)));
  await req("POST", "/messages", room.token, { body: "one job", kind: "task" });
  const rs = await Promise.all(tokens.map((t) => req("POST", "/messages/1/claim", t)));
  const winners = rs.filter((r) => r.status === 200);
  assert.equal(winners.length, 1);
  assert.equal(winners[0].json.claimed, true);
  const winner = winners[0].json.claimed_by;
  const losers = rs.filter((r) => r.status === 409);
  assert.equal(losers.length, 9);
  for (const l of losers) assert.deepEqual([l.json.claimed, l.json.claimed_by], [false, winner]);
  const stored = (await req("GET", "/messages", room.token)).json[0];
  assert.equal(stored.claimed_by, winner);
});

Deno.test("POST /agents/:agent/heartbeat → {ok, agent, status, heartbeat}; only for oneself; audited", async () => {
  const { s, room, alice, req, lastAudit } = await setup();
  await using _ = s;
  const r = await req("POST", "/agents/alice/heartbeat", alice, { status: "busy" });
  assert.equal(r.status, 200);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.agent, "alice");
  assert.equal(r.json.status, "busy");
  assert.equal(typeof r.json.heartbeat, "string");
  assert.equal((await lastAudit()).action, "_heartbeat");
  const agents = await req("GET", "/agents", room.token);
  const a = agents.json.find((x: { id: string }) => x.id === "alice");
  assert.equal(a.status, "busy");
  assert.equal(a.last_heartbeat, r.json.heartbeat);
  const plain = await req("POST", "/agents/alice/heartbeat", alice);
  assert.equal(plain.json.status, "active");
  const other = await req("POST", "/agents/bob/heartbeat", alice, {});
  assert.equal(other.status, 403);
  assert.equal(other.json.error, "identity_mismatch");
  const bad = await req("POST", "/agents/alice/heartbeat", alice, { status: "sleepy" });
  assert.equal(bad.status, 400);
  const admin = await req("POST", "/agents/bob/heartbeat", room.token, { status: "idle" });
  assert.equal(admin.status, 200);
  assert.equal(admin.json.agent, "bob");
});

Deno.test("seed 003 computed views: PUT /state {scope:_view, expr} registers one; GET /state?scope=_view&resolve=true reads it", async () => {
  const { s, c, room, alice } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 3 });
  const put = await c.http("PUT", `/rooms/${room.id}/state`, {
    token: room.token,
    body: { scope: "_view", key: "next_turn", expr: "state._shared.turn + 1" },
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.resolved_value, 4);
  const rows = await c.http("GET", `/rooms/${room.id}/state?scope=_view&resolve=true`, { token: alice });
  assert.equal(rows.status, 200);
  const row = rows.json.find((r: { key: string }) => r.key === "next_turn");
  assert.deepEqual([row.scope, row.expr, row.resolved_value], ["_view", "state._shared.turn + 1", 4]);
  const one = await c.http("GET", `/rooms/${room.id}/state?scope=_view&key=next_turn`, { token: alice });
  assert.equal(one.json.resolved_value, 4);
});
