/**
 * Issue 12, class 5 — every byte a caller can make the server hold is bounded: bodies counted while
 * streaming (a chunked 160 MiB import is refused without being read whole: the spawned server's resident
 * memory stays small), messages and definitions and agents' meta count against the room's bytes, message,
 * agent and waiter counts are quotas, meta and definitions have a size limit, and a half-sent body is
 * answered 408 and its connection released.
 */
import assert from "node:assert/strict";
import {
  chunk,
  chunkedFlood,
  client,
  connect,
  http,
  mcpCall,
  memoryMiB,
  metric,
  MiB,
  ok,
  readResponse,
  refused,
  requestHead,
  type Res,
  send,
  snapshot,
  snapshotMessages,
  spawnServer,
  startServer,
  tempDir,
  until,
} from "./_harness.ts";

Deno.test("a chunked 160 MiB body is refused 413 while streaming: import, /mcp, invoke — resident memory stays small", async () => {
  const problems: string[] = [];
  for (
    const [what, path, auth] of [
      ["POST /rooms/import", "/rooms/import", false],
      ["POST /mcp", "/mcp", true],
      ["invoke", "/rooms/flood/actions/_set_state/invoke", true],
    ] as const
  ) {
    // a fresh process per door: VmHWM is the process's peak, so each door is measured on its own
    await using tmp = await tempDir();
    await using srv = await spawnServer(tmp.db);
    const c = client(srv.base);
    const room = await c.createRoom("flood");
    for (let i = 0; i < 20; i++) await c.ok(room.id, room.token, "_set_state", { key: `warm${i}`, value: i });
    const headers: Record<string, string> = auth ? { authorization: `Bearer ${room.token}` } : {};
    if (path === "/mcp") headers.accept = "application/json, text/event-stream";
    const before = await memoryMiB(srv.pid);
    const { res, sentWhenAnswered } = await chunkedFlood(srv.base, path, 160 * MiB, headers);
    const after = await memoryMiB(srv.pid);
    const growth = after.peak - before.rss;
    let code: unknown;
    try {
      code = JSON.parse(res.body).error;
    } catch { /* not JSON */ }
    if (res.status !== 413 || code !== "payload_too_large") {
      problems.push(`${what}: ${res.status} ${res.body.slice(0, 160)}`);
    }
    if (growth >= 64) {
      problems.push(
        `${what}: peak resident memory grew ${growth.toFixed(0)} MiB (answered after ${
          sentWhenAnswered / MiB
        } MiB)`,
      );
    }
    assert.equal((await http(srv.base, "GET", "/healthz")).status, 200, "the server is still fine");
  }
  assert.deepEqual(problems, []);
});

Deno.test("a declared length over the limit is refused at once (413), for import and other bodies", async () => {
  await using s = await startServer();
  for (const [path, length] of [["/rooms/import", 33 * MiB], ["/rooms", 2 * MiB]] as const) {
    const conn = await connect(s.base);
    try {
      await send(conn, requestHead(s.base, "POST", path, { length, headers: { connection: "close" } }) + "{");
      const r = await readResponse(conn, 10_000);
      assert.equal(r.status, 413, `${path}: ${r.body}`);
      assert.equal(JSON.parse(r.body).error, "payload_too_large");
    } finally {
      conn.close();
    }
  }
});

