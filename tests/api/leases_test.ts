/**
 * Leased writes over HTTP with the fake clock: the atomic claim (`409 lease_held`), renewal by calls and by
 * an open wait, expiry after silence (`_lease_expired`, the `on_expire` effect exactly once), `if_epoch`
 * fencing (`409 lease_lost`), `_release`, epochs that never go back (delete and re-create, restarts),
 * message claims as leases, and the privacy of `leases`.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { setupRoom, until } from "../_setup.ts";

const TTL = 5000;

async function fixture(o: { dbPath?: string } = {}) {
  const fx = await setupRoom({
    room: "leases",
    agents: ["alice", "bob", "carol"],
    server: { fakeClock: true, ...(o.dbPath ? { dbPath: o.dbPath } : {}) },
  });
  for (const a of ["alice", "bob"]) {
    const r = await fx.req("PATCH", `/agents/${a}`, fx.room.token, { grants: ["_tasks"] });
    assert.equal(r.status, 200, r.text);
  }
  const set = (token: string, params: Record<string, unknown>) =>
    fx.c.invoke(fx.room.id, token, "_set_state", { scope: "_tasks", key: "7", ...params });
  const row = async (key = "7") =>
    (await fx.req("GET", `/state?scope=_tasks&key=${key}`, fx.room.token)).json;
  const audit = async (action = "_lease_expired") =>
    ((await fx.req("GET", "/state?scope=_audit", fx.room.token)).json as { value: { action: string } }[])
      .map((r) => r.value).filter((a) => a.action === action);
  return { ...fx, set, row, audit };
}

Deno.test("a leased write is the atomic claim: others are 409 lease_held until it lapses", async (t) => {
  const { s, set, row, alice, bob, room, c, audit } = await fixture();
  await using _ = s;

  await t.step("alice takes the lease; the write answers with holder, epoch and expiry", async () => {
    const r = await set(alice, { value: { job: "build" }, lease: { ttl_ms: TTL } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.writes[0].lease, {
      holder: "alice",
      epoch: 1,
      expires_at: new Date(s.clock.now() + TTL).toISOString(),
    });
    assert.deepEqual((await row()).lease, r.json.writes[0].lease, "/state shows the lease");
  });

  await t.step(
    "bob's leased and plain writes, and the room token's, are refused with the lease",
    async () => {
      for (
        const [who, params] of [[bob, { value: 1, lease: true }], [bob, { value: 2 }], [room.token, {
          value: 3,
        }]]
      ) {
        const r = await set(who as string, params as Record<string, unknown>);
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.error, "lease_held");
        assert.equal(r.json.holder, "alice");
        assert.equal(r.json.epoch, 1);
        assert.equal(typeof r.json.expires_at, "string");
      }
      const del = await c.invoke(room.id, bob, "_delete_state", { scope: "_tasks", key: "7" });
      assert.equal(del.json.error, "lease_held", "a delete is a write too");
      assert.deepEqual((await row()).value, { job: "build" });
    },
  );

  await t.step("the holder's own writes renew it (same epoch)", async () => {
    s.clock.advance(3000);
    const r = await set(alice, { merge: { step: 2 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.writes[0].lease.epoch, 1);
    assert.equal(r.json.writes[0].lease.expires_at, new Date(s.clock.now() + TTL).toISOString());
  });

  await t.step("any call of the holder renews it: reads count as signs of life", async () => {
    for (let i = 0; i < 3; i++) {
      s.clock.advance(TTL - 1000);
      await c.context(room.id, alice, "?only=agents");
      assert.equal((await set(bob, { value: "mine", lease: true })).json.error, "lease_held");
    }
  });

  await t.step("silence: at ttl past alice's last call it lapses, for every read at once", async () => {
    s.clock.advance(TTL - 1);
    assert.equal((await row()).lease?.holder, "alice");
    s.clock.advance(1);
    const gone = await c.http("GET", `/rooms/${room.id}/state?scope=_tasks&key=7`, { token: room.token });
    assert.equal(gone.status, 404, "on_expire delete (the default) removed the entry");
    const expired = await audit();
    assert.equal(expired.length, 1);
    assert.deepEqual((expired[0] as unknown as { params: unknown }).params, {
      scope: "_tasks",
      key: "7",
      holder: "alice",
      epoch: 1,
    });
  });

  await t.step("the next claim takes a new epoch", async () => {
    const r = await set(bob, { value: { job: "build" }, lease: { ttl_ms: TTL } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.writes[0].lease.epoch, 2);
    assert.equal(r.json.writes[0].lease.holder, "bob");
  });
});

Deno.test("an open /wait keeps its agent's lease: it lapses only a ttl after the wait ends", async () => {
  const { s, set, alice, bob, room } = await fixture();
  await using _ = s;
  assert.equal((await set(alice, { value: "x", lease: { ttl_ms: TTL } })).status, 200);
  const ctrl = new AbortController();
  const before = s.eng.metrics.waiters;
  const wait = fetch(`${s.base}/rooms/${room.id}/wait?condition=false&timeout=25000`, {
    headers: { authorization: `Bearer ${alice}` },
    signal: ctrl.signal,
  }).then((r) => r.body?.cancel(), () => {});
  await until(() => s.eng.metrics.waiters > before, { what: "alice to block" });
  s.clock.advance(10 * TTL);
  const held = await set(bob, { value: "y", lease: true });
  assert.equal(held.json.error, "lease_held", "held while alice waits, however long");
  assert.equal(held.json.holder, "alice");
  assert.equal(held.json.expires_at, new Date(s.clock.now() + TTL).toISOString(), "a ttl from now, at least");
  ctrl.abort();
  await wait;
  await until(() => s.eng.metrics.waiters === before, { what: "the server to release the wait" });
  s.clock.advance(TTL - 1);
  assert.equal((await set(bob, { value: "y", lease: true })).json.error, "lease_held");
  s.clock.advance(1);
  const took = await set(bob, { value: "y", lease: true });
  assert.equal(took.status, 200, took.text);
  assert.equal(took.json.writes[0].lease.epoch, 2);
});

Deno.test("on_expire templates run once, with ${holder} ${scope} ${key} ${epoch}, in an audited commit", async () => {
  const { s, alice, bob, room, c, row, audit } = await fixture();
  await using _ = s;
  // the room token's action: its expiry writes run with the room's authority
  await c.ok(room.id, room.token, "_register_action", {
    id: "claim",
    params: { id: { type: "string", required: true } },
    writes: [{
      scope: "_tasks",
      key: "${params.id}",
      value: { job: "x", holder: "${self}" },
      lease: {
        ttl_ms: TTL,
        on_expire: [
          {
            scope: "_tasks",
            key: "${key}",
            merge: { holder: null, lost_by: "${holder}", lost_epoch: "${epoch}" },
          },
          { scope: "_stats", key: "expired", increment: 1 },
          { scope: "_stats", key: "last", value: "${scope}/${key} at ${now}" },
        ],
      },
    }],
  });
  const r = await c.invoke(room.id, alice, "claim", { id: "7" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.writes[0].lease.holder, "alice");
  s.clock.advance(TTL);
  const stats = async () => (await c.context(room.id, room.token, "?only=state")).state._stats;
  await until(async () => (await stats())?.expired === 1, { what: "the expiry to run" });
  assert.deepEqual((await row()).value, { job: "x", holder: null, lost_by: "alice", lost_epoch: 1 });
  assert.equal((await row()).lease, null, "no lease any more; the entry stays");
  assert.match((await stats()).last, /^_tasks\/7 at 2026-/);
  s.clock.advance(10 * TTL);
  await c.context(room.id, bob);
  assert.equal((await stats()).expired, 1, "exactly once");
  assert.equal((await audit()).length, 1);

  // set by bob himself, the expiry writes have bob's authority: alice's scope is out of reach. Refused
  // writes leave the entry as it is; the lease ends all the same, and the audit row says why
  const t2 = await c.invoke(room.id, bob, "_set_state", {
    scope: "_tasks",
    key: "8",
    value: 1,
    lease: { ttl_ms: TTL, on_expire: [{ scope: "alice", key: "x", value: 1 }] },
  });
  assert.equal(t2.status, 200, t2.text);
  s.clock.advance(TTL);
  await until(async () => (await audit()).length === 2, { what: "the second expiry" });
  const failed = (await audit())[1] as unknown as { ok: boolean; error: string; agent: string };
  assert.equal(failed.ok, false);
  assert.equal(failed.error, "scope_denied");
  assert.equal(failed.agent, "bob");
  assert.equal((await row("8")).lease, null);
  assert.equal((await row("8")).value, 1);
});

Deno.test("if_epoch fences a holder presumed dead: 409 lease_lost with the current lease", async () => {
  const { s, set, alice, bob } = await fixture();
  await using _ = s;
  const mine = await set(alice, { value: "a1", lease: { ttl_ms: TTL, on_expire: [] } });
  const epoch = mine.json.writes[0].lease.epoch;
  assert.equal((await set(alice, { value: "a2", if_epoch: epoch })).status, 200, "the holder's fenced write");
  s.clock.advance(TTL);
  const taken = await set(bob, { value: "b1", lease: { ttl_ms: TTL } });
  assert.equal(taken.json.writes[0].lease.epoch, epoch + 1);
  const late = await set(alice, { value: "late", if_epoch: epoch });
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.error, "lease_lost");
  assert.equal(late.json.expected_epoch, epoch);
  assert.deepEqual(
    { holder: late.json.current.holder, epoch: late.json.current.epoch },
    { holder: "bob", epoch: epoch + 1 },
  );
  const bobs = await set(bob, { value: "b2", if_epoch: epoch + 1 });
  assert.equal(bobs.status, 200, bobs.text);
  // fencing is also refused once the lease lapsed, even for the last holder
  s.clock.advance(TTL);
  const lapsed = await set(bob, { value: "b3", if_epoch: epoch + 1 });
  assert.equal(lapsed.json.error, "lease_lost");
  assert.equal(lapsed.json.current, null);
});

Deno.test("_release ends a lease early (holder or room token); expire: true runs on_expire now", async () => {
  const { s, set, alice, bob, room, c, row } = await fixture();
  await using _ = s;
  await set(alice, { value: "v", lease: { ttl_ms: TTL } });
  const rel = (tok: string, extra: Record<string, unknown> = {}) =>
    c.invoke(room.id, tok, "_release", { scope: "_tasks", key: "7", ...extra });
  const notMine = await rel(bob);
  assert.equal(notMine.status, 409);
  assert.equal(notMine.json.error, "lease_held");
  const r = await rel(alice);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.released, true);
  assert.equal((await row()).value, "v", "the entry stays");
  assert.equal((await row()).lease, null);
  assert.equal((await rel(alice)).json.released, false, "nothing left to release");
  const again = await set(bob, { value: "w", lease: { ttl_ms: TTL } });
  assert.equal(again.json.writes[0].lease.epoch, 2);
  assert.equal((await rel(room.token)).json.released, true, "the room token may release any lease");
  await set(alice, { value: "x", lease: { ttl_ms: TTL } });
  const gone = await rel(alice, { expire: true });
  assert.equal(gone.json.released, true);
  const missing = await c.http("GET", `/rooms/${room.id}/state?scope=_tasks&key=7`, { token: room.token });
  assert.equal(missing.status, 404, "expire: true ran the default on_expire (delete)");
  assert.equal((await c.invoke(room.id, room.view, "_release", { scope: "_tasks", key: "7" })).status, 403);
});

Deno.test("epochs never go back: across delete and re-create of the key, and across restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-leases-" });
  const dbPath = `${dir}/sync.db`;
  try {
    const first = await fixture({ dbPath });
    const { set, alice, c, room } = first;
    const a = await set(alice, { value: 1, lease: { ttl_ms: TTL } });
    assert.equal(a.json.writes[0].lease.epoch, 1);
    assert.equal(
      (await c.invoke(room.id, alice, "_delete_state", { scope: "_tasks", key: "7" })).status,
      200,
    );
    assert.equal((await first.row()).status ?? 404, 404);
    const b = await set(alice, { value: 2, lease: { ttl_ms: TTL } });
    assert.equal(b.json.writes[0].lease.epoch, 2, "a deleted key keeps its epoch");
    const stopped = first.s.clock.now();
    await first.s.close();

    // down for an hour: the lease survives with its holder and epoch, and lapses a ttl after the restart
    const s = await startServer({ fakeClock: true, dbPath, clockStart: stopped + 3_600_000 });
    await using _ = s;
    const c2 = client(s.base);
    const row = async () =>
      (await c2.http("GET", `/rooms/${room.id}/state?scope=_tasks&key=7`, { token: room.token })).json;
    assert.deepEqual((await row()).lease, {
      holder: "alice",
      epoch: 2,
      expires_at: new Date(s.clock.now() + TTL).toISOString(),
    });
    s.clock.advance(TTL);
    assert.equal((await row()).error, "state_not_found", "lapsed a ttl after the restart: deleted");
    const bob = first.bob;
    const again = await c2.invoke(room.id, bob, "_set_state", {
      scope: "_tasks",
      key: "7",
      value: 3,
      lease: { ttl_ms: TTL },
    });
    assert.equal(again.json.writes[0].lease.epoch, 3, "the counter was stored");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a message claim is a lease for the room's window: a claimer gone gives the message back", async () => {
  const { s, alice, bob, room, c, req } = await fixture();
  await using _ = s;
  const sent = await c.ok(room.id, room.token, "_send_message", { body: "task", kind: "task" });
  const seq = sent.message.seq;
  const claim = (tok: string) => req("POST", `/messages/${seq}/claim`, tok);
  const first = await c.invoke(room.id, alice, "_claim_message", { seq });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.lease.holder, "alice");
  assert.equal(first.json.lease.expires_at, new Date(s.clock.now() + 60_000).toISOString());
  assert.equal((await claim(bob)).status, 409, "claimed while alice is there");
  const leases = await c.context(room.id, bob, "?only=leases");
  assert.equal(leases.leases._messages[String(seq)].holder, "alice");
  s.clock.advance(59_999);
  await c.context(room.id, bob); // bob's calls keep bob alive, not alice
  assert.equal((await claim(bob)).json.claimed_by, "alice");
  s.clock.advance(1);
  const msg = (await req("GET", `/messages?after=${seq - 1}&limit=1`, bob)).json[0];
  assert.equal(msg.claimed_by, null, "alice went gone: the claim was given back");
  const second = await claim(bob);
  assert.equal(second.status, 200, second.text);
  assert.equal(second.json.claimed_by, "bob");
  // releasing one's claim keeps it for good (the work is done); the claim then never lapses
  assert.equal(
    (await c.invoke(room.id, bob, "_release", { scope: "_messages", key: seq })).json.released,
    true,
  );
  s.clock.advance(10 * 60_000);
  const after = (await req("GET", `/messages?after=${seq - 1}&limit=1`, room.token)).json[0];
  assert.equal(after.claimed_by, "bob");
});

Deno.test("leases in CEL and /context mirror state, with its privacy", async () => {
  const { s, alice, bob, room, c, req, set } = await fixture();
  await using _ = s;
  // alice leases a key of her own scope (a private one) and one of _tasks
  assert.equal(
    (await c.invoke(room.id, alice, "_set_state", { key: "hideout", value: "s3cr3t", lease: true })).status,
    200,
  );
  await set(alice, { value: 1, lease: { ttl_ms: TTL } });
  const evalAs = async (tok: string, expr: string) => (await req("POST", "/eval", tok, { expr })).json;
  assert.equal((await evalAs(alice, 'leases._tasks["7"].holder')).value, "alice");
  assert.equal((await evalAs(alice, 'leases._tasks["7"].epoch')).value, 1);
  assert.equal((await evalAs(alice, "leases.self.hideout.holder")).value, "alice");
  assert.equal((await evalAs(alice, 'leases.alice["hideout"].epoch')).value, 1);
  assert.equal((await evalAs(bob, 'leases._tasks["7"].holder')).value, "alice", "_tasks is for everyone");
  assert.equal((await evalAs(bob, "has(leases.alice)")).value, false, "bob sees no lease of alice's scope");
  assert.equal((await evalAs(bob, '"7" in leases._tasks')).value, true);
  assert.equal((await evalAs(bob, '"8" in leases._tasks')).value, false);
  assert.equal((await evalAs(bob, "size(leases.bob)")).value ?? 0, 0, "a scope without leases is empty");
  const mine = await c.context(room.id, alice);
  assert.deepEqual(Object.keys(mine.leases).sort(), ["_tasks", "self"]);
  const theirs = await c.context(room.id, bob);
  assert.deepEqual(Object.keys(theirs.leases), ["_tasks"]);
  // (not the word "secret": the builtin catalog in /context describes _register_webhook's secret)
  assert.ok(!JSON.stringify(theirs).includes("hideout") && !JSON.stringify(theirs).includes("s3cr3t"));
  const rows = (await req("GET", "/state", bob)).json as { scope: string }[];
  assert.ok(rows.every((r) => r.scope !== "alice"));
  // a wait on a lease: woken by the expiry commit
  const cond = encodeURIComponent('!("7" in leases._tasks)');
  const before = s.eng.metrics.waiters;
  const w = req("GET", `/wait?condition=${cond}&timeout=25000&include=state`, bob);
  await until(() => s.eng.metrics.waiters > before, { what: "bob to block" });
  s.clock.advance(TTL);
  const woke = await w;
  assert.equal(woke.json.triggered, true, woke.text);
  assert.ok(!JSON.stringify(woke.json).includes("s3cr3t"));
});

Deno.test("a lease in a scope the writer may not read refuses without telling who holds it", async () => {
  const { s, alice, bob, room, c } = await fixture();
  await using _ = s;
  // alice's own action writes her private scope; bob may invoke it but not read the scope
  await c.ok(room.id, alice, "_register_action", {
    id: "poke",
    scope: "alice",
    writes: [{ scope: "alice", key: "box", value: "${self}" }],
  });
  assert.equal(
    (await c.invoke(room.id, alice, "_set_state", { key: "box", value: "mine", lease: true })).status,
    200,
  );
  const r = await c.invoke(room.id, bob, "poke");
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error, "lease_held");
  assert.equal(r.json.holder, undefined, r.text);
  assert.equal(r.json.epoch, undefined);
  assert.ok(!r.text.includes('"holder"') && !r.text.includes("expires_at"), r.text);
});
