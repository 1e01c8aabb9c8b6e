/**
 * The TypeScript client (clients/typescript/mod.ts) against a live server: the README walk-through, the
 * three-agent one-call game, SSE resumption across a cut connection, idempotent retries after lost
 * answers, the wait loop, and typed errors.
 */
import assert from "node:assert/strict";
import { Client, type FeedEvent, SyncError } from "../../clients/typescript/mod.ts";
import { startServer } from "../_server.ts";
import { startProxy } from "./_proxy.ts";
import { GAME_START, MY_TURN, PLAY, PLAYERS, TAKE_TURN, until } from "./_fixture.ts";

/** The SyncError a call is refused with. */
async function refusal(p: Promise<unknown>): Promise<SyncError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SyncError, `expected a SyncError, got ${err}`);
    return err;
  }
  throw new Error("expected the call to be refused");
}

async function auditOf(admin: Client, room: string, action: string) {
  const poll = await admin.request("GET", `/rooms/${room}/poll`) as {
    audit: { action: string; ok: boolean }[];
  };
  return poll.audit.filter((a) => a.action === action);
}

async function shared(c: Client, room: string, key: string) {
  return ((await c.state(room, { scope: "_shared", key })) as { value: unknown }).value;
}

Deno.test("TypeScript client: the README walk-through", async (t) => {
  await using s = await startServer();
  const anon = new Client({ baseUrl: s.base });
  const room = await anon.createRoom({ meta: { title: "demo" } });
  assert.match(room.token, /^room_/);
  assert.match(room.view_token, /^view_/);
  assert.deepEqual(room.meta, { title: "demo" });
  const alice = await anon.join(room, "alice", { role: "player" });
  const bob = await anon.join(room, "bob", { role: "player", state: { plan: "castle early" } });
  assert.match(alice.token, /^as_/);
  const admin = anon.withToken(room.token);
  const A = anon.withToken(alice.token);
  const B = anon.withToken(bob.token);

  await t.step("the room token sets up state and registers take_turn", async () => {
    const r = await admin.invoke(room, "_batch_set_state", {
      writes: [{ scope: "_shared", key: "turn", value: 1 }, {
        scope: "_shared",
        key: "player",
        value: "alice",
      }],
    });
    assert.equal(r.ok, true);
    assert.equal(r.writes.length, 2);
    assert.equal(typeof r.cursor, "number");
    assert.equal((await admin.invoke(room, "_register_action", TAKE_TURN)).id, "take_turn");
  });

  await t.step("bob moving out of turn is a precondition_failed SyncError that says why", async () => {
    const e = await refusal(B.invoke(room, "take_turn", { move: "e5", next: "alice" }));
    assert.equal(e.status, 409);
    assert.equal(e.code, "precondition_failed");
    assert.equal(e.details.expression, "state._shared.player == self");
    assert.deepEqual(e.details.detail, { "state._shared.player": "alice" });
  });

  await t.step("bob waits after his cursor; alice's move wakes him", async () => {
    const { cursor } = await B.context(room, { only: "state" });
    const waiting = B.wait(room, MY_TURN, { after: cursor, include: "state" });
    const moved = await A.invoke(room, "take_turn", { move: "e4", next: "bob" });
    const w = await waiting;
    assert.equal(w.triggered, true);
    assert.ok(w.cursor >= moved.cursor);
    assert.deepEqual(w.state?.self, { plan: "castle early" });
    assert.equal(w.state?._shared.player, "bob");
  });

  await t.step("the one-call loop: bob moves and waits in one invoke", async () => {
    const bobsMove = B.invoke(room, "take_turn", { move: "e5", next: "alice" }, {
      wait: { condition: MY_TURN, timeout: 25000 },
    });
    assert.equal((await A.wait(room, MY_TURN)).triggered, true); // level-triggered: at once once it holds
    await A.invoke(room, "take_turn", { move: "Nf3", next: "bob" });
    const r = await bobsMove;
    assert.equal(r.wait?.triggered, true);
    const lastMove = r.wait?.changes?.find((c) => c.key === "last_move");
    assert.deepEqual(lastMove?.value, { by: "alice", move: "Nf3" });
  });

  await t.step("alice messages bob; his context counts it unread", async () => {
    await A.invoke(room, "_send_message", { body: "your move", to: "bob" });
    const ctx = await B.context(room, { only: "state,messages", compact: true });
    assert.equal(ctx.state?._shared.turn, 4);
    assert.equal(ctx.messages?.unread, 1);
    assert.equal(ctx.messages?.directed_unread, 1);
    assert.equal(ctx.messages?.recent[0].body, "your move");
    assert.equal(ctx.self, "bob");
  });

  await t.step("privacy: alice cannot read bob's scope, the view token reads but cannot write", async () => {
    const e = await refusal(A.state(room, { scope: "bob" }));
    assert.equal(e.status, 403);
    assert.equal(e.code, "scope_denied");
    assert.equal(e.details.scope, "bob");
    assert.ok(!JSON.stringify(e).includes("castle"));
    const view = anon.withToken(room.view_token);
    assert.equal(
      ((await view.state(room, { scope: "bob", key: "plan" })) as { value: string }).value,
      "castle early",
    );
    const ro = await refusal(view.invoke(room, "_set_state", { key: "x", value: 1 }));
    assert.equal(ro.status, 403);
    assert.equal(ro.code, "read_only_token");
  });
});