Deno.test("messages count against the room's byte quota (429 quota_exceeded room_bytes) by every way of sending", async () => {
  await using s = await startServer({ limits: { roomMaxBytes: 200_000 } });
  const c = client(s.base);
  const room = await c.createRoom("msgbytes");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "shout",
    params: { body: { type: "string" } },
    writes: [{ scope: "_messages", append: true, value: { body: "${params.body}" } }],
  });
  const big = "m".repeat(45_000);
  const senders: [string, () => Promise<Res>][] = [
    ["_send_message", () => c.invoke(room.id, alice, "_send_message", { body: big })],
    [
      "POST /messages",
      () => http(s.base, "POST", `/rooms/msgbytes/messages`, { token: alice, body: { body: big } }),
    ],
    ["custom append", () => c.invoke(room.id, alice, "shout", { body: big })],
    [
      "_set_state _messages",
      () =>
        c.invoke(room.id, room.token, "_set_state", {
          scope: "_messages",
          append: true,
          value: { body: big },
        }),
    ],
  ];
  for (const [what, go] of senders) ok(await go(), what); // 4 × 45 KB: under 200 KB
  for (const [what, go] of senders) {
    const r = await go();
    assert.equal(r.status, 429, `${what}: messages must count against room_bytes: ${r.text.slice(0, 200)}`);
    assert.equal(r.json.error, "quota_exceeded");
    assert.equal(r.json.quota, "room_bytes");
    assert.equal(r.json.limit, 200_000);
  }
  const log = (await http(s.base, "GET", `/rooms/msgbytes/messages?limit=500`, { token: room.token }))
    .json as unknown[];
  assert.equal(log.length, 4);
});

Deno.test("a room holds at most SYNC_ROOM_MAX_MESSAGES messages (429 quota_exceeded room_messages), import included", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { SYNC_ROOM_MAX_MESSAGES: "5" });
  const c = client(srv.base);
  const room = await c.createRoom("msgcount");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "say",
    writes: [{ scope: "_messages", append: true, value: "hi" }],
  });
  for (let i = 0; i < 5; i++) await c.ok(room.id, alice, "_send_message", { body: i });
  const full = { quota: "room_messages", limit: 5 };
  refused(await c.invoke(room.id, alice, "_send_message", { body: "6" }), 429, "quota_exceeded", full);
  refused(
    await http(srv.base, "POST", `/rooms/msgcount/messages`, { token: alice, body: { body: "6" } }),
    429,
    "quota_exceeded",
    full,
  );
  refused(await c.invoke(room.id, alice, "say"), 429, "quota_exceeded", full);
  const viaMcp = await mcpCall(srv.base, alice, "invoke_action", {
    action: "_send_message",
    params: { body: "6" },
  });
  assert.equal(viaMcp.body?.error, "quota_exceeded", viaMcp.res.text);
  const messages = snapshotMessages(6);
  const imp = await http(srv.base, "POST", "/rooms/import", {
    body: { ...snapshot({ agents: ["x"] }), id: "imp6", messages },
  });
  refused(imp, 429, "quota_exceeded", full);
  assert.equal((await http(srv.base, "GET", "/rooms/imp6")).status, 404);
});

Deno.test("an action or view definition over 64 KiB is refused (400 value_too_large) at every door", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("defs");
  const huge = "d".repeat(70 * 1024);
  const action = { id: "fat", writes: [{ scope: "_shared", key: "x", value: huge }] };
  const view = { id: "fatview", expr: "1", render: { blob: huge } };
  const problems: string[] = [];
  const expect = (
    what: string,
    r: { status: number; json: Record<string, unknown> | undefined; text: string },
  ) => {
    if (
      r.status !== 400 || r.json?.error !== "value_too_large" || r.json?.limit !== 64 * 1024 ||
      typeof r.json?.field !== "string"
    ) {
      problems.push(`${what}: ${r.status} ${r.text.slice(0, 160)}`);
    }
  };
  expect("_register_action", await c.invoke(room.id, room.token, "_register_action", action));
  expect(
    "PUT /actions",
    await http(s.base, "PUT", `/rooms/defs/actions`, { token: room.token, body: action }),
  );
  expect("_register_view", await c.invoke(room.id, room.token, "_register_view", view));
  expect("PUT /views", await http(s.base, "PUT", `/rooms/defs/views`, { token: room.token, body: view }));
  expect(
    "join views",
    await http(s.base, "POST", `/rooms/defs/agents`, {
      body: { id: "fatso", views: [{ ...view, id: "fatso.v" }] },
    }),
  );
  const stamp = { registrar: "admin", created_at: "2026-01-01T00:00:00.000Z", timer: null };
  expect(
    "import actions",
    await http(s.base, "POST", "/rooms/import", {
      body: snapshot({ id: "impdef", actions: [{ ...action, ...stamp, scope: "_shared", cooldown: null }] }),
    }),
  );
  expect(
    "import views",
    await http(s.base, "POST", "/rooms/import", {
      body: snapshot({ id: "impdef2", views: [{ ...view, ...stamp, scope: "_shared" }] }),
    }),
  );
  assert.deepEqual(problems, []);
  // just under the limit is fine
  ok(
    await c.invoke(room.id, room.token, "_register_action", {
      id: "slim",
      writes: [{ scope: "_shared", key: "x", value: "d".repeat(60 * 1024) }],
    }),
  );
});

