/**
 * @module store/libsql_store — the `RoomStore` on libSQL (an embedded SQLite file or a libSQL server):
 * opening with the file pragmas and the migrations of schema.ts, reading rows, and writing a commit batch
 * in one transaction. SQL only: no rules.
 */
import { type Client, createClient } from "@libsql/client";
import { MIGRATIONS } from "../schema.ts";
import { batchStatements } from "./libsql_batch.ts";
import { FileWriter } from "./libsql_file_writer.ts";
import { LibsqlHistory } from "./libsql_history.ts";
import { LibsqlOutbox } from "./libsql_outbox.ts";
import { rowBatches } from "./libsql_rows.ts";
import {
  type AuditQuery,
  type AuditRow,
  type CommitBatch,
  CommitError,
  type CommitOutcome,
  type IdempotencyRow,
  type MessageRow,
  type PeerRow,
  type RoomHead,
  type RoomListing,
  type RoomStore,
  type SeenRow,
  type StoredRoom,
} from "./room_store.ts";

const pj = (s: unknown) => (s === null || s === undefined ? null : JSON.parse(String(s)));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export class LibsqlStore implements RoomStore {
  readonly history: LibsqlHistory;
  readonly outbox: LibsqlOutbox;
  private constructor(readonly client: Client, readonly writer?: FileWriter) {
    this.history = new LibsqlHistory(client);
    this.outbox = new LibsqlOutbox(rowBatches(client, writer));
  }

  /** Opens (creating the file's directory) and migrates. */
  static async open(url: string, authToken?: string): Promise<LibsqlStore> {
    const local = url.startsWith("file:");
    const path = local ? url.slice("file:".length).split("?")[0] : undefined;
    if (path) {
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
      if (dir) await Deno.mkdir(dir, { recursive: true });
    }
    // A local file gets one connection: the pragmas below are per connection (a pooled second one would run
    // without busy_timeout and fail at once with SQLITE_BUSY when another process holds the lock), and the
    // embedded driver runs every statement on this thread anyway. `timeout` is the busy timeout of each one.
    const client = createClient({ url, authToken, ...(local ? { concurrency: 1, timeout: 5000 } : {}) });
    if (local) await filePragmas(client);
    await migrate(client);
    return new LibsqlStore(client, local ? new FileWriter(path!) : undefined);
  }

  async loadRoom(id: string): Promise<StoredRoom | undefined> {
    const rs = await this.client.batch([
      { sql: "SELECT * FROM rooms WHERE id = ?", args: [id] },
      { sql: "SELECT * FROM agents WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM state WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM actions WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM views WHERE room_id = ? ORDER BY position", args: [id] },
      { sql: "SELECT * FROM messages WHERE room_id = ? ORDER BY seq", args: [id] },
      { sql: "SELECT COALESCE(MAX(seq), 0) AS m, COUNT(*) AS n FROM audit WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM ticks WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM leases WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM proposals WHERE room_id = ? ORDER BY rowid", args: [id] },
      { sql: "SELECT * FROM webhooks WHERE room_id = ?", args: [id] },
      { sql: "SELECT * FROM history_rooms WHERE room_id = ?", args: [id] },
    ], "read");
    const r = rs[0].rows[0];
    if (!r) return undefined;
    return {
      room: {
        id,
        meta: pj(r.meta),
        created_at: String(r.created_at),
        token_hash: String(r.token_hash),
        view_token_hash: String(r.view_token_hash),
        seq: Number(r.seq),
        liveness_ms: num(r.liveness_ms),
      },
      agents: rs[1].rows.map((a) => ({
        id: String(a.id),
        name: String(a.name),
        role: String(a.role),
        meta: pj(a.meta),
        grants: pj(a.grants) ?? [],
        token_hash: String(a.token_hash),
        joined_at: String(a.joined_at),
        status: String(a.status),
        last_heartbeat: str(a.last_heartbeat),
        last_seen_seq: Number(a.last_seen_seq),
        last_seen: str(a.last_seen),
      })),
      state: rs[2].rows.map((s) => {
        const value = String(s.value);
        return {
          scope: String(s.scope),
          key: String(s.key),
          value: JSON.parse(value),
          version: Number(s.version),
          updated_at: String(s.updated_at),
          timer: pj(s.timer),
          enabled: str(s.enabled),
          sort_key: num(s.sort_key),
          seq: Number(s.seq),
          bytes: value.length,
        };
      }),
      actions: rs[3].rows.map((a) => ({ id: String(a.id), def: pj(a.def) })),
      views: rs[4].rows.map((v) => ({ id: String(v.id), def: pj(v.def), position: Number(v.position) })),
      messages: rs[5].rows.map(rowToMessage),
      ticks: rs[7].rows.map((t) => ({ target: String(t.target), count: Number(t.count) })),
      leases: rs[8].rows.map((l) => ({
        scope: String(l.scope),
        key: String(l.key),
        epoch: Number(l.epoch),
        holder: str(l.holder),
        ttl_ms: Number(l.ttl_ms),
        renewed_at: String(l.renewed_at),
        on_expire: pj(l.on_expire),
      })),
      audit: { max_seq: Number(rs[6].rows[0].m), count: Number(rs[6].rows[0].n) },
      proposals: rs[9].rows.map((p) => ({
        id: String(p.id),
        status: String(p.status),
        created_at: String(p.created_at),
        data: pj(p.data),
      })),
      webhooks: rs[10].rows.map((w) => ({
        id: String(w.id),
        url: String(w.url),
        secret: String(w.secret),
        events: pj(w.events),
        created_at: String(w.created_at),
        seq: Number(w.seq),
        disabled_at: str(w.disabled_at),
        disabled_reason: str(w.disabled_reason),
      })),
      ...(rs[11].rows[0]
        ? {
          history: {
            commits: num(rs[11].rows[0].commits),
            max_age_ms: num(rs[11].rows[0].max_age_ms),
            from_seq: Number(rs[11].rows[0].from_seq),
            from_ts: str(rs[11].rows[0].from_ts),
          },
        }
        : {}),
    };
  }

  async commit(batch: CommitBatch): Promise<CommitOutcome> {
    const { statements, layout } = batchStatements(batch);
    const outcome: CommitOutcome = { created: new Set(), dropped: new Set(), statements: statements.length };
    if (!statements.length) return outcome;
    let rs: { rows: ArrayLike<unknown>[]; changes: number }[];
    try {
      rs = this.writer
        ? this.writer.batch(statements)
        : (await this.client.batch(statements, "write")).map((r) => ({
          rows: r.rows,
          changes: r.rowsAffected,
        }));
    } catch (e) {
      const msg = String((e as Error)?.message ?? e);
      if (msg.includes("CHECK constraint failed")) {
        throw new CommitError("another process changed the room first", "stale");
      }
      if (batch.restore && /UNIQUE|PRIMARY KEY/i.test(msg)) {
        throw new CommitError(`room ${batch.restore.id} exists`, "exists");
      }
      throw new CommitError(msg, "failed");
    }
    // RETURNING id: the first column
    for (const i of layout.creates) for (const row of rs[i].rows) outcome.created.add(String(row[0]));
    for (const [id, i] of layout.drops) if (rs[i].changes > 0) outcome.dropped.add(id);
    return outcome;
  }

  async readAudit(roomId: string, q: AuditQuery): Promise<AuditRow[]> {
    const where = ["room_id = ?"];
    const args: (string | number)[] = [roomId];
    if (q.agent !== undefined) where.push("agent = ?"), args.push(q.agent);
    if (q.after !== undefined) where.push("seq > ?"), args.push(q.after);
    if (q.max_seq !== undefined) where.push("seq <= ?"), args.push(q.max_seq);
    const r = await this.client.execute({
      sql: `SELECT * FROM (SELECT * FROM audit WHERE ${
        where.join(" AND ")
      } ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
      args: [...args, q.limit],
    });
    return r.rows.map((a) => ({
      seq: Number(a.seq),
      ts: String(a.ts),
      agent: String(a.agent),
      action: String(a.action),
      builtin: Number(a.builtin) === 1,
      params: pj(a.params),
      ok: Number(a.ok) === 1,
      status: Number(a.status),
      error: str(a.error),
      message: str(a.message),
      detail: pj(a.detail),
      ...(a.traceparent ? { traceparent: String(a.traceparent) } : {}),
    }));
  }

  async readReply(
    roomId: string,
    identity: string,
    key: string,
    since: string,
  ): Promise<IdempotencyRow | undefined> {
    const r = await this.client.execute({
      sql:
        "SELECT status, response, created_at, fingerprint FROM idempotency WHERE room_id = ? AND identity = ? AND key = ? AND created_at > ?",
      args: [roomId, identity, key, since],
    });
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      identity,
      key,
      status: Number(row.status),
      response: JSON.parse(String(row.response)),
      created_at: String(row.created_at),
      fingerprint: String(row.fingerprint),
    };
  }

  async roomsForToken(tokenHash: string): Promise<RoomListing[]> {
    const r = await this.client.execute({
      sql: `SELECT id, created_at, meta FROM rooms WHERE token_hash = ?1 OR view_token_hash = ?1
            OR id IN (SELECT room_id FROM agents WHERE token_hash = ?1) ORDER BY created_at`,
      args: [tokenHash],
    });
    return r.rows.map((x) => ({ id: String(x.id), created_at: String(x.created_at), meta: pj(x.meta) }));
  }

  async roomHeads(ids: string[]): Promise<Map<string, RoomHead>> {
    const out = new Map<string, RoomHead>();
    if (!ids.length) return out;
    const r = await this.client.execute({
      sql: `SELECT id, seq, token_hash FROM rooms WHERE id IN (${ids.map(() => "?").join(",")})`,
      args: ids,
    });
    for (const row of r.rows) {
      out.set(String(row.id), { seq: Number(row.seq), token_hash: String(row.token_hash) });
    }
    return out;
  }

  async readSeen(roomId: string): Promise<SeenRow[]> {
    const r = await this.client.execute({
      sql: "SELECT id, last_heartbeat, last_seen FROM agents WHERE room_id = ?",
      args: [roomId],
    });
    return r.rows.map((a) => ({
      id: String(a.id),
      last_heartbeat: str(a.last_heartbeat),
      last_seen: str(a.last_seen),
    }));
  }

  async beatPeer(
    id: string,
    proc: string,
    now: number,
    aliveSince: number,
    forgetBefore: number,
    upSince = 0,
  ) {
    const next = "(SELECT COALESCE(MAX(joined), 0) + 1 FROM peers)";
    const rs = await this.client.batch([
      { sql: "DELETE FROM peers WHERE beat_at < ? AND id != ?", args: [forgetBefore, id] },
      {
        sql:
          `INSERT INTO peers (id, joined, seen, beat_at, proc, up_since) VALUES (?1, ${next}, ${next}, ?2, ?3, ?4)
              ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at, seen = (SELECT MAX(joined) FROM peers),
                up_since = excluded.up_since`,
        args: [id, now, proc, upSince],
      },
      { sql: "SELECT joined FROM peers WHERE id = ?", args: [id] },
      { sql: PEERS_ALIVE, args: [id, aliveSince] },
    ], "write");
    return { joined: Number(rs[2].rows[0].joined), peers: rs[3].rows.map(rowToPeer) };
  }

  async livePeers(id: string, aliveSince: number): Promise<PeerRow[]> {
    return (await this.client.execute({ sql: PEERS_ALIVE, args: [id, aliveSince] })).rows.map(rowToPeer);
  }

  async leavePeer(id: string): Promise<void> {
    await this.client.execute({ sql: "DELETE FROM peers WHERE id = ?", args: [id] });
  }

  async ping(): Promise<void> {
    await this.client.execute("SELECT 1");
  }

  close(): void {
    this.writer?.close();
    this.client.close();
  }
}

const PEERS_ALIVE =
  "SELECT id, joined, seen, beat_at, proc, up_since FROM peers WHERE id != ? AND beat_at >= ?";

function rowToPeer(r: Record<string, unknown>): PeerRow {
  return {
    id: String(r.id),
    joined: Number(r.joined),
    seen: Number(r.seen),
    beat_at: Number(r.beat_at),
    proc: String(r.proc),
    up_since: Number(r.up_since ?? 0),
  };
}

function rowToMessage(m: Record<string, unknown>): MessageRow {
  return {
    seq: Number(m.seq),
    from: str(m.from_agent),
    kind: String(m.kind),
    body: pj(m.body),
    to: pj(m.to_agents),
    reply_to: num(m.reply_to),
    claimed_by: str(m.claimed_by),
    claimed_at: str(m.claimed_at),
    ts: String(m.ts),
    extra: pj(m.extra),
    // only where known (most messages are never claimed: no field to hold)
    ...(m.commit_seq !== null && m.commit_seq !== undefined ? { commit_seq: Number(m.commit_seq) } : {}),
    ...(m.claim_seq !== null && m.claim_seq !== undefined ? { claim_seq: Number(m.claim_seq) } : {}),
  };
}

async function filePragmas(db: Client): Promise<void> {
  // busy_timeout first: another process starting on the same file may hold the lock for a moment
  await db.execute("PRAGMA busy_timeout = 5000");
  // switching to WAL needs the file to itself and does not wait on busy_timeout: retry for a while
  for (let i = 0;; i++) {
    try {
      await db.execute("PRAGMA journal_mode = WAL");
      break;
    } catch (e) {
      if (i >= 100 || !/SQLITE_BUSY|locked/i.test(String((e as Error).message))) throw e;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    }
  }
  await db.execute("PRAGMA synchronous = NORMAL");
  // checkpoint every ~40 MB of WAL instead of ~4 MB: each checkpoint fsyncs, and at thousands of commits
  // a second the default made them a visible share of every write (see bench/README.md)
  await db.execute("PRAGMA wal_autocheckpoint = 10000");
}

/** Applies the migrations of schema.ts not applied yet; returns their versions. */
async function migrate(db: Client): Promise<number[]> {
  await db.execute(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  const done = new Set(
    (await db.execute("SELECT version FROM schema_migrations")).rows.map((r) => Number(r.version)),
  );
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    try {
      await db.batch([
        ...m.statements,
        {
          sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
          args: [m.version, m.name, new Date().toISOString()],
        },
      ], "write");
    } catch (e) {
      // another process starting on the same database may have applied it first (its batch won the lock)
      const r = await db.execute({
        sql: "SELECT 1 FROM schema_migrations WHERE version = ?",
        args: [m.version],
      });
      if (r.rows.length) continue;
      throw e;
    }
    applied.push(m.version);
  }
  return applied;
}
