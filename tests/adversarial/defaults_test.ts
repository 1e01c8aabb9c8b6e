/**
 * Issue 12, class 7 — safe defaults: a server started with no settings listens on loopback only; two
 * processes on one database with default settings see each other's writes and token rotations; a
 * cross-origin browser request never mutates (403 forbidden_origin, nothing created) unless its origin is
 * allowed; a loopback-bound server refuses foreign Host headers (DNS rebinding); /debug/waiters is gone;
 * HEAD changes nothing.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  client,
  deadline,
  fcOpts,
  http,
  metric,
  ok,
  rawRequest,
  refused,
  type Res,
  spawnPlain,
  spawnServer,
  startServer,
  tempDir,
  until,
} from "./_harness.ts";

const EVIL = "http://evil.example";

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;
}

async function reachable(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("a server started without HOST listens on loopback only", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnPlain(tmp.db);
  assert.match(srv.host, /^(127\.0\.0\.1|localhost|\[::1\])$/, `listening on ${srv.host}`);
  assert.equal(await reachable("127.0.0.1", srv.port), true);
  const ext = externalAddress();
  if (ext) assert.equal(await reachable(ext, srv.port), false, `reachable on ${ext}:${srv.port}`);
});

Deno.test("HOST=0.0.0.0 still serves remote agents", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnPlain(tmp.db, { HOST: "0.0.0.0" });
  const ext = externalAddress();
  if (ext) assert.equal(await reachable(ext, srv.port), true);
  assert.equal((await http(srv.base, "GET", "/healthz")).status, 200);
});

Deno.test("two processes on one database with default settings see each other's writes, rotations and wake-ups", async () => {
  await using tmp = await tempDir();
  await using a = await spawnServer(tmp.db);
  await using b = await spawnServer(tmp.db);
  const A = client(a.base), B = client(b.base);
  const room = await A.createRoom("pair");
  const alice = await A.join(room.id, "alice", { state: { hp: 1 } });
  // B holds the room in memory before A changes it
  assert.equal((await B.context(room.id, alice, "?only=state")).state.self.hp, 1);
  await A.ok(room.id, alice, "_set_state", { key: "hp", value: 2 });
  assert.equal(
    (await B.context(room.id, alice, "?only=state")).state.self.hp,
    2,
    "B reads A's acknowledged write",
  );
  const rotated = await http(a.base, "POST", `/rooms/pair/agents`, { token: alice, body: { id: "alice" } });
  assert.equal(rotated.status, 201);
  refused(await http(b.base, "GET", `/rooms/pair/context`, { token: alice }), 401, "invalid_token");
  ok(await http(b.base, "GET", `/rooms/pair/context`, { token: rotated.json.token }));
  const cond = encodeURIComponent("state._shared.go == true");
  const wait = http(b.base, "GET", `/rooms/pair/wait?condition=${cond}&timeout=8000`, { token: room.token });
  await until(async () => (await metric(b.base, "agent_sync_waiters")) >= 1, 10_000, "waiter on B");
  await A.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "go", value: true });
  const w = await deadline(wait, 15_000, "wait on B");
  assert.equal(w.json.triggered, true, `a /wait on B wakes on a write through A: ${w.text}`);
});

// ── cross-origin requests ───────────────────────────────────────────────────────────────────────

async function originRoom(base: string) {
  const c = client(base);
  const room = await c.createRoom("site");
  const alice = await c.join(room.id, "alice");
  return { c, room, alice };
}

/** Every mutation a page on another site could send with a simple (no preflight) text/plain request. */
function mutations(
  room: { id: string; token: string },
  alice: string,
): [string, string, string, string | undefined, string][] {
  const r = room.id;
  return [
    ["create room", "POST", "/rooms", undefined, `{"id":"evil-room"}`],
    ["join", "POST", `/rooms/${r}/agents`, undefined, `{"id":"mallory"}`],
    [
      "invoke",
      "POST",
      `/rooms/${r}/actions/_set_state/invoke`,
      alice,
      `{"params":{"key":"pwned","value":1}}`,
    ],
    ["PUT /state", "PUT", `/rooms/${r}/state`, alice, `{"key":"pwned","value":1}`],
    ["POST /messages", "POST", `/rooms/${r}/messages`, alice, `{"body":"pwned"}`],
    ["PATCH agent", "PATCH", `/rooms/${r}/agents/alice`, room.token, `{"role":"pwned"}`],
    ["rotate view token", "POST", `/rooms/${r}/rotate-view-token`, room.token, ""],
    ["import", "POST", "/rooms/import", undefined, `{"id":"evil-import"}`],
    [
      "mcp",
      "POST",
      "/mcp",
      undefined,
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_room","arguments":{"id":"evil-mcp"}}}`,
    ],
    ["delete room", "DELETE", `/rooms/${r}`, room.token, ""],
  ];
}

