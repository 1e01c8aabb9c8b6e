/**
 * Webhooks through the public API with a local receiver: signed deliveries of committed changes in commit
 * order, retries after failures that block only the failing webhook, disabling and re-enabling, filters,
 * refusals never delivered, who may register and read them, and the secret never readable again.
 */
import assert from "node:assert/strict";
import type { Limits } from "../../config.ts";
import { type Received, signatureValid, startReceiver } from "../_receiver.ts";
import { setupRoom, until } from "../_setup.ts";

const SECRET = "whsec-7f3a9c1e5b2d4f60";
/** Private targets allowed (the receiver is on loopback), retries quick. */
const LIMITS: Partial<Limits> = {
  webhookAllowPrivate: true,
  webhookRetryMinMs: 10,
  webhookRetryMaxMs: 40,
  webhookPollMs: 100,
};

async function setup(limits: Partial<Limits> = {}) {
  return await setupRoom({ server: { limits: { ...LIMITS, ...limits } } });
}
type Fx = Awaited<ReturnType<typeof setup>>;

async function register(
  fx: Pick<Fx, "c" | "room">,
  id: string,
  url: string,
  extra: Record<string, unknown> = {},
) {
  return await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", { id, url, secret: SECRET, ...extra });
}

/** alice writes her own key: one commit, its cursor returned. */
async function write(fx: Fx, key: string, value: unknown, headers: Record<string, string> = {}) {
  const r = await fx.c.http("POST", `/rooms/${fx.room.id}/actions/_set_state/invoke`, {
    token: fx.alice,
    body: { params: { key, value } },
    headers,
  });
  assert.equal(r.status, 200, r.text);
  return r.json.cursor as number;
}

const seqs = (ds: Received[]) => ds.map((d) => d.json.seq as number);

Deno.test("a delivery is a JSON POST signed over its exact body, with delivery id, seq and the commit's values", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "ci", rx.url);
  const cursor = await write(fx, "plan", { go: "north" });
  await until(() => rx.got.length === 1, { what: "the delivery" });
  const d = rx.got[0];
  assert.ok(signatureValid(d, SECRET), "X-Sync-Signature is sha256=HMAC(secret, body)");
  assert.ok(!signatureValid(d, SECRET + "x"));
  assert.equal(d.headers.get("content-type"), "application/json");
  assert.equal(d.headers.get("x-sync-seq"), String(cursor));
  assert.equal(d.headers.get("x-sync-webhook"), "ci");
  assert.equal(d.headers.get("x-sync-attempt"), "1");
  assert.equal(d.headers.get("traceparent"), null, "no traceparent when the invocation had none");
  assert.deepEqual(d.json, {
    room: fx.room.id,
    seq: cursor,
    ts: d.json.ts,
    agent: "alice",
    action: "_set_state",
    kinds: ["state"],
    writes: [{ scope: "alice", key: "plan", version: 1, value: { go: "north" } }],
    messages: [],
    agents: [],
    definitions: { actions: [], views: [] },
    traceparent: null,
  });
  // the deliveries listing names the same delivery id, marked delivered once the server has the 2xx
  const row = await until(async () => {
    const list = await fx.req("GET", "/webhooks/ci/deliveries", fx.room.token);
    assert.equal(list.status, 200, list.text);
    return list.json.deliveries[0]?.state === "delivered" && list.json.deliveries[0];
  }, { what: "the delivery marked delivered" });
  assert.equal(row.delivery_id, d.headers.get("x-sync-delivery"));
  assert.equal(row.seq, cursor);
  assert.equal(row.state, "delivered");
  assert.equal(row.attempts, 1);
  assert.equal(row.last_status, 200);
  assert.ok(row.delivered_at);
});

Deno.test("deliveries arrive in commit order, messages and every write of a commit included", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "log", rx.url);
  // two agents racing: each commit is delivered once, in the order the room committed them
  const cursors = (await Promise.all([
    ...Array.from({ length: 10 }, (_, i) => write(fx, `a${i}`, i)),
    ...Array.from(
      { length: 10 },
      (_, i) =>
        fx.c.ok(fx.room.id, fx.bob, "_send_message", { body: `hi ${i}` }).then((r) => r.cursor as number),
    ),
  ])).sort((a, b) => a - b);
  await until(() => rx.got.length >= 20, { what: "20 deliveries" });
  assert.deepEqual(seqs(rx.got), cursors);
  const msg = rx.got.find((d) => d.json.kinds.includes("message"))!;
  assert.equal(msg.json.messages[0].from, "bob");
  assert.equal(msg.json.action, "_send_message");
});

