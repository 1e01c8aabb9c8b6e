/**
 * Issue 12, class 1 — identities that collide with system names: `_…` agent ids and the reserved names
 * (admin, viewer, self, system, any case) are refused at every door that creates an agent (REST join, MCP
 * join_room, import); an old database row cannot resurrect the hole; view ids `<agent>.<key>` belong to
 * that agent.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createClient } from "@libsql/client";
import {
  client,
  fcOpts,
  http,
  mcpCall,
  ok,
  refused,
  type Res,
  snapshot,
  spawnServer,
  startServer,
  tempDir,
} from "./_harness.ts";

type Door = "rest" | "mcp" | "import";
const DOORS: Door[] = ["rest", "mcp", "import"];

/**
 * Tries to create agent `id` through one door. `status` is the HTTP status, or "tool_error" for an MCP tool
 * error (whose body is our usual error body); `target` is the room an import would have created.
 */
async function createAgent(base: string, room: string, door: Door, id: string, extra = {}) {
  if (door === "rest") {
    const r = await http(base, "POST", `/rooms/${room}/agents`, { body: { id, ...extra } });
    return { status: r.status as number | "tool_error", body: r.json, text: r.text, target: undefined };
  }
  if (door === "mcp") {
    const r = await mcpCall(base, undefined, "join_room", { room, id, ...extra });
    const status = r.isError ? "tool_error" as const : r.res.status;
    return { status, body: r.isError ? r.body : r.res.json, text: r.res.text, target: undefined };
  }
  const target = `imp-${crypto.randomUUID().slice(0, 8)}`;
  const r = await http(base, "POST", "/rooms/import", {
    body: { ...snapshot({ agents: [id] }), id: target },
  });
  return { status: r.status as number | "tool_error", body: r.json, text: r.text, target };
}

/** The refusal a door gives for a bad id: 400 over REST and import, a tool error over MCP. */
const REFUSED: Record<Door, number | "tool_error"> = { rest: 400, mcp: "tool_error", import: 400 };

function caseVariants(name: string) {
  return fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((up) => [...name].map((ch, i) => (up[i] ? ch.toUpperCase() : ch)).join(""));
}

const idChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-");
const idTail = fc.array(idChar, { minLength: 1, maxLength: 20 }).map((a) => a.join(""));

Deno.test("join as _shared with inline state is refused (400 invalid_id) and _shared.turn stays", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("squat");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 1 });
  const r = await http(s.base, "POST", `/rooms/squat/agents`, {
    body: { id: "_shared", state: { turn: 999 } },
  });
  refused(r, 400, "invalid_id", { field: "id" });
  assert.match(r.json.message, /system/i, "the message says _ ids name system scopes");
  const turn = await http(s.base, "GET", `/rooms/squat/state?scope=_shared&key=turn`, { token: room.token });
  assert.equal(turn.json.value, 1);
  assert.equal(turn.json.version, 1);
  const agents = await http(s.base, "GET", `/rooms/squat/agents`, { token: room.token });
  assert.deepEqual(agents.json, [], "no agent was created");
});

Deno.test("ids starting with _ are refused at every door that creates an agent, and nothing is created", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("underscore");
  await c.ok(room.id, room.token, "_set_state", { scope: "_tasks", key: "1", value: "guarded" });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...DOORS), idTail, async (door, tail) => {
      const id = `_${tail}`.slice(0, 128);
      const r = await createAgent(
        s.base,
        room.id,
        door,
        id,
        door === "import" ? {} : { state: { "1": "mine" } },
      );
      assert.equal(r.status, REFUSED[door], `${door} ${id}: ${r.text.slice(0, 300)}`);
      assert.equal(r.body?.error, "invalid_id", `${door} ${id}: ${r.text.slice(0, 300)}`);
      assert.match(String(r.body?.field), /(^|\.)id$/, `${door}: field names the id`);
      if (r.target) {
        assert.equal((await http(s.base, "GET", `/rooms/${r.target}`)).status, 404, "no room was imported");
      }
    }),
    fcOpts(40),
  );
  const agents = await http(s.base, "GET", `/rooms/underscore/agents`, { token: room.token });
  assert.deepEqual(agents.json, []);
  const task = await http(s.base, "GET", `/rooms/underscore/state?scope=_tasks&key=1`, { token: room.token });
  assert.equal(task.json.value, "guarded");
});