async function untouched(base: string, room: { id: string; token: string }, alice: string) {
  for (const id of ["evil-room", "evil-import", "evil-mcp"]) {
    assert.equal((await http(base, "GET", `/rooms/${id}`)).status, 404, id);
  }
  const agents = (await http(base, "GET", `/rooms/${room.id}/agents`, { token: room.token })).json as {
    id: string;
    role: string;
  }[];
  assert.deepEqual(agents.map((a) => [a.id, a.role]), [["alice", "agent"]]);
  const st = (await http(base, "GET", `/rooms/${room.id}/state`, { token: room.token })).json as {
    key: string;
  }[];
  assert.deepEqual(st.filter((e) => e.key === "pwned"), []);
  const msgs = (await http(base, "GET", `/rooms/${room.id}/messages`, { token: room.token }))
    .json as unknown[];
  assert.deepEqual(msgs, []);
  ok(await http(base, "GET", `/rooms/${room.id}/context`, { token: alice }), "alice's token still works");
}

Deno.test("a cross-origin text/plain mutation is 403 forbidden_origin and changes nothing, on every mutating route", async () => {
  await using s = await startServer();
  const { room, alice } = await originRoom(s.base);
  const wrong: string[] = [];
  for (const [what, method, path, token, raw] of mutations(room, alice)) {
    const foreign: Record<string, string>[] = [{ origin: EVIL }, { origin: "null" }, {
      "sec-fetch-site": "cross-site",
    }];
    for (const headers of foreign) {
      const r = await http(s.base, method, path, {
        token,
        raw,
        headers: {
          "content-type": "text/plain;charset=UTF-8",
          accept: "application/json, text/event-stream",
          ...headers,
        },
      });
      if (r.status !== 403 || r.json?.error !== "forbidden_origin") {
        wrong.push(`${what} ${JSON.stringify(headers)}: ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  await untouched(s.base, room, alice);
});

Deno.test("any foreign origin is refused (property over routes and origins)", async () => {
  await using s = await startServer();
  const { room, alice } = await originRoom(s.base);
  const host = fc.array(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-"), {
    minLength: 1,
    maxLength: 12,
  })
    .map((a) => a.join(""));
  const origin = fc.tuple(
    fc.constantFrom("http", "https"),
    host,
    fc.constantFrom(".example", ".com", ".localhost.evil.net"),
    fc.option(fc.integer({ min: 1, max: 65535 })),
  )
    .map(([scheme, h, tld, port]) => `${scheme}://${h}${tld}${port ? `:${port}` : ""}`);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...mutations(room, alice)),
      origin,
      async ([what, method, path, token, raw], o) => {
        const r = await http(s.base, method, path, {
          token,
          raw,
          headers: { origin: o, "content-type": "text/plain" },
        });
        assert.equal(r.status, 403, `${what} from ${o}: ${r.text.slice(0, 200)}`);
        assert.equal(r.json?.error, "forbidden_origin");
      },
    ),
    fcOpts(30),
  );
  await untouched(s.base, room, alice);
});

Deno.test("same-origin and Origin-less requests work; SYNC_ALLOWED_ORIGINS admits a listed origin only", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, {
    SYNC_ALLOWED_ORIGINS: "http://good.example,https://tools.example:8443",
  });
  const { c, room, alice } = await originRoom(srv.base);
  const post = (headers: Record<string, string>, key: string): Promise<Res> =>
    http(srv.base, "POST", `/rooms/site/actions/_set_state/invoke`, {
      token: alice,
      raw: JSON.stringify({ params: { key, value: 1 } }),
      headers: { "content-type": "text/plain", ...headers },
    });
  ok(await post({}, "no_origin"), "no Origin header");
  ok(await post({ origin: srv.base }, "same_origin"), "the server's own origin");
  ok(await post({ "sec-fetch-site": "same-origin" }, "fetch_same"), "Sec-Fetch-Site: same-origin");
  ok(await post({ origin: "http://good.example" }, "allowed"), "a listed origin");
  ok(await post({ origin: "https://tools.example:8443" }, "allowed2"), "a listed origin with a port");
  refused(await post({ origin: EVIL }, "evil"), 403, "forbidden_origin");
  refused(await post({ origin: "http://good.example.evil.example" }, "evil2"), 403, "forbidden_origin");
  refused(await post({ origin: "https://good.example" }, "evil3"), 403, "forbidden_origin");
  const keys = ((await http(srv.base, "GET", `/rooms/site/state?scope=alice`, { token: alice })).json as {
    key: string;
  }[])
    .map((e) => e.key).sort();
  assert.deepEqual(keys, ["allowed", "allowed2", "fetch_same", "no_origin", "same_origin"]);
  void c;
  void room;
});