Deno.test("a failing delivery is retried with backoff and holds back that webhook only", async () => {
  let failing = 2;
  await using flaky = startReceiver(() => failing-- > 0 ? 500 : 200);
  await using steady = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "flaky", flaky.url);
  await register(fx, "steady", steady.url);
  const cursors = [await write(fx, "k", 1), await write(fx, "k", 2), await write(fx, "k", 3)];
  await until(() => flaky.accepted().length === 3, { what: "the flaky receiver to get all three" });
  assert.deepEqual(seqs(flaky.accepted()), cursors, "in order after the retries");
  // the first delivery was attempted three times (two 500s) with the same delivery id, before the others
  const first = flaky.got.filter((d) => d.json.seq === cursors[0]);
  assert.deepEqual(first.map((d) => d.headers.get("x-sync-attempt")), ["1", "2", "3"]);
  assert.equal(new Set(first.map((d) => d.headers.get("x-sync-delivery"))).size, 1);
  assert.deepEqual(seqs(flaky.got.slice(0, 3)), [cursors[0], cursors[0], cursors[0]]);
  await until(() => steady.got.length === 3, { what: "the steady receiver" });
  assert.deepEqual(seqs(steady.got), cursors, "the other webhook was not held back by the failures");
  // the receiver has the last one before the server has its answer: wait for all three marked delivered
  const rows = await until(async () => {
    const d = (await fx.req("GET", "/webhooks/flaky/deliveries", fx.room.token)).json.deliveries;
    return d.length === 3 && d.every((r: { state: string }) => r.state === "delivered") && d;
  }, { what: "three delivered rows" });
  assert.deepEqual(rows.map((r: { attempts: number }) => r.attempts), [1, 1, 3], "newest first");
});

Deno.test("a webhook that keeps failing is disabled with its reason; registering it again re-enables it", async () => {
  let status = 503;
  await using rx = startReceiver(() => status);
  const fx = await setup({ webhookMaxFailures: 3 });
  await using _ = fx.s;
  await register(fx, "down", rx.url);
  const first = await write(fx, "k", 1);
  const hook = async () => (await fx.req("GET", "/webhooks", fx.room.token)).json[0];
  const disabled = await until(async () => {
    const h = await hook();
    return h.enabled === false && h;
  }, { what: "the webhook to be disabled" });
  assert.match(disabled.disabled.reason, /^3 consecutive failed deliveries since .*; last: HTTP 503/);
  assert.ok(disabled.disabled.at);
  assert.equal(disabled.pending, 1);
  assert.equal(disabled.failures, 3);
  assert.equal(disabled.last_error, "HTTP 503 Service Unavailable");
  assert.equal(rx.got.length, 3);
  // while disabled, commits add nothing to its outbox
  await write(fx, "k", 2);
  assert.equal((await hook()).pending, 1);
  // registering it again: enabled, and what was pending is delivered (the failures start again from 0)
  status = 200;
  const again = await register(fx, "down", rx.url);
  assert.equal(again.replaced, true);
  assert.equal(again.webhook.enabled, true);
  const third = await write(fx, "k", 3);
  await until(() => rx.accepted().length === 2, { what: "the pending and the new delivery" });
  assert.deepEqual(seqs(rx.accepted()), [first, third]);
  const h = await until(async () => {
    const x = await hook();
    return x.pending === 0 && x;
  }, { what: "nothing pending" });
  assert.equal(h.enabled, true);
  assert.equal(h.disabled, null);
  assert.equal(h.failures, 0);
});

Deno.test("a webhook failing for longer than SYNC_WEBHOOK_MAX_FAILING_MS is disabled before its failure count", async () => {
  await using rx = startReceiver(() => 500);
  const fx = await setup({ webhookMaxFailures: 1000, webhookMaxFailingMs: 30 });
  await using _ = fx.s;
  await register(fx, "slow", rx.url);
  await write(fx, "k", 1);
  const h = await until(async () => {
    const x = (await fx.req("GET", "/webhooks", fx.room.token)).json[0];
    return x.enabled === false && x;
  }, { what: "the webhook to be disabled" });
  assert.match(h.disabled.reason, /^\d+ consecutive failed deliveries since .*; last: HTTP 500/);
  assert.ok(h.failures >= 2 && h.failures < 1000, String(h.failures));
  assert.ok(Date.parse(h.disabled.at) - Date.parse(h.failing_since) >= 30);
});