Deno.test("TypeScript client: three agents play the one-call game, each move exactly once and in order", async () => {
  await using s = await startServer();
  const anon = new Client({ baseUrl: s.base });
  const room = await anon.createRoom({ id: "game" });
  const admin = anon.withToken(room.token);
  await admin.invoke(room, "_batch_set_state", GAME_START);
  await admin.invoke(room, "_register_action", PLAY);
  const agents = await Promise.all(PLAYERS.map((id) => anon.join(room, id)));
  const TURNS = 4;

  const play = async (c: Client, id: string) => {
    // first sync: level-triggered, answers at once when it is already my turn
    await c.waitUntil(room, MY_TURN);
    for (let n = 0; n < TURNS; n++) {
      const last = n === TURNS - 1;
      const res = await c.invoke(room, "play", { move: `${id}-${n}` }, last ? {} : { wait: MY_TURN });
      if (res.wait && !res.wait.triggered) await c.waitUntil(room, MY_TURN);
    }
  };
  await Promise.all(agents.map((a) => play(anon.withToken(a.token), a.id)));

  const ctx = await admin.context(room, { only: "state,messages", messages_limit: 200 });
  const moves = ctx.messages!.recent.filter((m) => m.kind === "move");
  const expected = Array.from({ length: TURNS * 3 }, (_, i) => `${PLAYERS[i % 3]}-${Math.floor(i / 3)}`);
  assert.deepEqual(moves.map((m) => m.body), expected, "every move once, in rotation");
  assert.deepEqual(moves.map((m) => m.from), expected.map((m) => m.split("-")[0]));
  assert.equal(ctx.state?._shared.round, TURNS * 3);
  const audit = await auditOf(admin, room.id, "play");
  assert.equal(audit.length, TURNS * 3, "no refused or repeated play");
  assert.ok(audit.every((a) => a.ok));
});