// ── DNS rebinding ───────────────────────────────────────────────────────────────────────────────

Deno.test("a loopback-bound server refuses a foreign Host header (403 forbidden_origin); loopback names and SYNC_ALLOWED_HOSTS pass", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { SYNC_ALLOWED_HOSTS: "sync.internal" });
  const port = new URL(srv.base).port;
  const wrong: string[] = [];
  for (
    const host of [
      "evil.example",
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `localhost.evil.example:${port}`,
    ]
  ) {
    for (
      const [method, path, body] of [["GET", "/rooms", undefined], ["POST", "/rooms", "{}"], [
        "GET",
        "/healthz",
        undefined,
      ]] as const
    ) {
      const r = await rawRequest(srv.base, method, path, { host, body });
      if (r.status !== 403 || r.json?.error !== "forbidden_origin") {
        wrong.push(`${method} ${path} Host ${host}: ${r.status} ${r.body.slice(0, 100)}`);
      }
    }
  }
  for (
    const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      "localhost",
      "sync.internal",
      `sync.internal:${port}`,
    ]
  ) {
    const r = await rawRequest(srv.base, "GET", "/rooms", { host });
    if (r.status !== 200) wrong.push(`Host ${host} refused: ${r.status} ${r.body.slice(0, 100)}`);
  }
  assert.deepEqual(wrong, []);
});

Deno.test("a server bound to all interfaces does not check Host (remote agents use its address)", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { HOST: "0.0.0.0" });
  const r = await rawRequest(srv.base, "GET", "/rooms", { host: "sync.example.org" });
  assert.equal(r.status, 200, r.body);
});

// ── leftovers ───────────────────────────────────────────────────────────────────────────────────

Deno.test("/debug/waiters is gone (404); the waiter gauge is in /metrics", async () => {
  await using s = await startServer();
  refused(await http(s.base, "GET", "/debug/waiters"), 404, "not_found");
  assert.match((await http(s.base, "GET", "/metrics")).text, /^agent_sync_waiters \d+$/m);
});

Deno.test("HEAD changes nothing: HEAD /context marks no message read and does not change presence", async () => {
  await using s = await startServer({ fakeClock: true });
  const c = client(s.base);
  const room = await c.createRoom("head");
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, bob, "_heartbeat", { status: "idle" });
  await c.ok(room.id, alice, "_send_message", { body: "for bob", to: "bob" });
  type Presence = { id: string; status: string; last_heartbeat: string };
  const bobNow = async () =>
    ((await http(s.base, "GET", `/rooms/head/agents`, { token: room.token })).json as Presence[])
      .find((a) => a.id === "bob");
  const before = await bobNow();
  s.clock.advance(5000); // a call now would move bob's last_heartbeat
  for (const path of ["/rooms/head/context", "/rooms/head/context?only=messages", "/rooms/head/poll"]) {
    const r = await fetch(s.base + path, { method: "HEAD", headers: { authorization: `Bearer ${bob}` } });
    await r.body?.cancel();
    assert.ok(r.status < 500, `HEAD ${path}: ${r.status}`);
  }
  assert.deepEqual(await bobNow(), before, "HEAD left bob's presence alone");
  const ctx = await c.context(room.id, bob, "?only=messages");
  assert.equal(ctx.messages.unread, 1, "HEAD marked nothing read");
  assert.equal(ctx.messages.directed_unread, 1);
});

// ── variants ────────────────────────────────────────────────────────────────────────────────────

