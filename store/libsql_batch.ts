/**
 * @module store/libsql_batch — a `CommitBatch` as SQL for one libSQL batch: one multi-row statement per
 * table for every room in the batch (each statement has a fixed cost in the driver), and one seq
 * compare-and-set for all rooms, whose guard aborts the whole batch if any room's seq moved.
 */
import type { InStatement } from "@libsql/client";
import type {
  CommitBatch,
  HistorySettingsRow,
  PresenceRow,
  PutRows,
  RoomRow,
  RoomWrite,
} from "./room_store.ts";
import { j, type JsonOf, jsonOnce, type Table, TABLES } from "./libsql_tables.ts";

/** Every table that holds a room's rows (rooms itself aside): what dropping a room deletes. */
const ROOM_TABLES = [...Object.values(TABLES).map((t) => t.name), "history_rooms", "webhook_outbox"];

/** SQLite's default limit on bound parameters is 32,766: statements stay below it. */
const MAX_ARGS = 30_000;

/** Rows of one table gathered from every room of the batch, in chunks of one statement each. */
class Upserts<R> {
  #chunks: { rows: number; args: unknown[] }[] = [];
  readonly #per: number;
  constructor(readonly table: Table<R>, readonly json: JsonOf) {
    this.#per = Math.max(1, Math.floor(MAX_ARGS / table.cols.length));
  }