Deno.test("TypeScript client: events resume after a cut connection with Last-Event-ID, nothing lost or repeated", async (t) => {
  await using s = await startServer();
  await using proxy = startProxy(s.base);
  const direct = new Client({ baseUrl: s.base });
  const room = await direct.createRoom({ id: "feed" });
  const admin = direct.withToken(room.token);
  const viaProxy = new Client({ baseUrl: proxy.base, token: room.token });
  const set = async (i: number) => (await admin.invoke(room, "_set_state", { key: "k", value: i })).cursor;

  await t.step("from a cursor: three events, a cut, three written during the gap, then more", async () => {
    const start = (await admin.context(room, { only: "state" })).cursor;
    const ac = new AbortController();
    const feed = viaProxy.events(room, { after: start, signal: ac.signal, reconnectDelayMs: 20 });
    const cursors: number[] = [];
    const seen: FeedEvent[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) seen.push((await feed.next()).value as FeedEvent);
    };
    try {
      for (let i = 1; i <= 3; i++) cursors.push(await set(i));
      await take(3);
      const before = proxy.accepted;
      proxy.cutAll();
      for (let i = 4; i <= 6; i++) cursors.push(await set(i));
      await take(3);
      cursors.push(await set(7));
      await take(1);
      assert.ok(proxy.accepted > before, "the feed reconnected");
      const resumedWith = /last-event-id: (\d+)/i.exec(proxy.sent()[proxy.sent().length - 1]);
      assert.equal(
        Number(resumedWith?.[1]),
        cursors[2],
        "the new connection resumed after the last event seen",
      );
    } finally {
      ac.abort();
      await feed.return();
    }
    assert.ok(seen.every((e) => e.type === "change"));
    assert.deepEqual(seen.map((e) => e.cursor), cursors, "every commit exactly once, in order");
    const versions = seen.map((e) => e.type === "change" ? e.changes[0].version : 0);
    assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7]);
  });

  await t.step(
    "from now: a cut before the first event still resumes from the cursor at connect",
    async () => {
      const listeners = async () => (await s.eng.rooms.get(room.id)).rt.listeners.size;
      await until(async () => await listeners() === 0, "the previous feed to be gone");
      const ac = new AbortController();
      const feed = viaProxy.events(room, { signal: ac.signal, reconnectDelayMs: 20 });
      try {
        const first = feed.next();
        const n = proxy.accepted;
        await until(
          () => proxy.accepted > n && proxy.received()[n]?.includes("connected to"),
          "the feed to open",
        );
        proxy.cutAll();
        const c = await set(8);
        const e = (await first).value as FeedEvent;
        assert.equal(e.cursor, c);
      } finally {
        ac.abort();
        await feed.return();
      }
    },
  );
});

Deno.test("TypeScript client: a retry after a lost answer applies once (one increment, one audit row)", async (t) => {
  await using s = await startServer();
  await using proxy = startProxy(s.base);
  const direct = new Client({ baseUrl: s.base });
  const room = await direct.createRoom({ id: "retry" });
  const admin = direct.withToken(room.token);
  await admin.invoke(room, "_register_action", {
    id: "bump",
    writes: [{ scope: "_shared", key: "counter", increment: true }],
  });
  const alice = await direct.join(room, "alice");
  const viaProxy = new Client({ baseUrl: proxy.base, token: alice.token, retryDelayMs: 10 });

  await t.step("a plain invoke", async () => {
    proxy.dropAnswer("/actions/bump/invoke");
    const r = await viaProxy.invoke(room, "bump");
    assert.equal(r.ok, true);
    assert.equal(r.writes[0].value, 1);
    assert.equal(await shared(admin, room.id, "counter"), 1);
    assert.equal((await auditOf(admin, room.id, "bump")).length, 1);
    const keys = proxy.sent().flatMap((t) => [...t.matchAll(/idempotency-key: (\S+)/gi)].map((m) => m[1]));
    assert.equal(keys.length, 2, "sent twice");
    assert.equal(keys[0], keys[1], "with the same Idempotency-Key");
  });

  await t.step("an invoke-and-wait whose answer was lost still wakes, and applies once", async () => {
    // The answer is lost after the server ran the call, as above, but told to the client as the network
    // error it is: Deno's fetch re-sends a request itself when a pooled connection dies, which would hide
    // the client's own retry from this test.
    let calls = 0;
    const losing = new Client({
      baseUrl: s.base,
      token: alice.token,
      retryDelayMs: 10,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (calls++ > 0) return res;
        await res.body?.cancel();
        throw new TypeError("connection reset by peer");
      },
    });
    const waiting = losing.invoke(room, "bump", {}, {
      wait: { condition: "state._shared.counter >= 3", timeout: 10_000 },
    });
    await until(async () => await shared(admin, room.id, "counter") === 2, "alice's bump to commit");
    await admin.invoke(room, "bump");
    const r = await waiting;
    assert.equal(r.writes[0].value, 2, "the first answer, replayed");
    assert.equal(r.wait?.triggered, true, "the wake for the commit after alice's");
    assert.equal(await shared(admin, room.id, "counter"), 3);
    assert.equal((await auditOf(admin, room.id, "bump")).length, 3);
  });

  await t.step("a 502 from a gateway is retried with the same key", async () => {
    const keys: string[] = [];
    let calls = 0;
    const flaky = new Client({
      baseUrl: s.base,
      token: alice.token,
      retryDelayMs: 1,
      fetch: (input, init) => {
        keys.push(new Headers(init?.headers).get("idempotency-key") ?? "");
        if (calls++ === 0) return Promise.resolve(new Response("<html>bad gateway</html>", { status: 502 }));
        return fetch(input, init);
      },
    });
    const r = await flaky.invoke(room, "bump");
    assert.equal(r.writes[0].value, 4);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
    // without a key (idempotencyKey: false) nothing makes a repeat safe: the 502 is not retried
    calls = 0;
    keys.length = 0;
    const once = await refusal(flaky.invoke(room, "bump", {}, { idempotencyKey: false }));
    assert.equal(once.status, 502);
    assert.deepEqual(keys, [""], "sent once, with no Idempotency-Key");
    // and with the retries used up, the gateway's page is still a typed error
    const down = new Client({
      baseUrl: s.base,
      retries: 1,
      retryDelayMs: 1,
      fetch: () => Promise.resolve(new Response("<html>bad gateway</html>", { status: 502 })),
    });
    const e = await refusal(down.invoke(room, "bump"));
    assert.equal(e.status, 502);
    assert.equal(e.code, "http_502");
  });
});