Deno.test("action and view definitions count toward room_bytes (429 quota_exceeded)", async () => {
  await using s = await startServer({ limits: { roomMaxBytes: 100_000 } });
  const c = client(s.base);
  const room = await c.createRoom("defbytes");
  const blob = "b".repeat(30_000);
  for (let i = 0; i < 3; i++) {
    await c.ok(room.id, room.token, "_register_action", {
      id: `a${i}`,
      writes: [{ scope: "_shared", key: "x", value: blob }],
    });
  }
  const r = await c.invoke(room.id, room.token, "_register_action", {
    id: "a3",
    writes: [{ scope: "_shared", key: "x", value: blob }],
  });
  refused(r, 429, "quota_exceeded", { quota: "room_bytes", limit: 100_000 });
  const v = await c.invoke(room.id, room.token, "_register_view", { id: "v", expr: "1", render: blob });
  refused(v, 429, "quota_exceeded", { quota: "room_bytes", limit: 100_000 });
  // replacing with something smaller is always allowed, and frees room
  await c.ok(room.id, room.token, "_register_action", { id: "a0", writes: [] });
  await c.ok(room.id, room.token, "_register_view", { id: "v", expr: "1", render: blob });
});

Deno.test("quota_exceeded always names its quota and limit (actions, views)", async () => {
  await using s = await startServer({ limits: { roomMaxActions: 1, roomMaxViews: 1 } });
  const c = client(s.base);
  const room = await c.createRoom("named");
  await c.ok(room.id, room.token, "_register_action", { id: "a", writes: [] });
  await c.ok(room.id, room.token, "_register_view", { id: "v", expr: "1" });
  for (
    const r of [
      await c.invoke(room.id, room.token, "_register_action", { id: "b", writes: [] }),
      await c.invoke(room.id, room.token, "_register_view", { id: "w", expr: "1" }),
    ]
  ) {
    assert.equal(r.status, 429, r.text);
    assert.equal(typeof r.json.quota, "string", `quota named: ${r.text}`);
    assert.equal(r.json.limit, 1);
  }
});

Deno.test("a room takes at most SYNC_ROOM_MAX_AGENTS agents (429 room_agents) at every door; re-joins still work", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { SYNC_ROOM_MAX_AGENTS: "3" });
  const c = client(srv.base);
  const room = await c.createRoom("crowd");
  const first = await c.join(room.id, "a1");
  await c.join(room.id, "a2");
  await c.join(room.id, "a3");
  const full = { quota: "room_agents", limit: 3 };
  refused(
    await http(srv.base, "POST", `/rooms/crowd/agents`, { body: { id: "a4" } }),
    429,
    "quota_exceeded",
    full,
  );
  refused(await http(srv.base, "POST", `/rooms/crowd/agents`, { body: {} }), 429, "quota_exceeded", full);
  const viaMcp = await mcpCall(srv.base, undefined, "join_room", { room: "crowd", id: "a5" });
  assert.equal(viaMcp.body?.error, "quota_exceeded", viaMcp.res.text);
  const rejoin = await http(srv.base, "POST", `/rooms/crowd/agents`, {
    token: first,
    body: { id: "a1", role: "again" },
  });
  assert.equal(rejoin.status, 201, `a re-join is not growth: ${rejoin.text}`);
  const imp = await http(srv.base, "POST", "/rooms/import", {
    body: snapshot({ id: "crowd2", agents: ["b1", "b2", "b3", "b4"] }),
  });
  refused(imp, 429, "quota_exceeded", full);
  const agents = (await http(srv.base, "GET", `/rooms/crowd/agents`, { token: room.token }))
    .json as unknown[];
  assert.equal(agents.length, 3);
});