Deno.test("a webhook whose backlog reaches SYNC_WEBHOOK_MAX_PENDING is disabled: its outbox stops growing", async () => {
  await using rx = startReceiver(() => 500);
  const fx = await setup({ webhookMaxPending: 3, webhookRetryMinMs: 60_000, webhookRetryMaxMs: 60_000 });
  await using _ = fx.s;
  await register(fx, "slow", rx.url);
  for (let i = 0; i < 3; i++) await write(fx, "k", i);
  const h = await until(async () => {
    const x = (await fx.req("GET", "/webhooks", fx.room.token)).json[0];
    return x.enabled === false && x;
  }, { what: "the webhook to be disabled" });
  assert.equal(h.disabled.reason, "3 deliveries undelivered (the limit is 3)");
  await write(fx, "k", 9);
  assert.equal((await fx.req("GET", "/webhooks", fx.room.token)).json[0].pending, 3);
  assert.equal(rx.got.length, 1, "one attempt, then the back-off");
});

Deno.test("the deliveries listing shows the newest; older delivered rows are dropped from storage", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "many", rx.url);
  let last = 0;
  for (let i = 0; i < 220; i++) last = await write(fx, "k", i);
  await until(() => rx.got.some((d) => d.json.seq === last), { what: "the last delivery" });
  const rows = await until(async () => {
    const r = (await fx.req("GET", "/webhooks/many/deliveries?limit=100", fx.room.token)).json.deliveries;
    return r[0]?.seq === last && r[0].state === "delivered" && r;
  }, { what: "the last delivery marked" });
  assert.equal(rows.length, 100);
  assert.deepEqual(rows.map((r: { seq: number }) => r.seq), Array.from({ length: 100 }, (_, i) => last - i));
  const stored = await fx.s.store.client.execute(
    "SELECT COUNT(*) AS n FROM webhook_outbox WHERE webhook_id = 'many' AND state = 'delivered'",
  );
  const n = Number(stored.rows[0].n);
  assert.ok(n >= 100 && n <= 160, `delivered rows kept: ${n}`);
});

Deno.test("a refused invocation is never delivered; a dry run neither", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "all", rx.url, { events: { kinds: ["state", "message", "agent", "definition"] } });
  await fx.c.ok(fx.room.id, fx.room.token, "_register_action", {
    id: "never",
    if: "false",
    writes: [{ scope: "_shared", key: "x", value: 1 }],
  });
  const refusals = [
    await fx.c.invoke(fx.room.id, fx.alice, "never"),
    await fx.c.invoke(fx.room.id, fx.alice, "_set_state", { key: "k", value: 1, if_version: 5 }),
    await fx.c.invoke(fx.room.id, fx.bob, "_set_state", { scope: "alice", key: "k", value: 1 }),
  ];
  assert.deepEqual(refusals.map((r) => r.status), [409, 409, 403]);
  const dry = await fx.c.invoke(fx.room.id, fx.alice, "_set_state", { key: "dry", value: 1 }, {
    dry_run: true,
  });
  assert.equal(dry.status, 200);
  const last = await write(fx, "k", 2);
  // deliveries are in commit order: once the last commit's has arrived, nothing earlier is still coming
  await until(() => rx.got.some((d) => d.json.seq === last), { what: "the last commit's delivery" });
  const refusedSeqs = new Set<number>();
  for (const a of (await fx.req("GET", "/state?scope=_audit", fx.room.token)).json) {
    if (!a.value.ok) refusedSeqs.add(a.value.seq);
  }
  assert.equal(refusedSeqs.size, 3);
  assert.deepEqual(rx.got.map((d) => d.json.action), ["_register_action", "_set_state"]);
  assert.ok(rx.got.every((d) => d.json.writes.every((w: { key: string }) => w.key !== "dry")));
});

