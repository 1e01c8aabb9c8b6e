/**
 * Messages (reference/api.md#_send_message): per-room seq, kind, to, reply_to, unread and directed_unread per agent, paging with
 * messages_after/messages_limit, custom actions appending to `_messages`, and `_claim_message`.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

const setup = () => setupRoom({ room: "chat", agents: ["alice", "bob", "carol"] });

Deno.test("_send_message numbers messages per room from 1, kind defaults to chat", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  const m1 = await c.ok(room.id, alice, "_send_message", { body: "hello" });
  assert.deepEqual(
    {
      seq: m1.message.seq,
      from: m1.message.from,
      kind: m1.message.kind,
      body: m1.message.body,
      to: m1.message.to,
    },
    { seq: 1, from: "alice", kind: "chat", body: "hello", to: null },
  );
  assert.equal(m1.message.reply_to, null);
  assert.equal(m1.message.claimed_by, null);
  assert.equal(typeof m1.message.ts, "string");
  assert.deepEqual(m1.writes, [{ scope: "_messages", key: "1", value: m1.message, version: 1 }]);
  const m2 = await c.ok(room.id, bob, "_send_message", { body: { x: [1, 2] }, kind: "task" });
  assert.equal(m2.message.seq, 2);
  assert.equal(m2.message.kind, "task");
  assert.deepEqual(m2.message.body, { x: [1, 2] });

  const other = await c.createRoom("other");
  const o1 = await c.ok(other.id, other.token, "_send_message", { body: "first here" });
  assert.equal(o1.message.seq, 1, "seq is per room");
  assert.equal(o1.message.from, "admin");

  const ctx = await c.context(room.id, room.token);
  assert.deepEqual(ctx.messages.recent.map((m: { seq: number }) => m.seq), [1, 2]);
  assert.equal(ctx.messages.count, 2);
  assert.equal(ctx.state._messages, undefined, "the log is not part of state");
});

Deno.test("_send_message validates: body required, to is an id or list, from must be the caller", async () => {
  const { s, c, room, alice } = await setup();
  await using _ = s;
  const noBody = await c.invoke(room.id, alice, "_send_message", { kind: "chat" });
  assert.equal(noBody.status, 400);
  const badTo = await c.invoke(room.id, alice, "_send_message", { body: "x", to: 5 });
  assert.equal(badTo.status, 400);
  const forged = await c.invoke(room.id, alice, "_send_message", { body: "x", from: "bob" });
  assert.equal(forged.status, 403);
  assert.equal(forged.json.error, "identity_mismatch");
  const asBob = await c.ok(room.id, room.token, "_send_message", { body: "x", from: "bob" });
  assert.equal(asBob.message.from, "bob", "the room token may speak as an agent");
  assert.equal((await c.context(room.id, room.token)).messages.count, 1);
});

Deno.test("reply_to must name an existing message of the room (404 message_not_found otherwise)", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  const q = await c.ok(room.id, alice, "_send_message", { body: "question?" });
  const a = await c.ok(room.id, bob, "_send_message", { body: "answer", reply_to: q.message.seq });
  assert.equal(a.message.reply_to, 1);
  const missing = await c.invoke(room.id, bob, "_send_message", { body: "to nothing", reply_to: 99 });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, "message_not_found");
  const other = await c.createRoom("other");
  const cross = await c.invoke(other.id, other.token, "_send_message", { body: "x", reply_to: 1 });
  assert.equal(cross.status, 404, "a message of another room does not count");
  assert.equal((await c.context(room.id, room.token)).messages.count, 2, "refused messages are not stored");
});

Deno.test("unread is per agent and excludes its own; reading /context marks messages read", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  await c.ok(room.id, alice, "_send_message", { body: "one" });
  await c.ok(room.id, alice, "_send_message", { body: "two" });
  await c.ok(room.id, bob, "_send_message", { body: "three" });

  const ev = await c.http("POST", `/rooms/${room.id}/eval`, {
    token: bob,
    body: { expr: "messages.unread" },
  });
  assert.equal(ev.json.value, 2, "eval does not mark read");
  const first = await c.context(room.id, bob);
  assert.deepEqual({ count: first.messages.count, unread: first.messages.unread }, { count: 3, unread: 2 });
  const second = await c.context(room.id, bob);
  assert.equal(second.messages.unread, 0);
  const aliceCtx = await c.context(room.id, alice, "?only=agents");
  assert.equal(aliceCtx.messages, undefined);
  const aliceMsgs = await c.context(room.id, alice, "?only=messages");
  assert.equal(aliceMsgs.messages.unread, 1, "alice has only bob's message unread");
  await c.ok(room.id, alice, "_send_message", { body: "four" });
  assert.equal((await c.context(room.id, bob)).messages.unread, 1);
});

Deno.test("directed_unread counts unread messages addressed to the agent (to: id or list)", async () => {
  const { s, c, room, alice, bob, carol } = await setup();
  await using _ = s;
  await c.ok(room.id, alice, "_send_message", { body: "for bob", to: "bob" });
  await c.ok(room.id, alice, "_send_message", { body: "for both", to: ["bob", "carol"] });
  await c.ok(room.id, alice, "_send_message", { body: "for all" });
  const ctx = (t: string) =>
    c.http("POST", `/rooms/${room.id}/eval`, { token: t, body: { expr: "messages" } });
  assert.deepEqual((await ctx(bob)).json.value, { count: 3, unread: 3, directed_unread: 2 });
  assert.deepEqual((await ctx(carol)).json.value, { count: 3, unread: 3, directed_unread: 1 });
  assert.deepEqual((await ctx(alice)).json.value, { count: 3, unread: 0, directed_unread: 0 });
  const bobCtx = await c.context(room.id, bob);
  assert.equal(bobCtx.messages.directed_unread, 2);
  assert.deepEqual(bobCtx.messages.recent[1].to, ["bob", "carol"]);
  assert.equal((await ctx(bob)).json.value.directed_unread, 0);
});

Deno.test("messages_after and messages_limit page forward without gaps; limits are validated", async () => {
  const { s, c, room, alice, bob, carol } = await setup();
  await using _ = s;
  for (let i = 1; i <= 7; i++) await c.ok(room.id, alice, "_send_message", { body: `m${i}` });
  const seqs: number[] = [];
  let after = 0;
  for (let page = 0; page < 5; page++) {
    const ctx = await c.context(room.id, bob, `?only=messages&messages_after=${after}&messages_limit=3`);
    const got = ctx.messages.recent.map((m: { seq: number }) => m.seq);
    if (!got.length) break;
    seqs.push(...got);
    after = got[got.length - 1];
  }
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7]);

  // without messages_after: the newest ones
  const newest = await c.context(room.id, alice, "?only=messages&messages_limit=2");
  assert.deepEqual(newest.messages.recent.map((m: { seq: number }) => m.seq), [6, 7]);
  assert.equal(newest._elided?.messages, 5);

  // reading only the first page marks only that page read
  await c.context(room.id, carol, "?only=messages&messages_after=0&messages_limit=3");
  assert.equal((await c.context(room.id, carol, "?only=messages&messages_limit=0")).messages.unread, 4);

  for (const bad of ["messages_limit=-1", "messages_limit=ten", "messages_after=x"]) {
    const r = await c.http("GET", `/rooms/${room.id}/context?${bad}`, { token: alice });
    assert.equal(r.status, 400, bad);
    assert.equal(r.json.error, "invalid_query");
  }
});

Deno.test("messages_limit is capped at 200 in /context", async () => {
  const { s, c, room } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "burst",
    writes: Array.from(
      { length: 20 },
      (_, i) => ({ scope: "_messages", append: true, value: { body: `b${i}` } }),
    ),
  });
  for (let i = 0; i < 11; i++) await c.ok(room.id, room.token, "burst");
  const ctx = await c.context(room.id, room.token, "?only=messages&messages_limit=1000&messages_after=0");
  assert.equal(ctx.messages.count, 220);
  assert.equal(ctx.messages.recent.length, 200);
  assert.equal(ctx.messages.recent[199].seq, 200);
  const def = await c.context(room.id, room.token, "?only=messages");
  assert.equal(def.messages.recent.length, 50, "default messages_limit is 50");
  assert.equal(def.messages.recent[49].seq, 220);
});

Deno.test("a custom action appending to _messages creates a message (seed 000 send_message)", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "send_message",
    description: "Send a chat message to the room",
    params: { body: { type: "string" } },
    writes: [{
      scope: "_messages",
      append: true,
      value: { from: "${self}", kind: "chat", body: "${params.body}", mood: "cheerful" },
    }],
  });
  const r = await c.ok(room.id, alice, "send_message", { body: "Hello everyone!" });
  assert.equal(r.writes[0].scope, "_messages");
  assert.equal(r.writes[0].key, "1");
  const ctx = await c.context(room.id, bob);
  assert.equal(ctx.messages.unread, 1);
  const m = ctx.messages.recent[0];
  assert.deepEqual(
    { seq: m.seq, from: m.from, kind: m.kind, body: m.body, mood: m.mood },
    { seq: 1, from: "alice", kind: "chat", body: "Hello everyone!", mood: "cheerful" },
  );
  const rows = await c.http("GET", `/rooms/${room.id}/state?scope=_messages`, { token: bob });
  assert.equal(rows.status, 200);
  assert.equal(rows.json[0].value.body, "Hello everyone!");
  const direct = await c.ok(room.id, bob, "_send_message", { body: "next" });
  assert.equal(direct.message.seq, 2, "one sequence for both paths");

  // the log takes appends only
  const reg = await c.invoke(room.id, room.token, "_register_action", {
    id: "overwrite",
    writes: [{ scope: "_messages", key: "1", value: { body: "rewritten" } }],
  });
  if (reg.status === 200) {
    const bad = await c.invoke(room.id, alice, "overwrite");
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "invalid_body");
  } else assert.equal(reg.status, 400);
  assert.equal((await c.context(room.id, bob)).messages.recent[0].body, "Hello everyone!");
});

Deno.test("_claim_message: first claimer wins, later claims 409 already_claimed with claimed_by", async () => {
  const { s, c, room, alice, bob } = await setup();
  await using _ = s;
  await c.ok(room.id, alice, "_send_message", { body: "task", kind: "task" });
  const won = await c.ok(room.id, bob, "_claim_message", { seq: 1 });
  assert.equal(won.claimed, true);
  assert.equal(won.claimed_by, "bob");
  assert.equal(typeof won.claimed_at, "string");
  const lost = await c.invoke(room.id, alice, "_claim_message", { seq: 1 });
  assert.equal(lost.status, 409);
  assert.equal(lost.json.error, "already_claimed");
  assert.equal(lost.json.claimed, false);
  assert.equal(lost.json.claimed_by, "bob");
  const missing = await c.invoke(room.id, alice, "_claim_message", { seq: 42 });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, "message_not_found");
  const ctx = await c.context(room.id, alice);
  assert.equal(ctx.messages.recent[0].claimed_by, "bob");
  const viewer = await c.invoke(room.id, room.view, "_claim_message", { seq: 1 });
  assert.equal(viewer.status, 403);
});
