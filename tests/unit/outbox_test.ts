/**
 * The commit-time side of webhooks without a server: which commits a webhook's `events` match, the outbox
 * rows a commit stages (none for a refusal, a disabled webhook or a commit that did nothing reportable), and
 * the delivery loop's back-off.
 */
import assert from "node:assert/strict";
import type { WebhookDef } from "../../engine/model.ts";
import { applyTx } from "../../engine/tx.ts";
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

const staged = (m: ReturnType<typeof memoryRoom>) =>
  (m.room.rt.takeDirty()?.outbox ?? []).map((d) => d.webhook_id);
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
  const [row] = m.room.rt.takeDirty()!.outbox!;
  assert.equal(row.seq, seq);
  assert.match(row.delivery_id, /^dlv_[0-9a-f]{32}$/);
  const body = JSON.parse(row.body);
  assert.deepEqual(body.writes, [{ scope: "alice", key: "plan", version: 1, value: { go: "north" } }]);
  assert.equal(body.agent, "alice");
  assert.equal(body.action, "_set_state");
  assert.ok(!row.body.includes("0123456789abcdef"), "the secret is not in the body");
});

Deno.test("deleting a webhook drops the deliveries staged for it in the same flush", () => {
  const m = roomWithHooks(hook("w"));
  const t = m.tx(m.as("alice"));
  applyWrite(t, { key: "k", value: 1 }, "alice", () => ({}), "params");
  t.audit = audit("_set_state");
  applyTx(t);
  const del = m.tx(ADMIN);
  del.webhooks.set("w", null);
  applyTx(del);
  const d = m.room.rt.takeDirty()!;
  assert.deepEqual(d.outbox, []);
  assert.deepEqual([...d.purged!], ["w"]);
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
