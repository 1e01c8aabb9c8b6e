/**
 * Retention and portability of a room's history: the server's and a room's own limits (`POST /rooms`,
 * `PATCH /rooms/:id`), trimming by commits and by age (fake clock) that keeps every key the room still
 * held, `410 history_expired` beyond it, and export/import carrying the history (format v2; a v1 snapshot
 * starts its history at its last commit).
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { setupRoom, until } from "../_setup.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("a room keeps its newest commits: older ones leave the timeline, what the room held stays", async () => {
  const { s, c, room, req, alice } = await setupRoom({ server: { limits: { historyCommits: 5 } } });
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "rules", value: "v1" }); // 3
  await c.ok(room.id, alice, "_set_state", { key: "note", value: "old" }); // 4
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "gone", value: 1 }); // 5
  await c.ok(room.id, room.token, "_delete_state", { scope: "_shared", key: "gone" }); // 6
  for (let i = 0; i < 14; i++) {
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "n", value: i });
  }
  const last = (await c.context(room.id, room.token)).cursor; // 20
  const h = await until(async () => {
    const r = await req("GET", "/history", room.token);
    return r.json.oldest_seq === last - 4 && r.json;
  }, { what: "the history trimmed to the newest 5 commits" });
  assert.deepEqual(h.commits.map((x: Json) => x.seq), [20, 19, 18, 17, 16]);
  const expired = await req("GET", `/context?at=${last - 5}`, room.token);
  assert.deepEqual([expired.status, expired.json.error, expired.json.oldest_seq], [
    410,
    "history_expired",
    16,
  ]);
  const evalExpired = await req("POST", "/eval", room.token, { expr: "1", at: 3 });
  assert.deepEqual([evalExpired.status, evalExpired.json.oldest_seq], [410, 16]);
  const oldest = await req("GET", "/context?at=16&only=state", room.token);
  assert.equal(oldest.status, 200, oldest.text);
  assert.deepEqual(oldest.json.state._shared, { rules: "v1", n: 9 }, "a key written long ago is still there");
  assert.deepEqual(oldest.json.state.alice, { note: "old" });
  assert.equal((await req("GET", "/context?at=16", alice)).json.state.self.note, "old");
  const versions = await req("GET", "/state/history?scope=_shared&key=rules", room.token);
  assert.deepEqual(
    versions.json.versions.map((v: Json) => [v.seq, v.value, v.agent]),
    [[3, "v1", null]],
    "its version is kept; the commit that wrote it is no longer listed",
  );
  const n = await req("GET", "/state/history?scope=_shared&key=n", room.token);
  assert.deepEqual(n.json.versions.map((v: Json) => v.value), [13, 12, 11, 10, 9]);
  assert.deepEqual((await req("GET", "/state/history?scope=_shared&key=gone", room.token)).json.versions, []);
  assert.equal((await req("GET", "/history?after=2", room.token)).json.commits.at(-1).seq, 16);
});

Deno.test("POST /rooms and PATCH /rooms/:id set a room's own retention, never above the server's", async (t) => {
  await using s = await startServer({ limits: { historyCommits: 1000, historyMaxAgeMs: 3_600_000 } });
  const c = client(s.base);
  await t.step("POST /rooms takes history; the answer shows what the room keeps", async () => {
    const r = await c.http("POST", "/rooms", { body: { id: "kept", history: { commits: 3 } } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.history, { commits: 3, max_age_ms: 3_600_000, oldest_seq: 0 });
    assert.match(r.json.token, /^room_/);
    const again = await c.http("POST", "/rooms", { body: { id: "kept", history: { commits: 3 } } });
    assert.deepEqual([again.status, again.json.error], [409, "room_exists"]);
  });
  await t.step("more than the server keeps, or a malformed setting, is 400 invalid_body", async () => {
    for (
      const [history, field] of [
        [{ commits: 1001 }, "history.commits"],
        [{ max_age_ms: 3_600_001 }, "history.max_age_ms"],
        [{ commits: 0 }, "history.commits"],
        [{ commits: 1.5 }, "history.commits"],
        [{ forever: true }, "history.forever"],
      ] as const
    ) {
      const r = await c.http("POST", "/rooms", { body: { history } });
      assert.deepEqual(
        [r.status, r.json.error, r.json.field],
        [400, "invalid_body", field],
        JSON.stringify(history),
      );
    }
  });
  const room = await c.createRoom("tuned");
  const agent = await c.join(room.id, "alice");
  await t.step("PATCH /rooms/:id (room token) changes it, as a commit of its own", async () => {
    const r = await c.http("PATCH", `/rooms/${room.id}`, {
      token: room.token,
      body: { history: { commits: 10, max_age_ms: 60_000 } },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.history, { commits: 10, max_age_ms: 60_000, oldest_seq: 0 });
    assert.equal(r.json.id, room.id);
    const back = await c.http("PATCH", `/rooms/${room.id}`, {
      token: room.token,
      body: { history: { commits: null } },
    });
    assert.deepEqual(back.json.history, { commits: 1000, max_age_ms: 60_000, oldest_seq: 0 });
    const h = await c.http("GET", `/rooms/${room.id}/history?limit=2`, { token: room.token });
    assert.deepEqual(h.json.commits.map((x: Json) => x.action), ["_patch_room", "_patch_room"]);
  });
  await t.step("only the room token; strict body", async () => {
    const cases: [string | undefined, unknown, number, string][] = [
      [agent, { history: { commits: 5 } }, 403, "forbidden"],
      [room.view, { history: { commits: 5 } }, 403, "read_only_token"],
      [undefined, { history: { commits: 5 } }, 401, "unauthorized"],
      [room.token, { history: { commits: 5 }, liveness: 1 }, 400, "invalid_body"],
      [room.token, { history: { commits: 2000 } }, 400, "invalid_body"],
    ];
    for (const [token, body, status, error] of cases) {
      const r = await c.http("PATCH", `/rooms/${room.id}`, { token, body });
      assert.deepEqual([r.status, r.json.error], [status, error], JSON.stringify(body));
    }
    const missing = await c.http("PATCH", "/rooms/nope", { token: room.token, body: {} });
    assert.deepEqual([missing.status, missing.json.error], [404, "room_not_found"]);
  });
});

Deno.test("a room's max_age_ms trims commits older than that once the room is written again", async () => {
  await using s = await startServer({ fakeClock: true });
  const c = client(s.base);
  const room = await c.createRoom("aging", { history: { max_age_ms: 60_000 } });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "a", value: 1 }); // 1
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "b", value: 2 }); // 2
  s.clock.advance(30_000);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "c", value: 3 }); // 3
  const path = `/rooms/${room.id}/history`;
  assert.deepEqual((await c.http("GET", path, { token: room.token })).json.oldest_seq, 0);
  s.clock.advance(31_000); // commits 1 and 2 are 61 s old now, 3 is 31 s old
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "d", value: 4 }); // 4
  const h = await until(async () => {
    const r = await c.http("GET", path, { token: room.token });
    return r.json.oldest_seq === 3 && r.json;
  }, { what: "commits older than a minute trimmed" });
  assert.deepEqual(h.commits.map((x: Json) => x.seq), [4, 3]);
  const at3 = await c.http("GET", `/rooms/${room.id}/context?at=3&only=state`, { token: room.token });
  assert.deepEqual(at3.json.state._shared, { a: 1, b: 2, c: 3 });
  const at2 = await c.http("GET", `/rooms/${room.id}/context?at=2`, { token: room.token });
  assert.deepEqual([at2.status, at2.json.error, at2.json.oldest_seq], [410, "history_expired", 3]);
});

Deno.test("export carries the retained history; import restores it under a new id, and a v1 snapshot still imports", async (t) => {
  const { s, c, room, req, alice, bob } = await setupRoom({ server: { fakeClock: true } });
  await using _ = s;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 1 }); // 3
  await c.ok(room.id, alice, "_set_state", { key: "plan", value: "north" }); // 4
  await c.ok(room.id, bob, "_send_message", { body: "hi" }); // 5
  await c.ok(room.id, room.token, "_register_view", { id: "turn10", expr: "state._shared.turn * 10" }); // 6
  assert.equal(
    (await c.invoke(room.id, bob, "_set_state", { scope: "alice", key: "x", value: 1 })).status,
    403,
  ); // 7
  await c.ok(room.id, alice, "_claim_message", { seq: 1 }); // 8
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 2 }); // 9
  await c.http("PATCH", `/rooms/${room.id}`, { token: room.token, body: { history: { commits: 50 } } }); // 10
  const leased = { key: "job", value: 1, lease: { ttl_ms: 60_000 } };
  await c.ok(room.id, alice, "_set_state", leased); // 11
  await c.ok(room.id, room.token, "_register_action", {
    id: "ship",
    writes: [{ scope: "_shared", key: "shipped", value: true }],
    approval: { count: 1, from: "true" },
  }); // 12
  assert.equal((await c.invoke(room.id, bob, "ship", {})).status, 202); // 13
  const snap = (await req("GET", "/export", room.token)).json;
  assert.ok(snap.history.rows.some((r: Json) => r.kind === "lease" && r.value.holder === "alice"));
  assert.ok(snap.history.rows.some((r: Json) => r.kind === "proposal" && r.value.status === "pending"));
  assert.equal(snap.format, "agent-sync.room/v2");
  assert.equal(snap.history.oldest_seq, 0);
  assert.deepEqual(snap.history.settings, { commits: 50 });
  assert.ok(snap.history.rows.some((r: Json) => r.kind === "commit" && r.error === "scope_denied"));
  assert.ok(!JSON.stringify(snap.history).includes("token_hash"));
  assert.equal(snap.audit.find((a: Json) => !a.ok).message.includes("may not write"), true);

  const imported = await c.http("POST", "/rooms/import", { body: { ...snap, id: "copy" } });
  assert.equal(imported.status, 201, imported.text);
  const copy = {
    token: imported.json.token,
    alice: imported.json.agent_tokens.alice,
    bob: imported.json.agent_tokens.bob,
  };
  const get = (token: string, path: string) => c.http("GET", `/rooms/copy${path}`, { token });
  const strip = (j: Json) => JSON.parse(JSON.stringify(j).replaceAll(room.id, "copy"));

  await t.step("the timeline, key versions and the room at every commit are the same", async () => {
    const before = (await req("GET", "/history", room.token)).json;
    const after = (await get(copy.token, "/history")).json;
    assert.deepEqual(after.commits, before.commits);
    assert.deepEqual(
      (await get(copy.bob, "/state/history?scope=_shared&key=turn")).json,
      (await req("GET", "/state/history?scope=_shared&key=turn", bob)).json,
    );
    const only = "only=state,views,agents,messages,leases,proposals";
    for (let at = 0; at <= 13; at++) {
      const a = await req("GET", `/context?at=${at}&${only}`, room.token);
      const b = await get(copy.token, `/context?at=${at}&${only}`);
      assert.deepEqual(b.json, strip(a.json), `at ${at}`);
    }
    const refusal = after.commits.find((x: Json) => !x.ok);
    assert.deepEqual([refusal.agent, refusal.error], ["bob", "scope_denied"]);
    const r = await c.http("PATCH", "/rooms/copy", { token: copy.token, body: {} });
    assert.deepEqual(r.json.history, {
      commits: 50,
      max_age_ms: s.eng.limits.historyMaxAgeMs,
      oldest_seq: 0,
    });
  });

  await t.step("a v1 snapshot's history begins at its last commit", async () => {
    const { history: _h, ...v1 } = { ...snap, format: "agent-sync.room/v1", id: "old" };
    for (const m of v1.messages) delete m.commit_seq, delete m.claim_seq;
    const r = await c.http("POST", "/rooms/import", { body: v1 });
    assert.equal(r.status, 201, r.text);
    const h = (await c.http("GET", "/rooms/old/history", { token: r.json.token })).json;
    assert.deepEqual([h.commits, h.oldest_seq, h.cursor], [[], 13, 13]);
    const now = await c.http("GET", "/rooms/old/context?at=13&only=state,messages,views,leases,proposals", {
      token: r.json.token,
    });
    assert.deepEqual(now.json.state, { _shared: { turn: 2 }, alice: { plan: "north", job: 1 } });
    assert.equal(now.json.messages.recent[0].claimed_by, "alice");
    assert.deepEqual(now.json.views, { turn10: 20 });
    assert.equal(now.json.leases.alice.job.holder, "alice", "the baseline has the leases of then");
    assert.deepEqual(Object.values(now.json.proposals).map((p: Json) => p.action), ["ship"]);
    const then = await c.http("GET", "/rooms/old/context?at=12", { token: r.json.token });
    assert.deepEqual([then.status, then.json.oldest_seq], [410, 13]);
    await c.ok("old", r.json.token, "_set_state", { scope: "_shared", key: "turn", value: 3 });
    const next = (await c.http("GET", "/rooms/old/history", { token: r.json.token })).json;
    assert.deepEqual(next.commits.map((x: Json) => x.seq), [14]);
  });

  await t.step("history rows after the snapshot's last commit are refused", async () => {
    const bad = structuredClone(snap);
    bad.history.rows.push({
      kind: "commit",
      seq: 99,
      ts: snap.exported_at,
      agent: "admin",
      action: "x",
      ok: true,
    });
    const r = await c.http("POST", "/rooms/import", { body: bad });
    assert.deepEqual([r.status, r.json.error], [400, "invalid_body"]);
    assert.match(r.json.field, /^history\.rows\[\d+\]\.seq$/);
  });
});
