/**
 * The history as the webhook outbox: a commit names its webhooks in its history header, and the delivery
 * loop copies it into the webhook's outbox before sending. What a user relies on: a commit that is not
 * copied yet is pending (counted, listed, with the delivery id it will be sent with), and retention never
 * trims a commit a webhook has not had.
 */
import assert from "node:assert/strict";
import type { Limits } from "../../config.ts";
import { startReceiver } from "../_receiver.ts";
import { setupRoom, until } from "../_setup.ts";

const SECRET = "whsec-7f3a9c1e5b2d4f60";
const LIMITS: Partial<Limits> = {
  webhookAllowPrivate: true,
  webhookRetryMinMs: 10,
  webhookRetryMaxMs: 40,
  webhookPollMs: 100,
};

Deno.test("commits the loop has not copied yet are pending, listed with the ids they are then sent with", async () => {
  await using rx = startReceiver();
  const fx = await setupRoom({ server: { limits: LIMITS, deliver: false } });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", { id: "w", url: rx.url, secret: SECRET });
  const cursors: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await fx.req("POST", "/actions/_set_state/invoke", fx.alice, {
      params: { key: "k", value: i },
    });
    assert.equal(r.status, 200, r.text);
    cursors.push(r.json.cursor);
  }
  const copied = await fx.s.store.client.execute("SELECT COUNT(*) AS n FROM webhook_outbox");
  assert.equal(Number(copied.rows[0].n), 0, "nothing is copied at commit time");
  const [hook] = (await fx.req("GET", "/webhooks", fx.room.token)).json;
  assert.equal(hook.pending, 3);
  const listed = (await fx.req("GET", "/webhooks/w/deliveries", fx.room.token)).json.deliveries;
  assert.deepEqual(listed.map((d: { seq: number }) => d.seq), [...cursors].reverse());
  assert.ok(
    listed.every((d: { state: string; attempts: number }) => d.state === "pending" && d.attempts === 0),
  );
  // the header that names the webhook is not history anyone reads
  for (const token of [fx.alice, fx.room.token]) {
    const h = await fx.req("GET", "/history", token);
    assert.equal(h.status, 200);
    assert.ok(!/"hooks"|hook_meta| w /.test(h.text), h.text);
  }
  const exported = await fx.c.http("GET", `/rooms/${fx.room.id}/export`, { token: fx.room.token });
  assert.equal(exported.status, 200);
  assert.ok(!/"hooks"|hook_meta| w /.test(exported.text));
  fx.s.eng.startDelivery();
  await until(() => rx.got.length === 3, { what: "the three deliveries" });
  assert.deepEqual(rx.got.map((d) => d.json.seq), cursors, "in commit order");
  assert.deepEqual(rx.got.map((d) => d.json.writes[0].value), [0, 1, 2], "each with the value it wrote");
  assert.deepEqual(
    rx.got.map((d) => d.headers.get("x-sync-delivery")),
    listed.map((d: { delivery_id: string }) => d.delivery_id).reverse(),
    "the ids listed before the copy are the ids sent",
  );
});

Deno.test("retention never trims a commit a webhook has not had: commits trimmed before any delivery arrive", async () => {
  await using rx = startReceiver();
  // no delivery loop until the history is trimmed: only retention's copy keeps the commits
  const fx = await setupRoom({ server: { limits: { ...LIMITS, historyCommits: 5 }, deliver: false } });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", { id: "w", url: rx.url, secret: SECRET });
  const cursors: number[] = [];
  for (let i = 0; i < 150; i++) {
    const r = await fx.req("POST", "/actions/_set_state/invoke", fx.alice, {
      params: { key: `k${i % 7}`, value: { i } },
    });
    cursors.push(r.json.cursor);
  }
  await until(async () => {
    const h = (await fx.req("GET", "/history?limit=1", fx.room.token)).json;
    return h.oldest_seq > cursors[140];
  }, { what: "retention to trim the history" });
  const [hook] = (await fx.req("GET", "/webhooks", fx.room.token)).json;
  assert.equal(hook.pending, cursors.length, "still pending, every one");
  fx.s.eng.startDelivery();
  await until(() => rx.got.length === cursors.length, { what: "every commit delivered" });
  assert.deepEqual(rx.got.map((d) => d.json.seq), cursors, "all of them, in commit order");
  assert.deepEqual(
    rx.got.map((d) => d.json.writes[0].value.i),
    cursors.map((_, i) => i),
    "with their values",
  );
  assert.ok(rx.got.every((d) => d.json.agent === "alice" && d.json.action === "_set_state"));
});

Deno.test("registering a webhook again keeps the commits it has not had yet; deleting it first does not", async () => {
  await using old = startReceiver();
  await using again = startReceiver();
  await using fresh = startReceiver();
  const fx = await setupRoom({ server: { limits: LIMITS, deliver: false } });
  await using _ = fx.s;
  const register = (id: string, url: string) =>
    fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", { id, url, secret: SECRET });
  const write = async (i: number) =>
    (await fx.req("POST", "/actions/_set_state/invoke", fx.alice, { params: { key: "k", value: i } })).json
      .cursor as number;
  await register("kept", old.url);
  await register("dropped", old.url);
  const before = [await write(1), await write(2)];
  await register("kept", again.url);
  await fx.c.ok(fx.room.id, fx.room.token, "_delete_webhook", { id: "dropped" });
  await register("dropped", fresh.url);
  const after = await write(3);
  fx.s.eng.startDelivery();
  await until(() => again.got.length === 3 && fresh.got.length === 1, { what: "the deliveries" });
  assert.deepEqual(again.got.map((d) => d.json.seq), [...before, after], "registered again: nothing lost");
  assert.deepEqual(fresh.got.map((d) => d.json.seq), [after], "deleted first: only what came after");
  assert.equal(old.got.length, 0);
});

Deno.test("delivered rows stay bounded when each delivery is sent before the next commit (a worker each)", async () => {
  await using rx = startReceiver();
  const fx = await setupRoom({ server: { limits: LIMITS } });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", { id: "slow", url: rx.url, secret: SECRET });
  const stored = async () =>
    Number(
      (await fx.s.store.client.execute(
        "SELECT COUNT(*) AS n FROM webhook_outbox WHERE webhook_id = 'slow' AND state = 'delivered'",
      )).rows[0].n,
    );
  for (let i = 0; i < 180; i++) {
    await fx.req("POST", "/actions/_set_state/invoke", fx.alice, { params: { key: "k", value: i } });
    await until(() => rx.got.length === i + 1, { what: `delivery ${i}` });
    // and marked delivered, so that the next one finds no worker
    await until(async () => (await stored()) >= Math.min(i + 1, 100), { what: `delivery ${i} marked` });
  }
  const n = await stored();
  assert.ok(n >= 100 && n <= 150, `delivered rows kept: ${n}`);
});