Deno.test("reserved names (admin, viewer, self, system) in any case are refused at every door with reserved: true", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("reserved");
  const name = fc.constantFrom("admin", "viewer", "self", "system").chain(caseVariants);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...DOORS), name, async (door, id) => {
      const r = await createAgent(s.base, room.id, door, id);
      assert.equal(r.status, REFUSED[door], `${door} ${id}: ${r.text.slice(0, 300)}`);
      assert.equal(r.body?.error, "invalid_id", `${door} ${id}: ${r.text.slice(0, 300)}`);
      assert.equal(r.body?.reserved, true, `${door} ${id}: ${r.text.slice(0, 300)}`);
      assert.match(String(r.body?.field), /(^|\.)id$/);
      if (r.target) assert.equal((await http(s.base, "GET", `/rooms/${r.target}`)).status, 404);
    }),
    fcOpts(40),
  );
  const agents = await http(s.base, "GET", `/rooms/reserved/agents`, { token: room.token });
  assert.deepEqual(agents.json, []);
});

Deno.test("names that only resemble reserved ones still join (admin2, selfie, viewers, sys)", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("near");
  for (const id of ["admin2", "selfie", "viewers", "sys", "my.admin", "a_dmin"]) {
    const r = await http(s.base, "POST", `/rooms/near/agents`, { body: { id } });
    assert.equal(r.status, 201, `${id}: ${r.text}`);
  }
  const viaMcp = await mcpCall(s.base, undefined, "join_room", { room: room.id, id: "systemic" });
  assert.equal(viaMcp.isError, false, viaMcp.res.text);
});

Deno.test("an agent named admin cannot exist, so nobody but the room token reads the room token's audit rows", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("audit");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "pw", value: "room-secret-7" });
  refused(await http(s.base, "POST", `/rooms/audit/agents`, { body: { id: "admin" } }), 400, "invalid_id");
  const eve = await c.join(room.id, "eve");
  const audit = await http(s.base, "GET", `/rooms/audit/state?scope=_audit`, { token: eve });
  assert.equal(audit.status, 200);
  assert.ok(!audit.text.includes("room-secret-7"), audit.text);
  const probe = await http(s.base, "POST", `/rooms/audit/eval`, {
    token: eve,
    body: { expr: 'self == "admin"' },
  });
  assert.equal(probe.json.value, false);
});

Deno.test("a _… agent row already in the database cannot write the system scope it is named after", async () => {
  await using tmp = await tempDir();
  const token = "as_" + "ab".repeat(24);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  const hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  let roomToken = "";
  {
    await using a = await spawnServer(tmp.db);
    const c = client(a.base);
    roomToken = (await c.createRoom("legacy")).token;
    await c.ok("legacy", roomToken, "_set_state", { scope: "_shared", key: "turn", value: 1 });
    assert.equal((await a.kill("SIGTERM")).code, 0);
  }
  // a row written by an older version that accepted the id
  const db = createClient({ url: `file:${tmp.db}` });
  try {
    await db.execute({
      sql: `INSERT INTO agents (room_id, id, name, role, meta, grants, token_hash, joined_at, status,
            last_seen_seq) VALUES ('legacy', '_shared', '_shared', 'agent', '{}', '[]', ?, ?, 'active', 0)`,
      args: [hash, new Date().toISOString()],
    });
  } finally {
    db.close();
  }
  await using b = await spawnServer(tmp.db);
  for (
    const params of [
      { scope: "_shared", key: "turn", value: 999 },
      { key: "turn", value: 999 }, // its default scope would be its "own"
    ]
  ) {
    const r = await http(b.base, "POST", `/rooms/legacy/actions/_set_state/invoke`, {
      token,
      body: { params },
    });
    assert.ok(
      (r.status === 403 && r.json.error === "scope_denied") ||
        (r.status === 401 && r.json.error === "invalid_token"),
      `the legacy _shared agent wrote: ${r.status} ${r.text}`,
    );
  }
  const turn = await http(b.base, "GET", `/rooms/legacy/state?scope=_shared&key=turn`, { token: roomToken });
  assert.equal(turn.status, 200, turn.text);
  assert.equal(turn.json.value, 1);
});

