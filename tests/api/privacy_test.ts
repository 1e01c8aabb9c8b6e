/**
 * The privacy matrix of reference/security.md: a secret in alice's scope (and in an audit row, through private params)
 * reaches no response to bob, to a caller without a token, or to any error body; the room and view
 * tokens see it. Bob cannot reach it through actions, views, `if`, `detail`, dry runs or error messages.
 */
import assert from "node:assert/strict";
import type { Res } from "../_server.ts";
import { setupRoom } from "../_setup.ts";

const SECRET = "s3cr3t-north-gate";
const SECRET2 = "pw-9f8e7d";

function clean(r: Res, what: string): void {
  assert.ok(!r.text.includes(SECRET), `${what} leaked the secret: ${r.text.slice(0, 400)}`);
  assert.ok(!r.text.includes(SECRET2), `${what} leaked the audit secret: ${r.text.slice(0, 400)}`);
}

async function setup() {
  const fx = await setupRoom({
    room: "priv",
    join: { alice: { state: { plan: SECRET, health: 80, box: { code: SECRET } } } },
  });
  const { c, room, alice } = fx;
  // a private param that lands in alice's audit row only
  await c.ok(room.id, alice, "_set_state", { key: "pw", value: SECRET2 });
  // a lease in alice's scope whose very key is secret: nobody else may learn it is held
  await c.ok(room.id, alice, "_set_state", { key: `held-${SECRET}`, value: 1, lease: true });
  // alice publishes a safe projection and an action that reads her scope
  await c.ok(room.id, alice, "_register_view", {
    id: "alice-status",
    expr: 'state["alice"].health > 50 ? "healthy" : "wounded"',
  });
  await c.ok(room.id, alice, "_register_action", {
    id: "guess",
    scope: "alice",
    params: { word: { type: "string" } },
    if: "state.alice.plan == params.word",
    writes: [{ scope: "_shared", key: "solved", value: true }],
  });
  // an owner expression whose runtime error would quote the secret ("No such key: <secret>")
  await c.ok(room.id, alice, "_register_action", {
    id: "lookup",
    scope: "alice",
    if: "state.alice.box[state.alice.plan] == 1",
    writes: [{ scope: "_shared", key: "looked", value: true }],
  });
  await c.ok(room.id, alice, "_register_action", {
    id: "poke",
    scope: "alice",
    params: { note: { type: "string" } },
    writes: [
      { scope: "alice", key: "box", merge: { note: "${params.note}" } },
      { scope: "alice", key: "copy", expr: true, value: "state.alice.plan" },
    ],
  });
  await c.ok(room.id, alice, "_register_action", {
    id: "gated_write",
    scope: "alice",
    writes: [{ scope: "alice", key: "x", value: 1, if: 'state.alice.plan == "nope"' }],
  });
  await c.ok(room.id, alice, "_register_action", {
    id: "cas",
    scope: "alice",
    writes: [{ scope: "alice", key: "plan", value: "overwritten", if_version: 0 }],
  });
  await c.ok(room.id, alice, "_register_action", {
    id: "bump_plan",
    scope: "alice",
    writes: [{ scope: "alice", key: "plan", increment: 1 }],
  });
  await c.ok(room.id, alice, "_register_view", {
    id: "alice-broken",
    expr: "state.alice.box[state.alice.plan]",
  });
  return fx;
}