Deno.test("TypeScript client: waitLoop re-issues after timeouts and carries the cursor", async () => {
  await using s = await startServer();
  const direct = new Client({ baseUrl: s.base });
  const room = await direct.createRoom({ id: "loop" });
  const admin = direct.withToken(room.token);
  const bob = await direct.join(room, "bob");
  const waits: URL[] = [];
  const B = new Client({
    baseUrl: s.base,
    token: bob.token,
    fetch: (input, init) => {
      waits.push(new URL(String(input)));
      return fetch(input, init);
    },
  });
  const ac = new AbortController();
  const loop = B.waitLoop(room, "has(state._shared.n) && state._shared.n > 0", {
    timeout: 50,
    include: "state",
    signal: ac.signal,
  });
  const it = loop[Symbol.asyncIterator]();
  try {
    const first = it.next();
    await until(() => waits.length >= 2, "a timed-out wait to be issued again");
    const c1 = (await admin.invoke(room, "_set_state", { key: "n", value: 1 })).cursor;
    const w1 = (await first).value!;
    assert.equal(w1.triggered, true);
    assert.equal(w1.state?._shared.n, 1);
    assert.equal(loop.cursor, w1.cursor);
    assert.ok(w1.cursor >= c1);

    const second = it.next();
    const c2 = (await admin.invoke(room, "_set_state", { key: "n", value: 2 })).cursor;
    const w2 = (await second).value!;
    assert.equal(w2.state?._shared.n, 2, "the next wake is for a later change, not the same state again");
    assert.ok(w2.cursor >= c2);
    const afters = waits.map((u) => u.searchParams.get("after"));
    assert.equal(afters[0], null, "the first wait is level-triggered");
    assert.ok(afters.includes(String(w1.cursor)), "later waits go on from the last wake");
  } finally {
    ac.abort();
    await it.return?.();
  }
});

Deno.test("TypeScript client: every failure is a SyncError with code, status, message and details", async () => {
  await using s = await startServer();
  const anon = new Client({ baseUrl: s.base });
  const room = await anon.createRoom({ id: "errors" });
  const admin = anon.withToken(room.token);

  const missing = await refusal(admin.context("no-such-room"));
  assert.equal(missing.status, 404);
  assert.equal(missing.code, "room_not_found");
  assert.ok(missing instanceof Error);
  assert.equal(missing.name, "SyncError");
  assert.equal(typeof missing.message, "string");

  const badToken = await refusal(anon.withToken("as_nope").context(room));
  assert.equal(badToken.status, 401);
  assert.equal(badToken.code, "invalid_token");

  const cel = await refusal(admin.wait(room, "state._shared.(", { timeout: 10 }));
  assert.equal(cel.status, 400);
  assert.equal(cel.code, "invalid_cel");
  assert.equal(cel.details.expression, "state._shared.(");

  const exists = await refusal(anon.createRoom({ id: "errors" }));
  assert.equal(exists.status, 409);
  assert.equal(exists.code, "room_exists");

  const params = await refusal(admin.invoke(room, "_set_state", { nope: 1 }));
  assert.equal(params.status, 400);

  // nothing listens on a port we just closed: no answer is status 0, network_error, with the cause
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const nobody = new Client({ baseUrl: `http://127.0.0.1:${port}`, retries: 1, retryDelayMs: 1 });
  const net = await refusal(nobody.context("x"));
  assert.equal(net.status, 0);
  assert.equal(net.code, "network_error");
  assert.ok(net.cause instanceof Error);
});