Deno.test("HEAD /wait answers at once without showing the agent waiting; HEAD /events opens no feed", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("head2");
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, bob, "_heartbeat", { status: "busy" });
  const cond = encodeURIComponent("state._shared.never == true");
  const head = async (path: string) => {
    const r = await fetch(s.base + path, { method: "HEAD", headers: { authorization: `Bearer ${bob}` } });
    await r.body?.cancel();
    return r;
  };
  const w = await deadline(head(`/rooms/head2/wait?condition=${cond}&timeout=20000`), 5000, "HEAD /wait");
  assert.equal(w.status, 200);
  const ev = await deadline(head(`/rooms/head2/events`), 5000, "HEAD /events");
  assert.equal(ev.status, 200);
  assert.match(ev.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.equal((await head(`/rooms/head2/messages`)).status, 200);
  assert.equal(s.eng.metrics.waiters, 0, "no waiter was registered");
  const r = await s.eng.rooms.get(room.id);
  assert.equal(r.rt.listeners.size, 0, "no waiter or feed listens to the room");
  const agents = (await http(s.base, "GET", `/rooms/head2/agents`, { token: room.token })).json as {
    id: string;
    status: string;
    waiting_on: string | null;
  }[];
  const me = agents.find((a) => a.id === "bob");
  assert.equal(me?.status, "busy", "bob never showed as waiting");
  assert.equal(me?.waiting_on, null);
  // a HEAD with an unknown token answers as the GET would
  const bad = await fetch(s.base + "/rooms/head2/context", {
    method: "HEAD",
    headers: { authorization: "Bearer as_nope" },
  });
  await bad.body?.cancel();
  assert.equal(bad.status, 401);
});

Deno.test("a page of a sibling port (same-site, foreign Origin) cannot mutate; reads and OPTIONS are not refused", async () => {
  await using s = await startServer();
  const { room, alice } = await originRoom(s.base);
  const sibling = "http://127.0.0.1:1"; // same site as the server, another origin
  const r = await http(s.base, "POST", `/rooms/site/actions/_set_state/invoke`, {
    token: alice,
    raw: JSON.stringify({ params: { key: "pwned", value: 1 } }),
    headers: { "content-type": "text/plain", origin: sibling, "sec-fetch-site": "same-site" },
  });
  refused(r, 403, "forbidden_origin");
  ok(
    await http(s.base, "GET", `/rooms/site/context`, { token: alice, headers: { origin: EVIL } }),
    "a cross-origin GET is not refused (no CORS headers: the page cannot read it)",
  );
  const pre = await http(s.base, "OPTIONS", `/rooms/site/agents`, { headers: { origin: EVIL } });
  assert.notEqual(pre.json?.error, "forbidden_origin");
  assert.equal(pre.headers.get("access-control-allow-origin"), null, "no CORS grant");
  await untouched(s.base, room, alice);
});

Deno.test("a second process on the database waits to be seen before it listens; SYNC_PEER_POLL_MS=0 does not", async () => {
  await using tmp = await tempDir();
  await using a = await spawnServer(tmp.db);
  await using b = await spawnServer(tmp.db);
  assert.doesNotMatch(a.output(), /waiting for/, a.output());
  assert.match(b.output(), /waiting for 1 other process on this database to see this one/, b.output());
  // a room created on A after B started is found and used on B at once
  const A = client(a.base), B = client(b.base);
  const room = await A.createRoom("late");
  const bob = await B.join(room.id, "bob");
  ok(await A.invoke(room.id, bob, "_set_state", { key: "k", value: 1 }));
  assert.equal((await B.context(room.id, bob, "?only=state")).state.self.k, 1);
  await using tmp2 = await tempDir();
  await using c = await spawnServer(tmp2.db, { SYNC_PEER_POLL_MS: "0" });
  await using d = await spawnServer(tmp2.db, { SYNC_PEER_POLL_MS: "0" });
  assert.doesNotMatch(d.output(), /waiting for/, "the single-process promise does not look for others");
  void c;
});

Deno.test("a process restarted after a SIGKILL does not wait for its dead predecessor's row", async () => {
  await using tmp = await tempDir();
  const a = await spawnServer(tmp.db);
  await client(a.base).createRoom("crashed");
  await a.kill("SIGKILL");
  await using b = await spawnServer(tmp.db);
  assert.doesNotMatch(b.output(), /waiting for/, b.output());
  assert.equal((await http(b.base, "GET", "/rooms/crashed")).status, 200);
});