Deno.test("events: scopes, kinds and actions decide which commits a webhook hears", async () => {
  await using shared = startReceiver();
  await using msgs = startReceiver();
  await using joins = startReceiver();
  await using bump = startReceiver();
  await using byDefault = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "shared", shared.url, { events: { scopes: ["_shared"] } });
  await register(fx, "msgs", msgs.url, { events: { scopes: ["_messages"] } });
  await register(fx, "joins", joins.url, { events: { kinds: ["agent"] } });
  await register(fx, "bump", bump.url, { events: { actions: ["bump"], kinds: ["state", "message"] } });
  await register(fx, "default", byDefault.url);
  const r = (action: string, params: Record<string, unknown> = {}, token = fx.room.token) =>
    fx.c.ok(fx.room.id, token, action, params).then((x) => x.cursor as number);
  const def = await r("_register_action", {
    id: "bump",
    writes: [{ scope: "_shared", key: "n", increment: 1 }],
  });
  const bumped = await r("bump", {}, fx.alice);
  const own = await write(fx, "mine", 1);
  const said = await r("_send_message", { body: "hello" }, fx.bob);
  const joinToken = await fx.c.join(fx.room.id, "carol");
  assert.ok(joinToken);
  const beat = await r("_heartbeat", {}, fx.alice);
  // a marker every webhook hears last: a message in _shared's neighbour… a bump writes _shared and is `bump`
  const marker = await r("bump", {}, fx.bob);
  const markerMsg = await r("_send_message", { body: "done" });
  for (const rx of [shared, bump]) await until(() => rx.got.some((d) => d.json.seq === marker));
  for (const rx of [msgs, byDefault]) await until(() => rx.got.some((d) => d.json.seq === markerMsg));
  await until(() => joins.got.length >= 2, { what: "the join and the heartbeat" });
  assert.deepEqual(seqs(shared.got), [bumped, marker], "a commit that wrote _shared");
  assert.deepEqual(seqs(msgs.got), [said, markerMsg], "_messages: a commit that created a message");
  assert.deepEqual(seqs(bump.got), [bumped, marker], "invocations of bump");
  assert.deepEqual(seqs(byDefault.got), [bumped, own, said, marker, markerMsg], "state and message kinds");
  assert.equal(joins.got[0].json.agents[0], "carol");
  assert.equal(joins.got[0].json.action, null, "a join is not an invocation");
  assert.equal(joins.got[1].json.seq, beat);
  assert.ok(def < bumped);
});

Deno.test("actions: an approval that completes a proposal delivers the action it ran; the proposal alone does not", async () => {
  await using rx = startReceiver();
  const fx = await setupRoom({
    agents: ["alice", "rev"],
    join: { rev: { role: "reviewer" } },
    server: { limits: LIMITS },
  });
  await using _ = fx.s;
  await fx.c.ok(fx.room.id, fx.room.token, "_register_action", {
    id: "deploy",
    writes: [{ scope: "_shared", key: "deployed", value: true }],
    approval: { count: 1, from: "agents[approver].role == 'reviewer'" },
  });
  await register(fx, "deploys", rx.url, { events: { actions: ["deploy"] } });
  const proposed = await fx.c.invoke(fx.room.id, fx.tokens.alice, "deploy");
  assert.equal(proposed.status, 202, proposed.text);
  const ran = await fx.c.ok(fx.room.id, fx.tokens.rev, "_approve", { proposal: proposed.json.proposal.id });
  await until(() => rx.got.length >= 1, { what: "the delivery of the run" });
  assert.deepEqual(seqs(rx.got), [ran.cursor], "the run, not the proposal");
  assert.equal(rx.got[0].json.action, "_approve");
  assert.deepEqual(rx.got[0].json.writes.map((w: { key: string }) => w.key), ["deployed"]);
});

Deno.test("a lease that lapses is delivered: its expiry commit goes through the outbox like any other", async () => {
  await using rx = startReceiver();
  const fx = await setupRoom({ server: { limits: LIMITS, fakeClock: true } });
  await using _ = fx.s;
  await register(fx, "expiries", rx.url, { events: { actions: ["_lease_expired"] } });
  const r = await fx.c.invoke(fx.room.id, fx.alice, "_set_state", {
    key: "job",
    value: "building",
    lease: { ttl_ms: 5000 },
  });
  assert.equal(r.status, 200, r.text);
  // alice falls silent: the lease lapses and its on_expire (delete, the default) runs as a commit of its own
  fx.s.clock.advance(5000);
  const d = (await until(() => rx.got[0], { what: "the expiry's delivery" })).json;
  assert.equal(d.action, "_lease_expired");
  assert.equal(d.agent, "alice");
  assert.ok(d.seq > r.json.cursor);
  assert.deepEqual(d.writes, [{ scope: "alice", key: "job", deleted: true }]);
  assert.equal(rx.got.length, 1, "the leased write itself is not an expiry");
});

