/**
 * The commit-time side of webhooks without a server: which commits a webhook's `events` match, the webhooks
 * a commit's history header names (none for a refusal, a disabled webhook or a commit that did nothing
 * reportable), the delivery body built from the history rows, and the delivery loop's back-off.
 */
import assert from "node:assert/strict";
import type { HistoryRow, WebhookDef } from "../../engine/model.ts";
import { deliveryBody, deliveryId } from "../../engine/outbox_copy.ts";
import { DEFAULT_LIMITS } from "../../config.ts";
import { applyTx, Tx } from "../../engine/tx.ts";
import { backoff } from "../../engine/webhook_delivery.ts";
import { applyWrite } from "../../engine/write_modes.ts";
import { ADMIN, memoryRoom, NOW } from "./_room.ts";

const hook = (id: string, events: WebhookDef["events"] = null, disabled = false): WebhookDef => ({
  id,
  url: "https://hooks.example.com/x",
  secret: "0123456789abcdef",
  events,
  created_at: new Date(NOW).toISOString(),
  disabled: disabled ? { at: new Date(NOW).toISOString(), reason: "test" } : null,
});

function roomWithHooks(...defs: WebhookDef[]) {
  const m = memoryRoom(["alice", "bob"]);
  const t = m.tx(ADMIN);
  for (const d of defs) t.webhooks.set(d.id, d);
  applyTx(t);
  m.room.rt.takeDirty();
  return m;
}

/** The history rows of the latest commit (its header first) staged since the last take. */
function written(
  m: ReturnType<typeof memoryRoom>,
): { head: HistoryRow; rows: HistoryRow[]; hooked: string[] } {
  const d = m.room.rt.takeDirty()!;
  const seq = m.room.seq;
  const rows = (d.history ?? []).filter((r) => r.seq === seq);
  const head = rows.find((r) => r.scope === "" && r.key === "")!;
  return { head, rows: rows.filter((r) => r !== head), hooked: [...(d.hooked ?? [])] };
}

/** The webhooks the latest commit's header names (and the flush is told of: the same). */
function staged(m: ReturnType<typeof memoryRoom>): string[] {
  const { head, hooked } = written(m);
  const named = head.hooks ? head.hooks.trim().split(" ") : [];
  assert.deepEqual(hooked, named);
  return named;
}
const audit = (action: string, ok = true) => ({
  ts: new Date(NOW).toISOString(),
  agent: "alice",
  action,
  builtin: action.startsWith("_"),
  params: {},
  ok,
  status: ok ? 200 : 409,
  error: ok ? null : "precondition_failed",
});

Deno.test("a commit is staged for the webhooks whose kinds, scopes and actions it matches", () => {
  const m = roomWithHooks(
    hook("all"),
    hook("shared", { scopes: ["_shared"] }),
    hook("msgs", { scopes: ["_messages"] }),
    hook("alice-by-set", { scopes: ["alice"], actions: ["_set_state"] }),
    hook("agents", { kinds: ["agent"] }),
    hook("off", null, true),
  );
  const write = (scope: string, action: string) => {
    const t = m.tx(m.as("alice"));
    applyWrite(t, { key: "k", value: 1 }, scope, () => ({}), "params");
    t.audit = audit(action);
    applyTx(t);
    return staged(m);
  };
  assert.deepEqual(write("alice", "_set_state"), ["all", "alice-by-set"]);
  assert.deepEqual(write("_shared", "bump"), ["all", "shared"]);
  assert.deepEqual(write("alice", "bump"), ["all"]);
  const msg = m.tx(m.as("bob"));
  msg.newMessages.push({
    seq: 1,
    from: "bob",
    kind: "chat",
    body: "hi",
    to: null,
    reply_to: null,
    claimed_by: null,
    claimed_at: null,
    ts: new Date(NOW).toISOString(),
  });
  msg.audit = audit("_send_message");
  applyTx(msg);
  assert.deepEqual(staged(m), ["all", "msgs"]);
  const beat = m.tx(m.as("alice"));
  beat.agents.set("alice", { ...m.room.agents.get("alice")!, status: "busy" });
  beat.audit = audit("_heartbeat");
  applyTx(beat);
  assert.deepEqual(staged(m), ["agents"], "the default kinds are state and message");
  const nothing = m.tx(m.as("alice"));
  nothing.audit = audit("help");
  applyTx(nothing);
  assert.deepEqual(staged(m), [], "a commit that changed nothing reportable");
});