Deno.test("TypeScript client: events parses frames split anywhere and resumes after the last id it saw", async () => {
  const frames = "retry: 5\r\n: connected to r at cursor 3\r\n\r\n" +
    'id: 4\r\nevent: change\r\ndata: {"cursor":4,"changes":[],"messages":[{"body":"hé"}],"audit":null}\r\n\r\n' +
    ': heartbeat\n\nid: 5\nevent: change\ndata: {"cursor":5,\ndata: "changes":[{"scope":"_shared","key":"k",' +
    '"version":2}],"messages":[],"audit":null}\n\n';
  const bytes = new TextEncoder().encode(frames);
  // cut inside a CRLF and inside the two bytes of "é"
  const cuts = [
    frames.indexOf("\r\n\r\n") + 3,
    new TextEncoder().encode(frames.slice(0, frames.indexOf("é"))).length + 1,
  ];
  const chunks = [bytes.slice(0, cuts[0]), bytes.slice(cuts[0], cuts[1]), bytes.slice(cuts[1])];
  const asked: (string | null)[] = [];
  const c = new Client({
    baseUrl: "http://feed.invalid",
    token: "as_x",
    fetch: (_input, init) => {
      asked.push(new Headers(init?.headers).get("last-event-id"));
      if (asked.length === 1) {
        const body = new ReadableStream<Uint8Array>({
          start(ctrl) {
            for (const ch of chunks) ctrl.enqueue(ch);
            ctrl.close(); // the connection drops after two events
          },
        });
        return Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }));
      }
      const refusal = { error: "invalid_token", message: "the token is not valid for this room" };
      return Promise.resolve(new Response(JSON.stringify(refusal), { status: 401 }));
    },
  });
  const seen: FeedEvent[] = [];
  const e = await refusal((async () => {
    for await (const ev of c.events("r")) seen.push(ev);
  })());
  assert.deepEqual(seen.map((x) => x.cursor), [4, 5]);
  assert.equal((seen[0] as { messages: { body: string }[] }).messages[0].body, "hé");
  assert.deepEqual(seen[1].type === "change" && seen[1].changes, [{
    scope: "_shared",
    key: "k",
    version: 2,
  }]);
  assert.deepEqual(asked, [null, "5"], "it reconnected after the last id it saw");
  assert.equal(e.code, "invalid_token", "a refusal on reconnect ends the feed with a SyncError");
});

Deno.test("TypeScript client: keepAlive holds the agent's lease while work runs; updateRoom sets the window", async () => {
  await using s = await startServer();
  const anon = new Client({ baseUrl: s.base });
  const room = await anon.createRoom({ liveness_ms: 1000 });
  const admin = anon.withToken(room.token);
  assert.equal((await admin.updateRoom(room, { liveness_ms: 800 })).liveness_ms, 800);
  const worker = anon.withToken((await anon.join(room, "worker")).token);
  const other = anon.withToken((await anon.join(room, "other")).token);
  for (const a of ["worker", "other"]) await admin.updateAgent(room, a, { grants: ["_jobs"] });
  const took = await worker.invoke(room, "_set_state", {
    scope: "_jobs",
    key: "j",
    value: 1,
    lease: { ttl_ms: 600 },
  });
  assert.equal(took.writes[0].lease?.holder, "worker");
  const claim = { scope: "_jobs", key: "j", value: 2, lease: true };
  // three ttls of "thinking" without a call of the worker's own: the open wait keeps the lease
  const refusals = await worker.keepAlive(room, async () => {
    const codes: string[] = [];
    const end = performance.now() + 2000;
    while (performance.now() < end) {
      codes.push((await refusal(other.invoke(room, "_set_state", claim))).code);
      await new Promise((r) => setTimeout(r, 200));
    }
    return codes;
  });
  assert.ok(refusals.length > 0 && refusals.every((c) => c === "lease_held"), refusals.join());
  let epoch = 0;
  await until(async () => {
    try {
      epoch = (await other.invoke(room, "_set_state", claim)).writes[0].lease?.epoch ?? 0;
      return true;
    } catch {
      return false;
    }
  }, "the lease to lapse once the work is done");
  assert.equal(epoch, 2);
});
