/**
 * `include=changes` with a cursor (issue 9): only what changed since the cursor — entries with values,
 * messages as objects, views whose values changed, actions whose availability changed for the caller —
 * and nothing the caller may not see. Contexts stay the same size as the logs grow.
 */
import assert from "node:assert/strict";
import { setupRoom, until } from "../_setup.ts";

const q = encodeURIComponent;

Deno.test("include=changes lists exactly the changes after the cursor, with values, and nothing private", async () => {
  const { s, c, room, alice, bob, barrier } = await setupRoom();
  await using _ = s;
  const admin = (action: string, params: unknown) => c.ok(room.id, room.token, action, params);
  await admin("_register_action", {
    id: "put",
    params: { key: { type: "string", required: true }, value: { type: "any" } },
    writes: [{ scope: "_shared", key: "${params.key}", value: "${params.value}" }],
  });
  await admin("_register_action", { id: "go", if: "has(state._shared.open) && state._shared.open == true" });
  await admin("_register_view", {
    id: "opened",
    expr: "has(state._shared.open) && state._shared.open == true",
  });
  await admin("_register_view", { id: "static", expr: "1 + 1" });
  await admin("_set_state", { scope: "_shared", key: "before", value: "old" });

  // bob blocks right after his own invocation (its commit is the cursor)
  const pending = c.http("POST", `/rooms/${room.id}/actions/_set_state/invoke`, {
    token: bob,
    body: {
      params: { key: "note", value: "mine" },
      wait: { condition: "has(state._shared.done)", include: "changes" },
    },
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "bob to block" });
  await c.ok(room.id, alice, "_set_state", { key: "secret", value: "alice-private-42" });
  await c.ok(room.id, alice, "put", { key: "open", value: true });
  await c.ok(room.id, alice, "put", { key: "open", value: true }); // a second write: reported once, latest version
  await c.ok(room.id, alice, "_send_message", { body: "hello bob", to: "bob" });
  await c.ok(room.id, alice, "put", { key: "done", value: 1 });
  const r = await pending;
  assert.equal(r.status, 200);
  const w = r.json.wait;
  assert.equal(w.triggered, true);
  const byKey = Object.fromEntries(w.changes.map((ch: { key: string }) => [ch.key, ch]));
  assert.deepEqual(
    Object.keys(byKey).sort(),
    ["done", "open"],
    "only _shared entries written after the cursor",
  );
  assert.deepEqual(byKey.open, { scope: "_shared", key: "open", version: 2, value: true });
  assert.deepEqual(byKey.done, { scope: "_shared", key: "done", version: 1, value: 1 });
  assert.deepEqual(w.messages_since, [1]);
  assert.equal(w.changed_messages.length, 1);
  assert.equal(w.changed_messages[0].body, "hello bob");
  assert.equal(w.changed_messages[0].from, "alice");
  assert.equal(w.changed_messages[0].to, "bob");
  assert.deepEqual(w.changed_views, { opened: true }, "the unchanged view is not listed");
  assert.deepEqual(
    w.changed_actions,
    { go: { available: true } },
    "builtins and unchanged actions are not listed",
  );
  assert.equal(w.changes_complete, undefined);
  assert.equal(w.context, undefined);
  assert.ok(
    !r.text.includes("alice-private-42") && !r.text.includes("secret"),
    "alice's private write leaked to bob",
  );

  // /wait after the wake's cursor: edge-triggered, and a deletion flips the view and the action back
  const next = c.http("GET", `/rooms/${room.id}/wait?condition=true&include=changes&after=${w.cursor}`, {
    token: bob,
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "bob to block on /wait" });
  const seen = await barrier();
  await c.ok(room.id, alice, "_set_state", { key: "secret2", value: "alice-private-43" });
  await seen();
  assert.equal(s.eng.metrics.waiters, 1, "a private write of alice's must not wake bob");
  await admin("_delete_state", { scope: "_shared", key: "open" });
  const r2 = await next;
  assert.equal(r2.json.triggered, true);
  assert.deepEqual(r2.json.changes, [{ scope: "_shared", key: "open", version: 2, deleted: true }]);
  assert.deepEqual(r2.json.messages_since, []);
  assert.equal(r2.json.changed_messages, undefined);
  assert.deepEqual(r2.json.changed_views, { opened: false });
  assert.deepEqual(r2.json.changed_actions, { go: { available: false } });
  assert.ok(!r2.text.includes("alice-private-43"));

  // alice, who may read her own scope, does see her writes in her own listing
  const mine = await c.http(
    "GET",
    `/rooms/${room.id}/wait?condition=true&include=changes&after=${w.cursor}`,
    {
      token: alice,
    },
  );
  assert.ok(
    mine.json.changes.some((ch: { key: string; value: unknown }) =>
      ch.key === "secret2" && ch.value === "alice-private-43"
    ),
  );
});

Deno.test("include=changes trims long message lists and says so in _elided", async () => {
  const { s, c, room, alice } = await setupRoom({ agents: ["alice"] });
  await using _ = s;
  const cursor = (await c.context(room.id, alice)).cursor;
  for (let i = 0; i < 60; i++) await c.ok(room.id, room.token, "_send_message", { body: `m${i}` });
  const r = await c.http("GET", `/rooms/${room.id}/wait?condition=true&include=changes&after=${cursor}`, {
    token: alice,
  });
  assert.equal(r.json.messages_since.length, 60);
  assert.equal(r.json.changed_messages.length, 50);
  assert.equal(r.json.changed_messages[0].body, "m0", "oldest first, so paging forward has no gap");
  assert.deepEqual(r.json._elided, { changed_messages: 10 });
});

Deno.test("/context and /wait stay the same size as the message and audit logs grow", async () => {
  const { s, c, room, alice } = await setupRoom({ agents: ["alice"], server: { fakeClock: true } });
  await using _ = s;
  await c.ok(room.id, alice, "_set_state", { key: "hp", value: 10 });
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) await c.ok(room.id, alice, "_send_message", { body: "x" });
  };
  const sizes = async () => {
    const ctx = await c.http("GET", `/rooms/${room.id}/context`, { token: alice });
    const wait = await c.http("GET", `/rooms/${room.id}/wait?condition=${q("true")}`, { token: alice });
    const state = await c.http("GET", `/rooms/${room.id}/wait?condition=true&include=state`, {
      token: alice,
    });
    for (const body of [ctx.json.state, wait.json.context.state, state.json.state]) {
      assert.equal(body._messages, undefined, "state must not carry the message log");
      assert.equal(body._audit, undefined, "state must not carry the audit log");
    }
    // elapsed_ms is wall time (a slow machine adds a digit): it is not part of what must stay constant
    const size = (r: { text: string }) => r.text.replace(/"elapsed_ms":\d+/, "").length;
    return { ctx: size(ctx), wait: size(wait), state: size(state), elided: ctx.json._elided };
  };
  // 150 then 350 messages: every seq, count and cursor shown has three digits both times
  await send(150);
  const a = await sizes();
  await send(200);
  const b = await sizes();
  assert.deepEqual(a.elided, { messages: 100 });
  assert.deepEqual(b.elided, { messages: 300 });
  assert.equal(b.ctx, a.ctx, "context size must not follow the logs");
  assert.equal(b.wait, a.wait, "wait size must not follow the logs");
  assert.equal(b.state, a.state, "wait include=state size must not follow the logs");
});