Deno.test("agent and room meta over 8 KiB of JSON are refused (400 value_too_large, field meta) and create nothing", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("meta");
  const alice = await c.join(room.id, "alice");
  const fits = { note: "m".repeat(8192 - 11) }; // {"note":"…"} is exactly 8192 bytes
  const over = { note: "m".repeat(8192 - 10) };
  assert.equal(JSON.stringify(fits).length, 8192);
  const problems: string[] = [];
  const expect = (what: string, e: Record<string, unknown> | undefined) => {
    if (e?.error !== "value_too_large" || e?.field !== "meta") {
      problems.push(`${what}: ${JSON.stringify(e).slice(0, 160)}`);
    }
  };
  expect("POST /rooms", (await http(s.base, "POST", "/rooms", { body: { id: "fatroom", meta: over } })).json);
  expect(
    "join",
    (await http(s.base, "POST", "/rooms/meta/agents", { body: { id: "bob", meta: over } })).json,
  );
  expect(
    "re-join",
    (await http(s.base, "POST", "/rooms/meta/agents", { token: alice, body: { id: "alice", meta: over } }))
      .json,
  );
  expect(
    "PATCH",
    (await http(s.base, "PATCH", "/rooms/meta/agents/alice", { token: room.token, body: { meta: over } }))
      .json,
  );
  expect(
    "MCP join_room",
    (await mcpCall(s.base, undefined, "join_room", { room: "meta", id: "carol", meta: over })).body,
  );
  expect(
    "MCP create_room",
    (await mcpCall(s.base, undefined, "create_room", { id: "fatroom2", meta: over })).body,
  );
  const imp = await http(s.base, "POST", "/rooms/import", {
    body: {
      ...snapshot({ id: "fatimp" }),
      room: { id: "x", meta: over, created_at: "2026-01-01T00:00:00.000Z", seq: 1 },
    },
  });
  if (imp.status !== 400 || imp.json.error !== "value_too_large") {
    problems.push(`import room meta: ${imp.status} ${imp.text.slice(0, 160)}`);
  }
  assert.deepEqual(problems, []);
  for (const id of ["fatroom", "fatroom2", "fatimp"]) {
    assert.equal((await http(s.base, "GET", `/rooms/${id}`)).status, 404, id);
  }
  const agents = (await http(s.base, "GET", "/rooms/meta/agents", { token: room.token })).json as {
    id: string;
    meta: unknown;
  }[];
  assert.deepEqual(agents.map((a) => a.id), ["alice"]);
  assert.deepEqual(agents[0].meta, {});
  // exactly 8 KiB is fine
  assert.equal(
    (await http(s.base, "POST", "/rooms/meta/agents", { body: { id: "dave", meta: fits } })).status,
    201,
  );
  assert.equal((await http(s.base, "POST", "/rooms", { body: { id: "okroom", meta: fits } })).status, 201);
});

Deno.test("agents' meta counts toward room_bytes (429 quota_exceeded)", async () => {
  await using s = await startServer({ limits: { roomMaxBytes: 20_000 } });
  const c = client(s.base);
  await c.createRoom("metabytes");
  const meta = { note: "n".repeat(7000) };
  for (const id of ["a1", "a2"]) {
    assert.equal((await http(s.base, "POST", "/rooms/metabytes/agents", { body: { id, meta } })).status, 201);
  }
  refused(
    await http(s.base, "POST", "/rooms/metabytes/agents", { body: { id: "a3", meta } }),
    429,
    "quota_exceeded",
    { quota: "room_bytes", limit: 20_000 },
  );
});