  add(roomId: string, rows: R[]): void {
    for (const r of rows) {
      let c = this.#chunks[this.#chunks.length - 1];
      if (!c || c.rows >= this.#per) this.#chunks.push(c = { rows: 0, args: [] });
      this.table.encode(roomId, r, c.args, this.json);
      c.rows++;
    }
  }

  statements(out: InStatement[]): void {
    const { name, cols, key, insertOnly } = this.table;
    const ph = `(${cols.map(() => "?").join(",")})`;
    const updates = cols.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`).join(", ");
    const conflict = insertOnly
      ? ""
      : ` ON CONFLICT (${key.join(",")}) DO ${updates ? `UPDATE SET ${updates}` : "NOTHING"}`;
    for (const c of this.#chunks) {
      out.push({
        sql: `INSERT INTO ${name} (${cols.join(",")}) VALUES ${Array(c.rows).fill(ph).join(",")}${conflict}`,
        args: c.args as never,
      });
    }
  }
}

const ROOM_COLS = "(id, meta, created_at, token_hash, view_token_hash, seq, liveness_ms)";
const ROOM_PH = "(?, ?, ?, ?, ?, ?, ?)";
const roomArgs = (
  r: RoomRow,
) => [r.id, j(r.meta), r.created_at, r.token_hash, r.view_token_hash, r.seq, r.liveness_ms ?? null];

/** Where in the statement list the batch's answers are: created rooms' RETURNING rows, drop counts. */
export type BatchLayout = { creates: number[]; drops: Map<string, number> };

/** The statements of one batch, in order: drops, creates, per-room updates and deletes, seq guard, upserts. */
export function batchStatements(b: CommitBatch): { statements: InStatement[]; layout: BatchLayout } {
  const out: InStatement[] = [];
  const layout: BatchLayout = { creates: [], drops: new Map() };
  for (const id of b.drop ?? []) {
    for (const t of ROOM_TABLES) out.push({ sql: `DELETE FROM ${t} WHERE room_id = ?`, args: [id] });
    layout.drops.set(id, out.push({ sql: "DELETE FROM rooms WHERE id = ?", args: [id] }) - 1);
  }
  const creates = b.create ?? [];
  for (let i = 0; i < creates.length; i += 4000) {
    const chunk = creates.slice(i, i + 4000);
    layout.creates.push(out.length);
    out.push({
      sql: `INSERT INTO rooms ${ROOM_COLS} VALUES ${
        chunk.map(() => ROOM_PH).join(",")
      } ON CONFLICT (id) DO NOTHING RETURNING id`,
      args: chunk.flatMap(roomArgs) as never,
    });
  }
  if (b.restore) {
    out.push({
      sql: `INSERT INTO rooms ${ROOM_COLS} VALUES ${ROOM_PH}`,
      args: roomArgs(b.restore) as never,
    });
  }

  const seqs: unknown[] = [];
  const upserts = new Map<string, Upserts<unknown>>();
  const json = jsonOnce();
  const after: InStatement[] = [];
  for (const w of b.writes) {
    const id = w.room_id;
    if (w.seq) seqs.push(id, w.seq.from, w.seq.to);
    if (w.room) {
      out.push({
        sql: "UPDATE rooms SET meta = ?, view_token_hash = ?, liveness_ms = ? WHERE id = ?",
        args: [j(w.room.meta), w.room.view_token_hash, w.room.liveness_ms ?? null, id],
      });
    }
    for (const k of w.remove?.state ?? []) {
      out.push({
        sql: "DELETE FROM state WHERE room_id = ? AND scope = ? AND key = ?",
        args: [id, k.scope, k.key],
      });
    }
    for (const a of w.remove?.actions ?? []) {
      out.push({ sql: "DELETE FROM actions WHERE room_id = ? AND id = ?", args: [id, a] });
    }
    for (const v of w.remove?.views ?? []) {
      out.push({ sql: "DELETE FROM views WHERE room_id = ? AND id = ?", args: [id, v] });
    }
    for (const p of w.remove?.proposals ?? []) {
      out.push({ sql: "DELETE FROM proposals WHERE room_id = ? AND id = ?", args: [id, p] });
    }
    for (const h of w.remove?.webhooks ?? []) {
      out.push({ sql: "DELETE FROM webhooks WHERE room_id = ? AND id = ?", args: [id, h] });
    }
    for (const h of [...(w.remove?.webhooks ?? []), ...(w.remove?.outbox ?? [])]) {
      out.push({ sql: "DELETE FROM webhook_outbox WHERE room_id = ? AND webhook_id = ?", args: [id, h] });
    }
    // deleted and registered again: what it copied before is gone, it starts at its new registration
    for (const h of w.remove?.outbox ?? []) {
      out.push({ sql: "UPDATE webhooks SET staged_seq = NULL WHERE room_id = ? AND id = ?", args: [id, h] });
    }
    for (const h of w.rearm ?? []) {
      // registered again: what it has not copied yet stays due (its registration seq moves on)
      if (!w.remove?.outbox?.includes(h)) {
        out.push({
          sql: "UPDATE webhooks SET staged_seq = COALESCE(staged_seq, seq) WHERE room_id = ? AND id = ?",
          args: [id, h],
        });
      }
      out.push({
        sql: `UPDATE webhook_outbox SET next_at = 0, failures = 0, failing_since = NULL
              WHERE room_id = ? AND webhook_id = ? AND state = 'pending'`,
        args: [id, h],
      });
    }
    if (w.presence?.length) presenceStatements(id, w.presence, out);
    for (const name in w.put) {
      const rows = w.put[name as keyof PutRows];
      if (!rows?.length) continue;
      let u = upserts.get(name);
      if (!u) upserts.set(name, u = new Upserts(TABLES[name as keyof PutRows] as Table<unknown>, json));
      u.add(id, rows);
    }
    if (w.history_settings) out.push(historySettingsStatement(id, w.history_settings));
    if (w.history_trim) trimStatements(id, w.history_trim, after);
  }
  for (let i = 0; i < seqs.length; i += 15_000) {
    const chunk = seqs.slice(i, i + 15_000);
    const n = chunk.length / 3;
    out.push({
      sql: `UPDATE rooms SET seq = v.column3 FROM (VALUES ${Array(n).fill("(?,?,?)").join(",")}) AS v
            WHERE rooms.id = v.column1 AND rooms.seq = v.column2`,
      args: chunk as never,
    });
    // a room whose seq moved matched nothing: the CHECK fails and the whole batch rolls back
    out.push({ sql: "INSERT INTO commit_guard (ok) SELECT 0 WHERE changes() <> ?", args: [n] });
  }
  for (const t of Object.keys(TABLES)) upserts.get(t)?.statements(out);
  out.push(...after);
  return { statements: out, layout };
}

/** A room's retention, written by a commit; where its history begins is set only when the row is new. */
function historySettingsStatement(roomId: string, h: HistorySettingsRow): InStatement {
  return {
    sql: `INSERT INTO history_rooms (room_id, commits, max_age_ms, from_seq, from_ts) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (room_id) DO UPDATE SET commits = excluded.commits, max_age_ms = excluded.max_age_ms`,
    args: [roomId, h.commits, h.max_age_ms, h.from_seq, h.from_ts],
  };
}

/**
 * Trims a room's history to begin at commit `to`, finding what to delete from the headers of [from, to]
 * (their `writes`, by primary key): the versions that a write of [from, to] supersedes, then the deletions
 * of [from, to) (an absent key reads as deleted) and those headers. `from_seq` only moves forward, so two
 * processes trimming one room cannot widen what `at` may ask for.
 */
function trimStatements(roomId: string, t: NonNullable<RoomWrite["history_trim"]>, out: InStatement[]) {
  const written = (upTo: string) =>
    `SELECT w.value ->> 0 AS scope, w.value ->> 1 AS key, h.seq AS seq
     FROM history h, json_each(h.writes) w
     WHERE h.room_id = ?1 AND h.scope = '' AND h.key = '' AND h.seq >= ?2 AND h.seq ${upTo} ?3`;
  out.push({
    sql: `DELETE FROM history WHERE room_id = ?1 AND (scope, key, seq) IN (
            SELECT o.scope, o.key, o.seq FROM (SELECT scope, key, MAX(seq) AS top FROM (${written("<=")})
              WHERE scope <> '_messages' GROUP BY scope, key) t
            JOIN history o ON o.room_id = ?1 AND o.scope = t.scope AND o.key = t.key AND o.seq < t.top)`,
    args: [roomId, t.from, t.to],
  });
  // (the deletions are picked through the table itself: an IN list of plain json values would match by
  // scope and key only, scanning every version of a hot key)
  out.push({
    sql: `DELETE FROM history WHERE room_id = ?1 AND (scope, key, seq) IN (
            SELECT r.scope, r.key, r.seq FROM (${written("<")}) t CROSS JOIN history r
              ON r.room_id = ?1 AND r.scope = t.scope AND r.key = t.key AND r.seq = t.seq
            WHERE r.value IS NULL)`,
    args: [roomId, t.from, t.to],
  });
  out.push({
    sql: "DELETE FROM history WHERE room_id = ?1 AND scope = '' AND key = '' AND seq >= ?2 AND seq < ?3",
    args: [roomId, t.from, t.to],
  });
  out.push({
    sql: `INSERT INTO history_rooms (room_id, from_seq, from_ts) VALUES (?1, ?2, ?3)
          ON CONFLICT (room_id) DO UPDATE SET from_seq = MAX(from_seq, excluded.from_seq),
            from_ts = CASE WHEN excluded.from_seq > from_seq THEN excluded.from_ts ELSE from_ts END`,
    args: [roomId, t.to, t.to_ts],
  });
}

/** One statement for all of a room's presence rows (5,000 agents entering /wait were 5,000 statements). */
function presenceStatements(roomId: string, rows: PresenceRow[], out: InStatement[]) {
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000);
    const args: unknown[] = [];
    for (const p of chunk) args.push(p.id, p.status, p.last_heartbeat, p.last_seen_seq, p.last_seen);
    args.push(roomId);
    // signs of life only move forward: another process may have written a later one (ISO strings order as
    // the times they name; MAX of a NULL and a time is the time)
    out.push({
      sql: `UPDATE agents SET status = v.column2,
              last_heartbeat = NULLIF(MAX(COALESCE(last_heartbeat, ''), COALESCE(v.column3, '')), ''),
              last_seen_seq = MAX(last_seen_seq, v.column4),
              last_seen = NULLIF(MAX(COALESCE(last_seen, ''), COALESCE(v.column5, '')), '')
            FROM (VALUES ${
        Array(chunk.length).fill("(?,?,?,?,?)").join(",")
      }) AS v WHERE agents.room_id = ? AND agents.id = v.column1`,
      args: args as never,
    });
  }
}