Deno.test("only the room token registers and deletes webhooks; agents cannot read them, the view token can", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  const p = { id: "x", url: rx.url, secret: SECRET };
  const asAgent = await fx.c.invoke(fx.room.id, fx.alice, "_register_webhook", p);
  assert.equal(asAgent.status, 403);
  assert.equal(asAgent.json.error, "forbidden");
  const actingAs = await fx.c.invoke(fx.room.id, fx.room.token, "_register_webhook", p, { agent: "alice" });
  assert.equal(actingAs.status, 403, "the room token acting as an agent is that agent");
  const viewer = await fx.c.invoke(fx.room.id, fx.room.view, "_register_webhook", p);
  assert.equal(viewer.status, 403);
  assert.equal(viewer.json.error, "read_only_token");
  await register(fx, "x", rx.url);
  const del = await fx.c.invoke(fx.room.id, fx.bob, "_delete_webhook", { id: "x" });
  assert.equal(del.json.error, "forbidden");
  assert.equal((await fx.req("GET", "/webhooks", fx.alice)).json.error, "forbidden");
  assert.equal((await fx.req("GET", "/webhooks/x/deliveries", fx.alice)).json.error, "forbidden");
  assert.equal((await fx.req("GET", "/webhooks")).status, 401);
  const listed = await fx.req("GET", "/webhooks", fx.room.view);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.map((w: { id: string }) => w.id), ["x"]);
  // the builtins are listed, unavailable to everyone but the room token
  const actions = async (t: string) =>
    Object.fromEntries(
      (await fx.req("GET", "/actions", t)).json.map((
        a: { id: string; available: boolean },
      ) => [a.id, a.available]),
    );
  assert.equal((await actions(fx.alice))._register_webhook, false);
  assert.equal((await actions(fx.room.token))._register_webhook, true);
  // deleting it: gone from the listing, unknown afterwards
  assert.deepEqual((await fx.c.ok(fx.room.id, fx.room.token, "_delete_webhook", { id: "x" })).deleted, true);
  assert.deepEqual((await fx.req("GET", "/webhooks", fx.room.token)).json, []);
  const again = await fx.c.invoke(fx.room.id, fx.room.token, "_delete_webhook", { id: "x" });
  assert.equal(again.status, 404);
  assert.equal(again.json.error, "webhook_not_found");
  assert.equal(
    (await fx.req("GET", "/webhooks/x/deliveries", fx.room.token)).json.error,
    "webhook_not_found",
  );
});

Deno.test("deleting a webhook drops its undelivered deliveries", async () => {
  await using rx = startReceiver(() => 500);
  await using other = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  await register(fx, "down", rx.url);
  await write(fx, "k", 1);
  await until(() => rx.got.length >= 1);
  await fx.c.ok(fx.room.id, fx.room.token, "_delete_webhook", { id: "down" });
  // registered again under the same id at another URL: the old deliveries do not follow it
  await register(fx, "down", other.url);
  const next = await write(fx, "k", 2);
  await until(() => other.got.length >= 1);
  assert.deepEqual(seqs(other.got), [next]);
});