// ── half-sent bodies ────────────────────────────────────────────────────────────────────────────

Deno.test("a body that does not arrive within SYNC_BODY_TIMEOUT_MS is answered 408 request_timeout and the request released", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { SYNC_BODY_TIMEOUT_MS: "500" });
  const c = client(srv.base);
  const room = await c.createRoom("slow");
  const auth = { authorization: `Bearer ${room.token}` };
  const cases: [string, string, Record<string, string>, boolean][] = [
    ["POST /rooms", "/rooms", {}, false],
    ["invoke", "/rooms/slow/actions/_set_state/invoke", auth, false],
    ["invoke (chunked)", "/rooms/slow/actions/_set_state/invoke", auth, true],
    ["POST /mcp", "/mcp", { ...auth, accept: "application/json, text/event-stream" }, false],
    ["POST /rooms/import", "/rooms/import", {}, true],
  ];
  const conns = await Promise.all(cases.map(async ([, path, headers, chunked]) => {
    const conn = await connect(srv.base);
    const head = requestHead(srv.base, "POST", path, {
      length: chunked ? undefined : 1000,
      headers: { "content-type": "application/json", ...headers },
    });
    await send(conn, head);
    await send(conn, chunked ? chunk('{"params":') : '{"params":');
    return conn;
  }));
  try {
    // meanwhile the server answers everyone else
    ok(
      await c.invoke(room.id, room.token, "_set_state", { key: "k", value: 1 }),
      "a normal request beside them",
    );
    const answers = await Promise.all(
      conns.map((conn) => readResponse(conn, 6_000).catch((e) => e as Error)),
    );
    const problems = answers.flatMap((a, i) => {
      if (a instanceof Error) return [`${cases[i][0]}: ${a.message}`];
      const code = (() => {
        try {
          return JSON.parse(a.body).error;
        } catch {
          return undefined;
        }
      })();
      // Deno.serve offers no way to close a connection from the handler (it keeps one whose body never
      // ended open until the client closes it): the server releases the request and says the connection
      // is done; the socket itself is bounded by the OS (reference/security.md "Resource limits")
      return a.status === 408 && code === "request_timeout" && a.headers.connection === "close"
        ? []
        : [`${cases[i][0]}: ${a.status} ${code} connection=${a.headers.connection}`];
    });
    assert.deepEqual(problems, []);
    await until(
      async () => (await metric(srv.base, "agent_sync_http_requests_in_flight")) <= 1,
      5000,
      "released",
    );
  } finally {
    for (const conn of conns) conn.close();
  }
});

// ── waiter quotas ───────────────────────────────────────────────────────────────────────────────

