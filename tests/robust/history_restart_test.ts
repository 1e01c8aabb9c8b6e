/**
 * History on a real process: it survives a crash and a restart (timeline, trimming point, the room at a
 * commit), and a database from before history (schema at migration 5, rows as the old server wrote them)
 * starts each room's history at its current commit, with everything the room held.
 */
import assert from "node:assert/strict";
import { createClient } from "@libsql/client";
import { hashToken, mintToken } from "../../auth.ts";
import { MIGRATIONS } from "../../schema.ts";
import { client } from "../_server.ts";
import { until } from "../_setup.ts";
import { spawnServer } from "./_proc.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("history survives SIGKILL and a restart: timeline, where it begins, the room at each commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-history-" });
  const dbPath = `${dir}/sync.db`;
  const env = { SYNC_HISTORY_COMMITS: "6" };
  let srv = await spawnServer(dbPath, env);
  try {
    const c = client(srv.base);
    const room = await c.createRoom("h");
    const alice = await c.join(room.id, "alice");
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "rules", value: "kept" });
    for (let i = 1; i <= 10; i++) await c.ok(room.id, alice, "_set_state", { key: "n", value: i });
    assert.equal((await c.invoke(room.id, alice, "_set_state", { key: "x" })).status, 400);
    const path = `/rooms/${room.id}/history`;
    const before = await until(async () => {
      const r = await c.http("GET", path, { token: room.token });
      return r.json.oldest_seq === r.json.cursor - 5 && r.json;
    }, { what: "the history trimmed to 6 commits" });
    const contexts = [];
    for (let at = before.oldest_seq; at <= before.cursor; at++) {
      contexts.push(
        (await c.http("GET", `/rooms/${room.id}/context?at=${at}&only=state,agents`, { token: alice })).json,
      );
    }
    await srv.kill("SIGKILL");
    srv = await spawnServer(dbPath, env);
    const c2 = client(srv.base);
    const after = (await c2.http("GET", path, { token: room.token })).json;
    assert.deepEqual(after, before);
    assert.equal(after.commits[0].error, "invalid_body", "the refusal kept its reason");
    for (let at = before.oldest_seq; at <= before.cursor; at++) {
      const r = await c2.http("GET", `/rooms/${room.id}/context?at=${at}&only=state,agents`, {
        token: alice,
      });
      assert.deepEqual(r.json, contexts[at - before.oldest_seq], `at ${at}`);
    }
    const expired = await c2.http("GET", `/rooms/${room.id}/context?at=${before.oldest_seq - 1}`, {
      token: alice,
    });
    assert.deepEqual([expired.status, expired.json.oldest_seq], [410, before.oldest_seq]);
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database from before history: each room's history begins at its current commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-history-old-" });
  const dbPath = `${dir}/sync.db`;
  const token = mintToken("room");
  const aliceToken = mintToken("agent");
  const db = createClient({ url: `file:${dbPath}` });
  await db.execute(
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  for (const m of MIGRATIONS.filter((m) => m.version <= 5)) {
    await db.batch([...m.statements, {
      sql: "INSERT INTO schema_migrations VALUES (?, ?, ?)",
      args: [m.version, m.name, "2026-01-01T00:00:00Z"],
    }], "write");
  }
  const ts = "2026-01-01T00:00:00.000Z";
  const proposal = {
    id: "prop-1",
    action: "go",
    params: {},
    proposer: "alice",
    count: 1,
    from: "true",
    proposer_counts: false,
    registrar: "admin",
    scope: "_shared",
    approvals: [],
    status: "pending",
    created_at: ts,
    expires_at: null,
    decided_at: null,
  };
  await db.batch([
    {
      sql:
        "INSERT INTO rooms (id, meta, created_at, token_hash, view_token_hash, seq) VALUES ('old', '{}', ?, ?, ?, 7)",
      args: [ts, hashToken(token), hashToken(mintToken("view"))],
    },
    {
      sql:
        `INSERT INTO agents (room_id, id, name, role, meta, grants, token_hash, joined_at, status, last_seen_seq)
            VALUES ('old', 'alice', 'Alice', 'scout', '{}', '["_tasks"]', ?, ?, 'active', 0)`,
      args: [hashToken(aliceToken), ts],
    },
    {
      sql: `INSERT INTO state (room_id, scope, key, value, version, updated_at, seq) VALUES
              ('old', '_shared', 'turn', '4', 4, ?, 6), ('old', 'alice', 'plan', '"north"', 1, ?, 2),
              ('old', '_tasks', 't1', '{"done":false}', 1, ?, 3)`,
      args: [ts, ts, ts],
    },
    {
      sql: "INSERT INTO actions VALUES ('old', 'go', ?)",
      args: [JSON.stringify({ id: "go", scope: "_shared", registrar: "admin", created_at: ts, writes: [] })],
    },
    {
      sql: "INSERT INTO views VALUES ('old', 'turn2', ?, 0)",
      args: [
        JSON.stringify({
          id: "turn2",
          expr: "state._shared.turn * 2",
          scope: "_shared",
          registrar: "admin",
          created_at: ts,
        }),
      ],
    },
    {
      sql: `INSERT INTO messages (room_id, seq, from_agent, kind, body, to_agents, claimed_by, claimed_at, ts)
            VALUES ('old', 1, 'alice', 'chat', '"hello"', NULL, 'alice', ?, ?)`,
      args: [ts, ts],
    },
    {
      sql: `INSERT INTO leases VALUES ('old', '_tasks', 't1', 3, 'alice', 600000, ?, '"delete"')`,
      args: [ts],
    },
    {
      sql: "INSERT INTO proposals VALUES ('old', 'prop-1', 'pending', ?, ?)",
      args: [ts, JSON.stringify(proposal)],
    },
  ], "write");
  db.close();
  const srv = await spawnServer(dbPath);
  try {
    const c = client(srv.base);
    const h = (await c.http("GET", "/rooms/old/history", { token })).json;
    assert.deepEqual([h.commits, h.oldest_seq, h.cursor], [[], 7, 7]);
    const at = await c.http("GET", "/rooms/old/context?at=7", { token: aliceToken });
    assert.equal(at.status, 200, at.text);
    assert.deepEqual(at.json.state, {
      _shared: { turn: 4 },
      _tasks: { t1: { done: false } },
      self: { plan: "north" },
    });
    assert.deepEqual(at.json.views, { turn2: 8 });
    assert.equal(at.json.agents.alice.role, "scout");
    assert.ok(at.json.actions.go);
    assert.equal(at.json.messages.recent[0].claimed_by, "alice");
    assert.deepEqual([at.json.leases._tasks.t1.holder, at.json.leases._tasks.t1.epoch], ["alice", 3]);
    assert.equal(at.json.proposals["prop-1"].status, "pending", "her own proposal, as it stood");
    assert.equal((await c.http("GET", "/rooms/old/context?at=6", { token })).status, 410);
    await c.ok("old", token, "_set_state", { scope: "_shared", key: "turn", value: 5 });
    const claimed = await c.invoke("old", aliceToken, "_claim_message", { seq: 1 });
    assert.equal(claimed.status, 409, "claimed before history began, and still claimed");
    const next = (await c.http("GET", "/rooms/old/history", { token })).json as Json;
    assert.deepEqual([next.commits[0].action, next.commits[0].error], ["_claim_message", "already_claimed"]);
    assert.equal(next.commits.at(-1).seq, 8);
    const still = await c.http("GET", "/rooms/old/context?at=7&only=state", { token });
    assert.deepEqual(still.json.state._shared, { turn: 4 });
    const versions = (await c.http("GET", "/rooms/old/state/history?scope=_shared&key=turn", { token })).json;
    assert.deepEqual(versions.versions.map((v: Json) => [v.seq, v.value]), [[8, 5], [6, 4]]);
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});
