/**
 * Timers and `enabled` (reference/api.md#_set_state: `timer`, `enabled`) on state entries, actions and views, driven by an injected FakeClock
 * (never sleeping): delete/enable effects, cooldown `available_at`, logical ticks via `tick_on`,
 * `_renew_timer`, `404 action_expired`.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

async function fixture() {
  const { s, c, room: r, alice } = await setupRoom({
    room: "timers",
    agents: ["alice"],
    server: { fakeClock: true },
  });
  const shared = async (tok = alice) => (await c.context(r.id, tok)).state._shared ?? {};
  const actionIds = async () => Object.keys((await c.context(r.id, alice)).actions);
  const viewIds = async () =>
    ((await c.http("GET", `/rooms/${r.id}/views`, { token: alice })).json as { id: string }[]).map((v) =>
      v.id
    );
  return { s, c, r, alice, shared, actionIds, viewIds };
}

Deno.test("timers: delete and enable on state entries, actions and views", async (t) => {
  const { s, c, r, alice, shared, actionIds, viewIds } = await fixture();
  await using _s = s;

  await t.step("state entry, delete: live now, gone at expiry (to every read)", async () => {
    await c.ok(r.id, r.token, "_set_state", {
      key: "flash",
      value: 1,
      timer: { ms: 5000, effect: "delete" },
    });
    assert.equal((await shared()).flash, 1);
    s.clock.advance(4999);
    assert.equal((await shared()).flash, 1);
    s.clock.advance(1);
    assert.equal((await shared()).flash, undefined);
    const row = await c.http("GET", `/rooms/${r.id}/state?scope=_shared&key=flash`, { token: r.token });
    assert.equal(row.status, 404);
    const ev = await c.http("POST", `/rooms/${r.id}/eval`, {
      token: alice,
      body: { expr: "has(state._shared.flash)" },
    });
    assert.equal(ev.json.value, false);
    const again = await c.ok(r.id, r.token, "_set_state", { key: "flash", value: 2, if_version: 0 });
    assert.equal(again.writes[0].version, 1, "an expired entry counts as absent");
  });

  await t.step("state entry, enable: dormant now, live at expiry", async () => {
    await c.ok(r.id, r.token, "_set_state", {
      key: "reveal",
      value: "boo",
      timer: { at: new Date(s.clock.now() + 3000).toISOString(), effect: "enable" },
    });
    assert.equal((await shared()).reveal, undefined);
    s.clock.advance(3000);
    assert.equal((await shared()).reveal, "boo");
  });

  await t.step("action, delete: invocable now, 404 action_expired at expiry", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "offer",
      timer: { ms: 1000, effect: "delete" },
      writes: [{ scope: "_shared", key: "took", value: "${self}" }],
    });
    assert.ok((await actionIds()).includes("offer"));
    s.clock.advance(999);
    assert.equal((await c.invoke(r.id, alice, "offer")).status, 200);
    s.clock.advance(1);
    const gone = await c.invoke(r.id, alice, "offer");
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error, "action_expired");
    assert.ok(!(await actionIds()).includes("offer"));
    const list = (await c.http("GET", `/rooms/${r.id}/actions`, { token: alice })).json;
    assert.ok(!list.some((a: { id: string }) => a.id === "offer"));
  });

  await t.step("action, enable: dormant (409 with available_at) until its time", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "later",
      timer: { ms: 2000, effect: "enable" },
      writes: [{ scope: "_shared", key: "later", value: true }],
    });
    const early = await c.invoke(r.id, alice, "later");
    assert.equal(early.status, 409);
    assert.equal(early.json.error, "action_cooldown");
    assert.equal(early.json.available_at, new Date(s.clock.now() + 2000).toISOString());
    assert.ok(!(await actionIds()).includes("later"));
    s.clock.advance(2000);
    assert.ok((await actionIds()).includes("later"));
    assert.equal((await c.invoke(r.id, alice, "later")).status, 200);
  });

  await t.step("view, delete and enable", async () => {
    await c.ok(r.id, r.token, "_register_view", {
      id: "brief",
      expr: "1",
      timer: { ms: 1000, effect: "delete" },
    });
    await c.ok(r.id, r.token, "_register_view", {
      id: "soon",
      expr: "2",
      timer: { ms: 1000, effect: "enable" },
    });
    let ids = await viewIds();
    assert.ok(ids.includes("brief"));
    assert.ok(!ids.includes("soon"));
    s.clock.advance(1000);
    ids = await viewIds();
    assert.ok(!ids.includes("brief"));
    assert.ok(ids.includes("soon"));
    assert.equal((await c.context(r.id, alice)).views.soon, 2);
  });

  await t.step("enabled expressions on actions and views", async () => {
    await c.ok(r.id, r.token, "_register_view", {
      id: "endgame-only",
      expr: '"final"',
      enabled: 'state._shared.phase == "end"',
    });
    assert.ok(!(await viewIds()).includes("endgame-only"));
    await c.ok(r.id, r.token, "_set_state", { key: "phase", value: "end" });
    assert.ok((await viewIds()).includes("endgame-only"));
  });

  await t.step("an invalid timer is 400 invalid_timer", async () => {
    for (
      const timer of [{ ms: 1, at: "2026-01-01T00:00:00Z" }, { effect: "delete" }, { ticks: 2 }, {
        ms: 1,
        effect: "explode",
      }]
    ) {
      const res = await c.invoke(r.id, r.token, "_set_state", { key: "bad", value: 1, timer });
      assert.equal(res.status, 400, JSON.stringify(timer));
    }
    assert.equal((await shared(r.token)).bad, undefined);
  });
});

Deno.test("timers: cooldown available_at, logical ticks, _renew_timer", async (t) => {
  const { s, c, r, alice, shared } = await fixture();
  await using _s = s;

  await t.step("on_invoke.timer (wall clock): available_at is invocation + ms", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "zap",
      on_invoke: { timer: { ms: 10_000, effect: "enable" } },
      writes: [{ scope: "_shared", key: "zaps", increment: 1 }],
    });
    const t0 = s.clock.now();
    assert.equal((await c.invoke(r.id, alice, "zap")).status, 200);
    s.clock.advance(4000);
    const cd = await c.invoke(r.id, alice, "zap");
    assert.equal(cd.status, 409);
    assert.equal(cd.json.error, "action_cooldown");
    assert.equal(cd.json.available_at, new Date(t0 + 10_000).toISOString());
    s.clock.advance(6000);
    assert.equal((await c.invoke(r.id, alice, "zap")).status, 200);
    assert.equal((await shared()).zaps, 2);
  });

  await t.step("logical cooldown: ticks_remaining counts writes to tick_on", async () => {
    await c.ok(r.id, r.token, "_set_state", { key: "turn", value: 0 });
    await c.ok(r.id, r.token, "_register_action", {
      id: "ult",
      on_invoke: { timer: { ticks: 2, tick_on: "_shared.turn", effect: "enable" } },
      writes: [{ scope: "_shared", key: "ults", increment: 1 }],
    });
    assert.equal((await c.invoke(r.id, alice, "ult")).status, 200);
    let cd = await c.invoke(r.id, alice, "ult");
    assert.equal(cd.status, 409);
    assert.equal(cd.json.ticks_remaining, 2);
    await c.ok(r.id, r.token, "_set_state", { key: "turn", increment: 1 });
    cd = await c.invoke(r.id, alice, "ult");
    assert.equal(cd.json.ticks_remaining, 1);
    const listed = (await c.http("GET", `/rooms/${r.id}/actions/ult`, { token: alice })).json;
    assert.equal(listed.cooldown.ticks_remaining, 1);
    s.clock.advance(3_600_000);
    assert.equal(
      (await c.invoke(r.id, alice, "ult")).status,
      409,
      "wall-clock time does not tick a logical timer",
    );
    await c.ok(r.id, r.token, "_set_state", { key: "turn", increment: 1 });
    assert.equal((await c.invoke(r.id, alice, "ult")).status, 200);
  });

  await t.step("logical delete timer on a state entry", async () => {
    await c.ok(r.id, r.token, "_set_state", {
      key: "shield",
      value: "up",
      timer: { ticks: 2, tick_on: "_shared.turn", effect: "delete" },
    });
    await c.ok(r.id, r.token, "_set_state", { key: "turn", increment: 1 });
    assert.equal((await shared()).shield, "up");
    await c.ok(r.id, r.token, "_set_state", { key: "other", value: 1 });
    assert.equal((await shared()).shield, "up", "writes to other keys do not tick");
    await c.ok(r.id, r.token, "_set_state", { key: "turn", increment: 1 });
    assert.equal((await shared()).shield, undefined);
  });

  await t.step("_renew_timer restarts a wall-clock timer from now", async () => {
    await c.ok(r.id, alice, "_set_state", {
      key: "lease",
      value: "held",
      timer: { ms: 1000, effect: "delete" },
    });
    s.clock.advance(800);
    const renewed = await c.ok(r.id, alice, "_renew_timer", { key: "lease" });
    assert.equal(renewed.timer.expires_at, new Date(s.clock.now() + 1000).toISOString());
    s.clock.advance(800);
    assert.equal((await c.context(r.id, alice)).state.self.lease, "held");
    s.clock.advance(200);
    assert.equal((await c.context(r.id, alice)).state.self.lease, undefined);
    const gone = await c.invoke(r.id, alice, "_renew_timer", { key: "lease" });
    assert.equal(gone.status, 404);
    await c.ok(r.id, alice, "_set_state", { key: "plain", value: 1 });
    const none = await c.invoke(r.id, alice, "_renew_timer", { key: "plain" });
    assert.equal(none.status, 400);
    assert.equal(none.json.error, "invalid_timer");
    const other = await c.invoke(r.id, alice, "_renew_timer", { scope: "_shared", key: "turn" });
    assert.equal(other.status, 403);
  });
});