Deno.test("privacy: bob, the anonymous caller and error bodies never see alice's secret", async (t) => {
  const { s, c, room, alice, bob } = await setup();
  await using _s = s;
  const r = `/rooms/${room.id}`;

  await t.step("reads by bob", async () => {
    const reads: [string, string, unknown?][] = [
      ["GET", `${r}/context`],
      ["GET", `${r}/context?only=state`],
      ["GET", `${r}/context?only=state.alice`],
      ["GET", `${r}/state`],
      ["GET", `${r}/state?scope=_audit`],
      ["GET", `${r}/poll`],
      ["GET", `${r}/views`],
      ["GET", `${r}/views/alice-status`],
      ["GET", `${r}/views/alice-broken`],
      ["GET", `${r}/actions`],
      ["GET", `${r}/actions/guess`],
      ["GET", `${r}/agents`],
      ["GET", `${r}/wait?condition=true&include=state,views,actions,messages,agents`],
      ["GET", `${r}/wait?condition=true`],
      ["POST", `${r}/eval`, { expr: "state" }],
      ["POST", `${r}/eval`, { expr: "state.alice.plan" }],
      ["POST", `${r}/eval`, { expr: 'state["alice"]' }],
      ["POST", `${r}/eval`, { expr: "state.alice.box[state.alice.plan]" }],
      ["POST", `${r}/eval`, { expr: "views" }],
      ["POST", `${r}/eval`, { expr: "leases" }],
      ["POST", `${r}/eval`, { expr: "leases.alice" }],
      ["GET", `${r}/context?only=leases`],
      ["GET", `${r}/wait?condition=true&include=leases,state`],
    ];
    for (const [method, path, body] of reads) {
      const res = await c.http(method, path, { token: bob, body });
      assert.ok(res.status < 500, `${method} ${path} → ${res.status}`);
      clean(res, `bob ${method} ${path}`);
    }
    const ctx = await c.context(room.id, bob);
    assert.equal(ctx.state.alice, undefined);
    assert.equal(ctx.views["alice-status"], "healthy");
  });

  await t.step("bob reading alice's scope directly is 403 scope_denied", async () => {
    for (const path of [`${r}/state?scope=alice`, `${r}/state?scope=alice&key=plan`]) {
      const res = await c.http("GET", path, { token: bob });
      assert.equal(res.status, 403);
      assert.equal(res.json.error, "scope_denied");
      clean(res, path);
    }
    const ev = await c.http("POST", `${r}/eval`, { token: bob, body: { expr: "has(state.alice)" } });
    assert.equal(ev.json.value, false);
    const lv = await c.http("POST", `${r}/eval`, { token: bob, body: { expr: "has(leases.alice)" } });
    assert.equal(lv.json.value, false, "leases mirror state: no alice for bob");
  });

  await t.step("bob's audit view holds only his own rows", async () => {
    await c.ok(room.id, bob, "_set_state", { key: "mine", value: 1 });
    const rows = (await c.http("GET", `${r}/state?scope=_audit`, { token: bob })).json;
    assert.ok(rows.length >= 1);
    for (const row of rows) assert.equal(row.value.agent, "bob");
    const poll = (await c.http("GET", `${r}/poll`, { token: bob })).json;
    assert.ok(poll.audit.length >= 1);
    for (const a of poll.audit) assert.equal(a.agent, "bob");
    const mine = (await c.http("GET", `${r}/poll`, { token: alice })).json;
    assert.ok(mine.audit.some((a: { params: { value?: string } }) => a.params.value === SECRET2));
    for (const a of mine.audit) assert.equal(a.agent, "alice");
  });

  await t.step("the anonymous caller gets 401 with no room contents", async () => {
    for (
      const path of [`${r}/context`, `${r}/state`, `${r}/poll`, `${r}/views`, `${r}/actions`, `${r}/agents`]
    ) {
      const res = await c.http("GET", path);
      assert.equal(res.status, 401, path);
      assert.equal(res.json.error, "unauthorized");
      clean(res, `anonymous ${path}`);
    }
    const info = await c.http("GET", r);
    assert.equal(info.status, 200);
    assert.deepEqual(Object.keys(info.json).sort(), ["created_at", "id", "meta"]);
    clean(info, "GET /rooms/:id");
    const inv = await c.invoke(room.id, undefined, "guess", { word: "x" });
    assert.equal(inv.status, 401);
    clean(inv, "anonymous invoke");
  });

  await t.step("the room and view tokens see the secret", async () => {
    for (const tok of [room.token, room.view]) {
      const st = await c.http("GET", `${r}/state?scope=alice&key=plan`, { token: tok });
      assert.equal(st.status, 200);
      assert.equal(st.json.value, SECRET);
      const ctx = await c.context(room.id, tok);
      assert.equal(ctx.state.alice.plan, SECRET);
      const audit = (await c.http("GET", `${r}/poll`, { token: tok })).json.audit;
      assert.ok(audit.some((a: { params: { value?: string } }) => a.params.value === SECRET2));
      const ev = await c.http("POST", `${r}/eval`, { token: tok, body: { expr: "state.alice.plan" } });
      assert.equal(ev.json.value, SECRET);
    }
  });

  await t.step("alice's action `if` refuses bob without explaining alice's values", async () => {
    const wrong = await c.invoke(room.id, bob, "guess", { word: "south" });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.json.error, "precondition_failed");
    assert.ok("detail" in wrong.json);
    clean(wrong, "precondition_failed");
    const lookup = await c.invoke(room.id, bob, "lookup");
    assert.equal(lookup.status, 409);
    clean(lookup, "precondition_failed with a runtime error");
    // guessing right works (the owner scope is visible to the predicate), but tells bob nothing new
    const right = await c.invoke(room.id, bob, "guess", { word: SECRET });
    assert.equal(right.status, 200);
    // alice herself gets the explanation with her values
    const own = await c.invoke(room.id, alice, "lookup");
    assert.equal(own.status, 409);
    assert.ok(own.text.includes(SECRET));
  });

  await t.step("writes into alice's scope are not echoed to bob (real and dry run)", async () => {
    for (const qs of ["?dry_run=true", ""]) {
      const res = await c.http("POST", `${r}/actions/poke/invoke${qs}`, {
        token: bob,
        body: { params: { note: "hi" } },
      });
      assert.equal(res.status, 200, res.text);
      clean(res, `poke${qs}`);
      assert.equal(res.json.writes.length, 2);
    }
    const gated = await c.invoke(room.id, bob, "gated_write");
    assert.equal(gated.status, 409);
    clean(gated, "per-write if");
    const cas = await c.invoke(room.id, bob, "cas");
    assert.equal(cas.status, 409);
    assert.equal(cas.json.error, "version_conflict");
    clean(cas, "version_conflict in alice's scope");
    const bump = await c.invoke(room.id, bob, "bump_plan");
    assert.equal(bump.status, 400);
    clean(bump, "increment of a string");
    // alice's scope is unchanged by bob's refused calls
    const st = await c.http("GET", `${r}/state?scope=alice&key=plan`, { token: room.token });
    assert.equal(st.json.value, SECRET);
  });

  await t.step("bob cannot register actions or views owned by alice's scope", async () => {
    const a = await c.invoke(room.id, bob, "_register_action", {
      id: "steal",
      scope: "alice",
      writes: [{ scope: "_shared", key: "loot", expr: true, value: "state.alice.plan" }],
    });
    assert.equal(a.status, 403);
    clean(a, "register action as alice");
    const v = await c.invoke(room.id, bob, "_register_view", {
      id: "peek",
      scope: "alice",
      expr: "state.alice.plan",
    });
    assert.equal(v.status, 403);
    clean(v, "register view as alice");
    const actions = (await c.http("GET", `${r}/actions`, { token: room.token })).json;
    assert.ok(!actions.some((x: { id: string }) => x.id === "steal"));
    const views = (await c.http("GET", `${r}/views`, { token: room.token })).json;
    assert.ok(!views.some((x: { id: string }) => x.id === "peek"));
  });

  await t.step("bob's own actions and views cannot read alice's scope", async () => {
    await c.ok(room.id, bob, "_register_action", {
      id: "bob_copy",
      writes: [{ scope: "_shared", key: "loot", expr: true, value: "state.alice.plan" }],
    });
    const res = await c.invoke(room.id, bob, "bob_copy");
    assert.ok(res.status >= 400 && res.status < 500);
    clean(res, "bob's expr write");
    await c.ok(room.id, bob, "_register_action", {
      id: "bob_if",
      if: 'state.alice.plan == "x"',
      writes: [{ scope: "_shared", key: "y", value: 1 }],
    });
    const iff = await c.invoke(room.id, bob, "bob_if");
    assert.equal(iff.status, 409);
    clean(iff, "bob's if");
    const v = await c.invoke(room.id, bob, "_register_view", {
      id: "bob-peek",
      scope: "_shared",
      expr: "state.alice.plan",
    });
    clean(v, "bob's shared view");
    const vv = await c.http("GET", `${r}/views/bob-peek`, { token: room.token });
    assert.equal(vv.json.value, null);
    clean(vv, "bob-peek value");
    const dry = await c.http("POST", `${r}/actions/bob_copy/invoke?dry_run=true`, {
      token: bob,
      body: { params: {} },
    });
    clean(dry, "dry run of bob_copy");
    const shared = await c.http("GET", `${r}/state?scope=_shared`, { token: room.token });
    clean(shared, "_shared after bob's attempts");
  });

  await t.step("bob's error bodies never carry the secret", async () => {
    const bad = [
      await c.invoke(room.id, bob, "_set_state", { scope: "alice", key: "plan", value: "mine" }),
      await c.invoke(room.id, bob, "_delete_state", { scope: "alice", key: "plan" }),
      await c.invoke(room.id, bob, "_set_state", { key: "z", value: 1, if: 'state.alice.plan == "a"' }),
      await c.invoke(room.id, bob, "_batch_set_state", {
        if: 'state.alice.box.code != ""',
        writes: [{ key: "z", value: 1 }],
      }),
      await c.invoke(room.id, bob, "_renew_timer", { scope: "alice", key: "plan" }),
      await c.invoke(room.id, bob, "_delete_view", { id: "alice-status" }),
      await c.invoke(room.id, bob, "_delete_action", { id: "guess" }),
      await c.http("GET", `${r}/wait?condition=state.alice.plan%20%3D%3D%20%22x%22&timeout=0`, {
        token: bob,
      }),
    ];
    for (const res of bad) {
      assert.ok(res.status < 500, res.text);
      clean(res, "error body");
    }
    assert.equal(bad[0].status, 403);
    assert.equal(bad[1].status, 403);
    assert.equal(bad[5].json.error, "not_owner");
    assert.equal(bad[6].json.error, "not_owner");
  });
});
