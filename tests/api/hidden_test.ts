/**
 * Why something is hidden (issue 14.3): the room and view tokens see state entries and views that are
 * dormant (an enable timer pending) or disabled (`enabled` not true), marked `hidden` with the condition,
 * and actions' `enabled` expressions; agents — and the room token acting as one — see only what is live.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

async function seeded() {
  const fx = await setupRoom({ room: "hidden", server: { fakeClock: true } });
  const { c, room } = fx;
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [
      { scope: "_shared", key: "live", value: 1 },
      { scope: "_shared", key: "later", value: "surprise", timer: { ms: 60_000, effect: "enable" } },
      { scope: "_shared", key: "gated", value: "behind the gate", enabled: "state._shared.open == true" },
    ],
  });
  await c.ok(room.id, room.token, "_register_action", {
    id: "open_gate",
    enabled: "state._shared.live == 2",
    writes: [{ scope: "_shared", key: "open", value: true }],
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: "soon",
    expr: "state._shared.live + 1",
    timer: { ms: 60_000, effect: "enable" },
  });
  await c.ok(room.id, room.token, "_register_view", { id: "off", expr: "1", enabled: "false" });
  await c.ok(room.id, room.token, "_register_view", { id: "on", expr: "2" });
  return fx;
}

Deno.test("room and view tokens see dormant and disabled entries and views, with why; the actions' enabled", async () => {
  const fx = await seeded();
  const { s, room, req } = fx;
  await using _ = s;
  for (const token of [room.token, room.view]) {
    const rows = (await req("GET", "/state?scope=_shared", token)).json as Row[];
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
    assert.deepEqual(Object.keys(byKey).sort(), ["gated", "later", "live"]);
    assert.equal(byKey.live.hidden, undefined);
    assert.equal(byKey.later.hidden, "dormant");
    assert.equal(byKey.later.timer.effect, "enable");
    assert.equal(typeof byKey.later.timer.expires_at, "string");
    assert.equal(byKey.later.value, "surprise");
    assert.equal(byKey.gated.hidden, "disabled");
    assert.equal(byKey.gated.enabled, "state._shared.open == true");

    const one = await req("GET", "/state?scope=_shared&key=later", token);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.hidden, "dormant");
    assert.equal((await req("GET", "/state", token)).json.filter((r: Row) => r.hidden).length, 2);

    const poll = (await req("GET", "/poll", token)).json;
    assert.deepEqual(poll.state.filter((r: Row) => r.hidden).map((r: Row) => r.key).sort(), [
      "gated",
      "later",
    ]);
    const views = Object.fromEntries(poll.views.map((v: Row) => [v.id, v]));
    assert.equal(views.soon.hidden, "dormant");
    assert.equal(views.soon.expr, "state._shared.live + 1");
    assert.equal(views.soon.value, null);
    assert.equal(views.off.hidden, "disabled");
    assert.equal(views.off.enabled, "false");
    assert.equal(views.on.hidden, undefined);
    assert.equal(views.on.value, 2);
    assert.equal((await req("GET", "/views/soon", token)).json.hidden, "dormant");

    const action = (await req("GET", "/actions/open_gate", token)).json;
    assert.equal(action.enabled, false);
    assert.equal(action.enabled_expr, "state._shared.live == 2");

    // what is live for expressions is unchanged: /context and CEL see only live entries and views
    const ctx = (await req("GET", "/context?only=state,views", token)).json;
    assert.deepEqual(Object.keys(ctx.state._shared), ["live"]);
    assert.deepEqual(Object.keys(ctx.views), ["on"]);
    const ev = await req("POST", "/eval", token, { expr: "has(state._shared.later)" });
    assert.equal(ev.json.value, false);
  }
});

Deno.test("agents, and the room token acting as one, see only what is live: hidden entries are 404", async () => {
  const fx = await seeded();
  const { s, room, req, alice } = fx;
  await using _ = s;
  for (const [token, q] of [[alice, ""], [room.token, "agent=alice&"]]) {
    const rows = (await req("GET", `/state?${q}scope=_shared`, token)).json as Row[];
    assert.deepEqual(rows.map((r) => r.key), ["live"]);
    assert.ok(rows.every((r) => r.hidden === undefined));
    const one = await req("GET", `/state?${q}scope=_shared&key=later`, token);
    assert.equal(one.status, 404);
    assert.equal(one.json.error, "state_not_found");
    assert.ok(!one.text.includes("surprise"));
    const poll = await req("GET", `/poll${q ? "?agent=alice" : ""}`, token);
    assert.ok(!poll.text.includes("surprise") && !poll.text.includes("behind the gate"), "no hidden value");
    assert.doesNotMatch(poll.text, /"hidden":"/, "nothing marked hidden");
    assert.deepEqual(poll.json.views.map((v: Row) => v.id), ["on"]);
    const action = (await req("GET", `/actions/open_gate${q ? "?agent=alice" : ""}`, token)).json;
    assert.equal(action.enabled_expr, undefined);
    assert.equal((await req("GET", `/views/soon${q ? "?agent=alice" : ""}`, token)).status, 404);
  }
  // once the enable timer fires, the entry is live for everyone and no longer marked
  s.clock.advance(60_000);
  assert.equal((await req("GET", "/state?scope=_shared&key=later", alice)).json.value, "surprise");
  assert.equal((await req("GET", "/state?scope=_shared&key=later", room.token)).json.hidden, undefined);
});