Deno.test("a refusal stages nothing, and the body of a delivery is the commit with its values", () => {
  const m = roomWithHooks(hook("all", { kinds: ["state", "message", "agent", "definition"] }));
  const refused = m.tx(m.as("alice"));
  refused.audit = audit("bump", false);
  applyTx(refused);
  assert.deepEqual(staged(m), []);
  const t = m.tx(m.as("alice"));
  applyWrite(t, { key: "plan", value: { go: "north" } }, "alice", () => ({}), "params");
  t.audit = audit("_set_state");
  const seq = applyTx(t);
  const { head, rows } = written(m);
  assert.equal(head.hooks, " all ");
  assert.equal(head.hook_meta, undefined, "an audited commit without a traceparent needs nothing more");
  const body = deliveryBody(m.room.id, m.room, head, rows);
  assert.equal(body.seq, seq);
  assert.deepEqual(body.writes, [{ scope: "alice", key: "plan", version: 1, value: { go: "north" } }]);
  assert.deepEqual(body.kinds, ["state"]);
  assert.equal(body.agent, "alice");
  assert.equal(body.action, "_set_state");
  assert.equal(body.traceparent, null);
  assert.ok(!JSON.stringify(body).includes("0123456789abcdef"), "the secret is not in the body");
});

Deno.test("an unaudited commit and a traceparent are kept for the delivery; ids are stable and distinct", () => {
  const m = roomWithHooks(hook("all"));
  const t = new Tx(m.room, m.as("alice"), NOW, DEFAULT_LIMITS, {
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  });
  applyWrite(t, { key: "k", value: 1 }, "alice", () => ({}), "params");
  applyTx(t);
  const { head, rows } = written(m);
  const body = deliveryBody(m.room.id, m.room, head, rows);
  assert.equal(body.action, null, "no audit row: not an invocation");
  assert.equal(body.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const id = deliveryId("r1", "all", 3, 7);
  assert.match(id, /^dlv_[0-9a-f]{32}$/);
  assert.equal(deliveryId("r1", "all", 3, 7), id);
  for (
    const other of [
      deliveryId("r2", "all", 3, 7),
      deliveryId("r1", "al", 3, 7),
      deliveryId("r1", "all", 4, 7),
    ]
  ) {
    assert.notEqual(other, id);
  }
});

Deno.test("a message's delivery shows it as the commit left it: a later claim is not in it", () => {
  const m = roomWithHooks(hook("all"));
  const send = m.tx(m.as("bob"));
  send.newMessages.push({
    seq: 1,
    from: "bob",
    kind: "task",
    body: "do it",
    to: null,
    reply_to: null,
    claimed_by: null,
    claimed_at: null,
    ts: new Date(NOW).toISOString(),
  });
  send.audit = audit("_send_message");
  applyTx(send);
  const sent = written(m);
  const claim = m.tx(m.as("alice"));
  claim.updatedMessages.set(1, {
    ...m.room.messages[0],
    claimed_by: "alice",
    claimed_at: new Date(NOW).toISOString(),
  });
  claim.audit = audit("_claim_message");
  applyTx(claim);
  const claimed = written(m);
  const first = deliveryBody(m.room.id, m.room, sent.head, sent.rows);
  assert.deepEqual(first.kinds, ["message"]);
  assert.equal((first.messages[0] as { claimed_by: unknown }).claimed_by, null);
  const second = deliveryBody(m.room.id, m.room, claimed.head, claimed.rows);
  assert.equal((second.messages[0] as { claimed_by: unknown }).claimed_by, "alice");
});

Deno.test("deleting a webhook purges its stored deliveries; headers that named it before stay", () => {
  const m = roomWithHooks(hook("w"));
  const t = m.tx(m.as("alice"));
  applyWrite(t, { key: "k", value: 1 }, "alice", () => ({}), "params");
  t.audit = audit("_set_state");
  applyTx(t);
  const del = m.tx(ADMIN);
  del.webhooks.set("w", null);
  applyTx(del);
  const d = m.room.rt.takeDirty()!;
  assert.deepEqual([...d.purged!], ["w"]);
  assert.equal(m.room.webhooks.has("w"), false);
});

Deno.test("backoff() doubles from the minimum up to the maximum, jittered into the upper half", () => {
  for (
    const [failures, lo, hi] of [[1, 500, 1000], [2, 1000, 2000], [5, 8000, 16000], [30, 300_000, 600_000]]
  ) {
    for (let i = 0; i < 50; i++) {
      const d = backoff(failures, 1000, 600_000);
      assert.ok(d >= lo && d <= hi, `${failures}: ${d}`);
    }
  }
});