// ── view ids belong to the agent before the first dot ───────────────────────────────────────────

async function squatRoom() {
  const s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("views");
  const alice = await c.join(room.id, "alice", { state: { hp: 10 } });
  return { s, c, room, alice };
}

Deno.test("alice cannot pre-register dave.hp (403 not_owner), so dave's public_keys join works and shows his value", async () => {
  const { s, c, room, alice } = await squatRoom();
  await using _ = s;
  const squat = await c.invoke(room.id, alice, "_register_view", { id: "dave.hp", expr: "999" });
  refused(squat, 403, "not_owner", { view: "dave.hp", owner: "dave" });
  const dave = await http(s.base, "POST", `/rooms/views/agents`, {
    body: { id: "dave", state: { hp: 42 }, public_keys: ["hp"] },
  });
  assert.equal(dave.status, 201, dave.text);
  const ctx = await c.context(room.id, alice, "?only=views");
  assert.equal(ctx.views["dave.hp"], 42);
});

Deno.test("view ids <agent>.<rest> of another agent are refused through every registration door", async () => {
  const { s, c, room, alice } = await squatRoom();
  await using _ = s;
  await c.join(room.id, "dave");
  /** Each door's error body. */
  const body = async (r: Promise<Res>) => (await r).json;
  const doors: [string, () => Promise<Record<string, unknown> | undefined>][] = [
    ["invoke", () => body(c.invoke(room.id, alice, "_register_view", { id: "dave.x.y", expr: "1" }))],
    [
      "PUT /views",
      () =>
        body(http(s.base, "PUT", `/rooms/views/views`, { token: alice, body: { id: "dave.hp", expr: "1" } })),
    ],
    [
      "POST /views",
      () =>
        body(
          http(s.base, "POST", `/rooms/views/views`, { token: alice, body: { id: "dave.hp", expr: "1" } }),
        ),
    ],
    [
      "PUT /state _view",
      () =>
        body(http(s.base, "PUT", `/rooms/views/state`, {
          token: alice,
          body: { scope: "_view", key: "dave.hp", expr: "1" },
        })),
    ],
    [
      "MCP invoke_action",
      async () => {
        const r = await mcpCall(s.base, alice, "invoke_action", {
          action: "_register_view",
          params: { id: "dave.hp", expr: "1" },
        });
        return r.isError ? r.body : { ok: true, text: r.res.text };
      },
    ],
  ];
  for (const [what, go] of doors) {
    const e = await go();
    assert.equal(e?.error, "not_owner", `${what}: ${JSON.stringify(e).slice(0, 300)}`);
    assert.equal(e?.owner, "dave", `${what}: ${JSON.stringify(e).slice(0, 300)}`);
  }
  // a join that brings a squatting view is refused whole: eve is not created
  const eve = await http(s.base, "POST", `/rooms/views/agents`, {
    body: { id: "eve", views: [{ id: "dave.hp", expr: "1" }] },
  });
  refused(eve, 403, "not_owner", { owner: "dave" });
  const agents = (await http(s.base, "GET", `/rooms/views/agents`, { token: room.token })).json;
  assert.ok(!agents.some((a: { id: string }) => a.id === "eve"), "the refused join created no agent");
  const views = (await http(s.base, "GET", `/rooms/views/views`, { token: room.token })).json;
  assert.deepEqual(views.filter((v: { id: string }) => v.id.startsWith("dave.")), []);
});