Deno.test("registration refuses bad input with a clear 4xx and writes nothing", async () => {
  const fx = await setupRoom({ server: { limits: { ...LIMITS, roomMaxWebhooks: 2 } } });
  await using _ = fx.s;
  const url = "http://127.0.0.1:9/hook";
  const cases: [Record<string, unknown>, number, string, string?][] = [
    [{ id: "a", url, secret: "short" }, 400, "invalid_params", "secret"],
    [{ id: "a", url }, 400, "invalid_params", "secret"],
    [{ id: "a b", url, secret: SECRET }, 400, "invalid_params", "id"],
    [{ id: "a", url: "not a url", secret: SECRET }, 400, "invalid_body", "url"],
    [{ id: "a", url: "ftp://example.com/x", secret: SECRET }, 400, "url_not_allowed", "url"],
    [{ id: "a", url: "https://user:pw@example.com/x", secret: SECRET }, 400, "url_not_allowed", "url"],
    [
      { id: "a", url, secret: SECRET, events: { kinds: ["everything"] } },
      400,
      "invalid_params",
      "events.kinds.0",
    ],
    [{ id: "a", url, secret: SECRET, events: { when: 1 } }, 400, "invalid_params", "events.when"],
    [{ id: "a", url, secret: SECRET, extra: 1 }, 400, "invalid_params"],
  ];
  for (const [params, status, code, field] of cases) {
    const r = await fx.c.invoke(fx.room.id, fx.room.token, "_register_webhook", params);
    assert.equal(r.status, status, `${JSON.stringify(params)}: ${r.text}`);
    assert.equal(r.json.error, code, r.text);
    if (field) assert.equal(r.json.field, field, r.text);
  }
  assert.deepEqual((await fx.req("GET", "/webhooks", fx.room.token)).json, []);
  await register(fx, "one", url);
  await register(fx, "two", url);
  const full = await fx.c.invoke(fx.room.id, fx.room.token, "_register_webhook", {
    id: "three",
    url,
    secret: SECRET,
  });
  assert.equal(full.status, 429);
  assert.deepEqual([full.json.quota, full.json.limit], ["room_webhooks", 2]);
  assert.equal((await register(fx, "two", url)).replaced, true, "replacing one is not a new one");
  assert.equal(
    (await fx.req("GET", "/webhooks/one/deliveries?limit=x", fx.room.token)).json.error,
    "invalid_query",
  );
});

Deno.test("the secret is never readable: answers, listings, audit, poll, feed, export, replays and errors", async () => {
  await using rx = startReceiver();
  const fx = await setup();
  await using _ = fx.s;
  const feed = await fetch(`${fx.s.base}/rooms/${fx.room.id}/events?after=0`, {
    headers: { authorization: `Bearer ${fx.room.token}` },
  });
  const feedReader = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
  const responses: [string, string][] = [];
  const keep = (what: string, text: string) => responses.push([what, text]);
  const reg = (params: Record<string, unknown>, extra: Record<string, unknown> = {}, key?: string) =>
    fx.c.http("POST", `/rooms/${fx.room.id}/actions/_register_webhook/invoke`, {
      token: fx.room.token,
      body: { params, ...extra },
      headers: key ? { "idempotency-key": key } : {},
    });
  const params = { id: "hook", url: rx.url, secret: SECRET };
  keep("registration", (await reg(params, {}, "k1")).text);
  keep("idempotent replay", (await reg(params, {}, "k1")).text);
  keep("dry run", (await reg(params, { dry_run: true })).text);
  keep("refused: bad url", (await reg({ ...params, url: "ftp://x.example/" })).text);
  keep("refused: short secret", (await reg({ ...params, secret: SECRET.slice(0, 8) })).text);
  keep("refused: agent", (await fx.c.invoke(fx.room.id, fx.alice, "_register_webhook", params)).text);
  keep("refused: unknown field", (await reg({ ...params, other: 1 })).text);
  keep("idempotency conflict", (await reg({ ...params, secret: SECRET + "-2" }, {}, "k1")).text);
  await write(fx, "k", 1);
  await until(() => rx.got.length >= 1);
  for (
    const [what, path, token] of [
      ["listing", "/webhooks", fx.room.token],
      ["listing (view token)", "/webhooks", fx.room.view],
      ["deliveries", "/webhooks/hook/deliveries", fx.room.token],
      ["audit", "/state?scope=_audit", fx.room.token],
      ["poll", "/poll", fx.room.token],
      ["poll (view token)", "/poll", fx.room.view],
      ["export", "/export", fx.room.token],
      ["context", "/context", fx.room.token],
      ["actions", "/actions", fx.room.token],
    ] as const
  ) {
    const r = await fx.req("GET", path, token);
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    keep(what, r.text);
  }
  // the feed's events carry audit rows: read until the last commit's
  let sse = "";
  const cursor = (await fx.c.context(fx.room.id, fx.room.token, "?only=state")).cursor;
  while (!sse.includes(`id: ${cursor}\n`)) sse += (await feedReader.read()).value ?? "";
  await feedReader.cancel();
  keep("feed", sse);
  for (const [what, text] of responses) {
    assert.ok(!text.includes(SECRET.slice(0, 8)), `${what} shows the secret: ${text}`);
  }
  const audit = (await fx.req("GET", "/state?scope=_audit", fx.room.token)).json;
  assert.equal(audit[0].value.params.secret, "[redacted]", "the audit row says a secret was given");
  // the receiver is the only one who gets something derived from it: the signature
  assert.ok(signatureValid(rx.got[0], SECRET));
});