Deno.test("blocked waiters and feeds are quotas per room and per process (429 room_waiters / waiters)", async () => {
  await using tmp = await tempDir();
  await using srv = await spawnServer(tmp.db, { SYNC_ROOM_MAX_WAITERS: "3", SYNC_MAX_WAITERS: "5" });
  const c = client(srv.base);
  const rooms = [await c.createRoom("wa"), await c.createRoom("wb"), await c.createRoom("wc")];
  const ac = new AbortController();
  const cond = encodeURIComponent("state._shared.never == true");
  const block = (room: { id: string; token: string }) =>
    http(srv.base, "GET", `/rooms/${room.id}/wait?condition=${cond}&timeout=20000`, {
      token: room.token,
      signal: ac.signal,
    })
      .catch(() => undefined);
  const held: Promise<Res | undefined>[] = [];
  const early: Res[] = [];
  const track = (p: Promise<Res | undefined>) => {
    held.push(p.then((r) => (r && early.push(r), r)));
  };
  try {
    for (let i = 0; i < 3; i++) track(block(rooms[0]));
    await until(
      async () => (await metric(srv.base, "agent_sync_waiters")) + early.length >= 3,
      10_000,
      "3 waiters",
    );
    const problems: string[] = [];
    const fourth = await http(srv.base, "GET", `/rooms/wa/wait?condition=${cond}&timeout=100`, {
      token: rooms[0].token,
    });
    if (fourth.status !== 429 || fourth.json.quota !== "room_waiters" || fourth.json.limit !== 3) {
      problems.push(`4th wait in a room: ${fourth.status} ${fourth.text.slice(0, 160)}`);
    }
    const feed = await fetch(`${srv.base}/rooms/wa/events`, {
      headers: { authorization: `Bearer ${rooms[0].token}` },
    });
    const feedBody = feed.status === 200 ? (await feed.body?.cancel(), undefined) : await feed.json();
    if (feed.status !== 429 || feedBody?.quota !== "room_waiters") {
      problems.push(`a feed beyond the room quota: ${feed.status}`);
    }
    const mcp = await mcpCall(srv.base, rooms[0].token, "wait_for", {
      condition: "state._shared.never == true",
      timeout: 100,
    });
    if (mcp.body?.error !== "quota_exceeded") {
      problems.push(`MCP wait_for beyond the room quota: ${mcp.res.text.slice(0, 160)}`);
    }
    for (let i = 0; i < 2; i++) track(block(rooms[1]));
    await until(
      async () => (await metric(srv.base, "agent_sync_waiters")) + early.length >= 5,
      10_000,
      "5 waiters",
    );
    const sixth = await http(srv.base, "GET", `/rooms/wc/wait?condition=${cond}&timeout=100`, {
      token: rooms[2].token,
    });
    if (sixth.status !== 429 || sixth.json.quota !== "waiters" || sixth.json.limit !== 5) {
      problems.push(`a wait beyond the process quota: ${sixth.status} ${sixth.text.slice(0, 160)}`);
    }
    assert.deepEqual(problems, []);
  } finally {
    ac.abort();
    await Promise.all(held);
  }
  // released waiters make room again
  await until(async () => (await metric(srv.base, "agent_sync_waiters")) === 0, 10_000, "waiters released");
  const again = await http(srv.base, "GET", `/rooms/wa/wait?condition=${cond}&timeout=50`, {
    token: rooms[0].token,
  });
  assert.equal(again.status, 200, again.text);
});

Deno.test("a join's inline state and a PATCH's meta count against the room's quotas like any write", async () => {
  await using s = await startServer({ limits: { roomMaxEntries: 3, roomMaxBytes: 12_000 } });
  const c = client(s.base);
  const room = await c.createRoom("joinq");
  refused(
    await http(s.base, "POST", "/rooms/joinq/agents", {
      body: { id: "many", state: { a: 1, b: 2, c: 3, d: 4 } },
    }),
    429,
    "quota_exceeded",
    { quota: "room_entries", limit: 3 },
  );
  refused(
    await http(s.base, "POST", "/rooms/joinq/agents", {
      body: { id: "fat", state: { a: "s".repeat(13_000) } },
    }),
    429,
    "quota_exceeded",
    { quota: "room_bytes", limit: 12_000 },
  );
  const agents = (await http(s.base, "GET", "/rooms/joinq/agents", { token: room.token })).json as unknown[];
  assert.equal(agents.length, 0, "a refused join creates no agent");
  await c.join(room.id, "a1", { meta: { note: "n".repeat(7000) } });
  await c.join(room.id, "a2", { meta: { note: "n".repeat(4000) } }); // 11,000 bytes of meta and more
  refused(
    await http(s.base, "PATCH", "/rooms/joinq/agents/a2", {
      token: room.token,
      body: { meta: { note: "n".repeat(5000) } },
    }),
    429,
    "quota_exceeded",
    { quota: "room_bytes", limit: 12_000 },
  );
  ok(
    await http(s.base, "PATCH", "/rooms/joinq/agents/a1", { token: room.token, body: { meta: {} } }),
    "shrinking is fine",
  );
});