Deno.test("any agent registering <other>.<rest> is refused with owner <other> (property)", async () => {
  const { s, c, room } = await squatRoom();
  await using _ = s;
  const tokens: Record<string, string> = {};
  for (const id of ["carol", "mallory"]) tokens[id] = await c.join(room.id, id);
  const prefix = fc.array(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-:"), {
    minLength: 1,
    maxLength: 12,
  })
    .map((a) => a.join(""));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom("carol", "mallory"), prefix, idTail, async (who, owner, rest) => {
      fc.pre(owner !== who);
      const id = `${owner}.${rest}`.slice(0, 128);
      const r = await c.invoke(room.id, tokens[who], "_register_view", { id, expr: "1" });
      assert.equal(r.status, 403, `${who} registered ${id}: ${r.text.slice(0, 300)}`);
      assert.equal(r.json.error, "not_owner");
      assert.equal(r.json.owner, owner);
    }),
    fcOpts(40),
  );
});

Deno.test("an agent registers views under its own prefix; the room token registers any id, and the agent may replace it", async () => {
  const { s, c, room, alice } = await squatRoom();
  await using _ = s;
  ok(await c.invoke(room.id, alice, "_register_view", { id: "alice.hp2", expr: 'state["alice"].hp * 2' }));
  ok(await c.invoke(room.id, alice, "_register_view", { id: "alice.x.y", expr: "1" }));
  ok(await c.invoke(room.id, alice, "_register_view", { id: "plain", expr: "2" }), "an id without a dot");
  ok(await c.invoke(room.id, room.token, "_register_view", { id: "dave.hp", expr: "0" }));
  const dave = await http(s.base, "POST", `/rooms/views/agents`, {
    body: { id: "dave", state: { hp: 7 }, public_keys: ["hp"] },
  });
  assert.equal(dave.status, 201, dave.text);
  const daveTok = dave.json.token;
  ok(await c.invoke(room.id, daveTok, "_set_state", { key: "mp", value: 3, public: true }));
  const ctx = await c.context(room.id, alice, "?only=views");
  assert.equal(ctx.views["dave.hp"], 7);
  assert.equal(ctx.views["dave.mp"], 3);
  assert.equal(ctx.views["alice.hp2"], 20);
});

Deno.test("agent ids with dots: my.bot's views are my.bot's, not my's, and its public_keys replace an earlier squat", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("dots");
  const my = await c.join(room.id, "my");
  // before my.bot exists, my.bot.hp reads as one of my's ids
  ok(await c.invoke(room.id, my, "_register_view", { id: "my.bot.hp", expr: "999" }));
  const bot = await http(s.base, "POST", `/rooms/dots/agents`, {
    body: { id: "my.bot", state: { hp: 5 }, public_keys: ["hp"] },
  });
  assert.equal(bot.status, 201, bot.text);
  const views = async () => (await c.context(room.id, room.token, "?only=views")).views;
  assert.equal((await views())["my.bot.hp"], 5, "the agent's own public key won");
  refused(
    await c.invoke(room.id, my, "_register_view", { id: "my.bot.hp", expr: "999" }),
    403,
    "not_owner",
    { view: "my.bot.hp", owner: "my.bot" },
  );
  refused(await c.invoke(room.id, my, "_delete_view", { id: "my.bot.hp" }), 403, "not_owner");
  ok(await c.invoke(room.id, bot.json.token, "_register_view", { id: "my.bot.mp", expr: "1" }));
  ok(await c.invoke(room.id, my, "_register_view", { id: "my.other", expr: "2" }));
  const v = await views();
  assert.equal(v["my.bot.hp"], 5);
  assert.equal(v["my.bot.mp"], 1);
  assert.equal(v["my.other"], 2);
});
