/**
 * Traces across agents: a W3C `traceparent` on an invocation is kept with its audit row (a malformed one is
 * ignored) and passed on in webhook deliveries, and a wait that a commit wakes reports that commit
 * (`woke_by: {seq, traceparent?}`), also in invoke-and-wait's `wait` — one agent's action, followed to the
 * next agent's reaction.
 */
import assert from "node:assert/strict";
import { startReceiver } from "../_receiver.ts";
import { setupRoom, until } from "../_setup.ts";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

Deno.test("traceparent: a valid header is kept with the audit row; a malformed one is ignored", async () => {
  const fx = await setupRoom();
  await using _ = fx.s;
  const cases: [string, string | undefined][] = [
    [TP, TP],
    ["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", TP.replace(/^00/, "01")],
    [` ${TP} `, TP],
    [TP.toUpperCase(), undefined],
    ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", undefined],
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", undefined],
    ["ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", undefined],
    [`${TP}-extra`, undefined],
    ["00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", undefined],
    ["garbage", undefined],
  ];
  for (const [header, kept] of cases) {
    const r = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_set_state/invoke`, {
      token: fx.alice,
      body: { params: { key: "k", value: header } },
      headers: { traceparent: header },
    });
    assert.equal(r.status, 200, `${header}: a bad traceparent never refuses the call (${r.text})`);
    const rows = (await fx.req("GET", "/state?scope=_audit", fx.alice)).json;
    assert.equal(rows.at(-1).value.traceparent, kept, header);
  }
  // the compatibility routes are invocations too
  const put = await fx.c.http("PUT", `/rooms/${fx.room.id}/state`, {
    token: fx.alice,
    body: { key: "c", value: 1 },
    headers: { traceparent: TP },
  });
  assert.equal(put.status, 200, put.text);
  const rows = (await fx.req("GET", "/state?scope=_audit", fx.room.token)).json;
  assert.equal(rows.at(-1).value.traceparent, TP);
  // and the export keeps it, so an import restores it
  const snap = (await fx.req("GET", "/export", fx.room.token)).json;
  assert.equal(snap.audit.at(-1).traceparent, TP);
  const imported = await fx.c.http("POST", "/rooms/import", { body: { ...snap, id: "copy" } });
  assert.equal(imported.status, 201, imported.text);
  const copy = await fx.c.http("GET", "/rooms/copy/state?scope=_audit", { token: imported.json.token });
  assert.equal(copy.json.at(-1).value.traceparent, TP);
});

Deno.test("a wait woken by a commit reports it in woke_by; one that returned at once has none", async () => {
  const fx = await setupRoom();
  await using _ = fx.s;
  const now = await fx.req("GET", "/wait?condition=true&timeout=1000", fx.bob);
  assert.equal(now.json.triggered, true);
  assert.equal(now.json.woke_by, undefined, "it never blocked");
  const waiting = fx.req(
    "GET",
    `/wait?condition=${encodeURIComponent("state._shared.turn == 'bob'")}`,
    fx.bob,
  );
  await until(async () => (await fx.agent("bob")).status === "waiting", { what: "bob to block" });
  // a commit that does not make it true, then the one that does (with a trace)
  await fx.c.ok(fx.room.id, fx.room.token, "_set_state", { scope: "_shared", key: "turn", value: "carol" });
  const r = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_set_state/invoke`, {
    token: fx.room.token,
    body: { params: { scope: "_shared", key: "turn", value: "bob" } },
    headers: { traceparent: TP },
  });
  const woke = (await waiting).json;
  assert.equal(woke.triggered, true);
  assert.deepEqual(woke.woke_by, { seq: r.json.cursor, traceparent: TP });
});

Deno.test("invoke-and-wait: the wait reports the other agent's commit that woke it", async () => {
  const fx = await setupRoom();
  await using _ = fx.s;
  const turn = fx.c.http("POST", `/rooms/${fx.room.id}/actions/_send_message/invoke`, {
    token: fx.alice,
    body: { params: { body: "your move" }, wait: { condition: "messages.unread > 0", timeout: 10_000 } },
    headers: { traceparent: TP },
  });
  await until(async () => (await fx.agent("alice")).status === "waiting", { what: "alice to block" });
  const tpBob = "00-11111111111111111111111111111111-2222222222222222-00";
  const reply = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_send_message/invoke`, {
    token: fx.bob,
    body: { params: { body: "moved" } },
    headers: { traceparent: tpBob },
  });
  const r = (await turn).json;
  assert.equal(r.wait.triggered, true);
  assert.deepEqual(r.wait.woke_by, { seq: reply.json.cursor, traceparent: tpBob });
  // alice's own invocation carried hers: the audit shows the chain
  const audit = (await fx.req("GET", "/state?scope=_audit", fx.room.token)).json.map((
    a: { value: unknown },
  ) => a.value);
  assert.equal(audit.find((a: { seq: number; agent: string }) => a.agent === "alice").traceparent, TP);
});

Deno.test("woke_by carries the traceparent only of a commit the waiter can see", async () => {
  const fx = await setupRoom({ join: { alice: { state: { hp: 10 }, public_keys: [] } } });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.alice, "_register_view", { id: "alice-ok", expr: "state.alice.hp > 50" });
  const waiting = fx.req("GET", `/wait?condition=${encodeURIComponent('views["alice-ok"] == true')}`, fx.bob);
  await until(async () => (await fx.agent("bob")).status === "waiting", { what: "bob to block" });
  const r = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_set_state/invoke`, {
    token: fx.alice,
    body: { params: { key: "hp", value: 90 } },
    headers: { traceparent: TP },
  });
  const woke = (await waiting).json;
  assert.equal(woke.triggered, true);
  assert.deepEqual(woke.woke_by, { seq: r.json.cursor }, "alice's private write: its seq, not her trace");
});

Deno.test("trace round trip: invocation → audit row → webhook delivery → the waiter it woke", async () => {
  await using rx = startReceiver();
  const fx = await setupRoom({ server: { limits: { webhookAllowPrivate: true } } });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", {
    id: "trace",
    url: rx.url,
    secret: "0123456789abcdef0123",
  });
  const waiting = fx.req("GET", `/wait?condition=${encodeURIComponent("has(state._shared.task)")}`, fx.bob);
  await until(async () => (await fx.agent("bob")).status === "waiting", { what: "bob to block" });
  const r = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_set_state/invoke`, {
    token: fx.room.token,
    body: { params: { scope: "_shared", key: "task", value: "build" } },
    headers: { traceparent: TP },
  });
  const seq = r.json.cursor;
  const audit = (await fx.req("GET", "/state?scope=_audit", fx.room.token)).json.at(-1).value;
  assert.equal(audit.traceparent, TP);
  await until(() => rx.got.length === 1, { what: "the delivery" });
  assert.equal(rx.got[0].headers.get("traceparent"), TP);
  assert.equal(rx.got[0].json.traceparent, TP);
  assert.equal(rx.got[0].json.seq, seq);
  assert.deepEqual((await waiting).json.woke_by, { seq, traceparent: TP });
});
