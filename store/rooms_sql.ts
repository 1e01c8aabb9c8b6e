/**
 * @module store/rooms_sql — reading a whole room into memory, and turning a room's dirty set into SQL.
 * SQL only: no rules. The flush writes the current in-memory row of everything touched since last time.
 */
import type { InStatement } from "@libsql/client";
import type { Db } from "./db.ts";
import { type AuditRow, entryId, type Message, Room } from "../engine/model.ts";
import { indexMessage } from "../engine/messages.ts";

const j = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const pj = (s: unknown) => (s === null || s === undefined ? null : JSON.parse(String(s)));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export async function readRoomSeq(db: Db, ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!ids.length) return out;
  const r = await db.execute({
    sql: `SELECT id, seq FROM rooms WHERE id IN (${ids.map(() => "?").join(",")})`,
    args: ids,
  });
  for (const row of r.rows) out.set(String(row.id), Number(row.seq));
  return out;
}

/** Rooms a token belongs to (as room, view or agent token). */
export async function roomsForToken(
  db: Db,
  tokenHash: string,
): Promise<{ id: string; created_at: string; meta: unknown }[]> {
  const r = await db.execute({
    sql: `SELECT id, created_at, meta FROM rooms WHERE token_hash = ?1 OR view_token_hash = ?1
          OR id IN (SELECT room_id FROM agents WHERE token_hash = ?1) ORDER BY created_at`,
    args: [tokenHash],
  });
  return r.rows.map((x) => ({ id: String(x.id), created_at: String(x.created_at), meta: pj(x.meta) }));
}

/** Loads everything but the audit log (which is only counted). */
export async function loadRoom(db: Db, id: string): Promise<Room | undefined> {
  const rs = await db.batch([
    { sql: "SELECT * FROM rooms WHERE id = ?", args: [id] },
    { sql: "SELECT * FROM agents WHERE room_id = ?", args: [id] },
    { sql: "SELECT * FROM state WHERE room_id = ?", args: [id] },
    { sql: "SELECT * FROM actions WHERE room_id = ?", args: [id] },
    { sql: "SELECT * FROM views WHERE room_id = ? ORDER BY position", args: [id] },
    { sql: "SELECT * FROM messages WHERE room_id = ? ORDER BY seq", args: [id] },
    { sql: "SELECT COALESCE(MAX(seq), 0) AS m, COUNT(*) AS n FROM audit WHERE room_id = ?", args: [id] },
    { sql: "SELECT * FROM ticks WHERE room_id = ?", args: [id] },
  ], "read");
  const r = rs[0].rows[0];
  if (!r) return undefined;
  const room = new Room({
    id,
    meta: pj(r.meta),
    created_at: String(r.created_at),
    token_hash: String(r.token_hash),
    view_token_hash: String(r.view_token_hash),
    seq: Number(r.seq),
  });
  for (const a of rs[1].rows) {
    room.agents.set(String(a.id), {
      id: String(a.id),
      name: String(a.name),
      role: String(a.role),
      meta: pj(a.meta),
      grants: pj(a.grants) ?? [],
      token_hash: String(a.token_hash),
      joined_at: String(a.joined_at),
      status: String(a.status),
      waiting_on: null,
      last_heartbeat: a.last_heartbeat === null ? null : String(a.last_heartbeat),
      last_seen_seq: Number(a.last_seen_seq),
    });
    room.agentByToken.set(String(a.token_hash), String(a.id));
  }
  for (const s of rs[2].rows) {
    const value = String(s.value);
    room.scope(String(s.scope)).set(String(s.key), {
      scope: String(s.scope),
      key: String(s.key),
      value: JSON.parse(value),
      version: Number(s.version),
      updated_at: String(s.updated_at),
      timer: pj(s.timer),
      enabled: s.enabled === null ? null : String(s.enabled),
      sort_key: num(s.sort_key),
      seq: Number(s.seq),
      bytes: value.length,
    });
    room.entryCount++;
    room.storedBytes += value.length;
  }
  for (const a of rs[3].rows) room.actions.set(String(a.id), pj(a.def));
  for (const v of rs[4].rows) {
    room.views.set(String(v.id), pj(v.def));
    room.viewOrder.push(String(v.id));
  }
  for (const m of rs[5].rows) indexMessage(room, rowToMessage(m));
  room.auditSeq = Number(rs[6].rows[0].m);
  room.auditCount = Number(rs[6].rows[0].n);
  for (const t of rs[7].rows) room.ticks.set(String(t.target), Number(t.count));
  return room;
}

function rowToMessage(m: Record<string, unknown>): Message {
  return {
    seq: Number(m.seq),
    from: m.from_agent === null ? null : String(m.from_agent),
    kind: String(m.kind),
    body: pj(m.body),
    to: pj(m.to_agents),
    reply_to: num(m.reply_to),
    claimed_by: m.claimed_by === null ? null : String(m.claimed_by),
    claimed_at: m.claimed_at === null ? null : String(m.claimed_at),
    ts: String(m.ts),
    extra: pj(m.extra),
  };
}

/** Several new rooms in one statement; RETURNING names the ones inserted (an existing id is skipped). */
export function insertRoomsStatement(rooms: Room[]): InStatement {
  return {
    sql: `INSERT INTO rooms (id, meta, created_at, token_hash, view_token_hash, seq) VALUES ${
      rooms.map(() => "(?, ?, ?, ?, ?, ?)").join(",")
    } ON CONFLICT (id) DO NOTHING RETURNING id`,
    args: rooms.flatMap((r) => [r.id, j(r.meta), r.created_at, r.token_hash, r.view_token_hash, r.seq]),
  };
}

/** Multi-row INSERT … ON CONFLICT DO UPDATE in chunks: one statement amortises the driver's per-call cost. */
function upsertRows(
  table: string,
  cols: string[],
  conflict: string[],
  rows: unknown[][],
  out: InStatement[] | FlushAcc,
) {
  if (out instanceof FlushAcc) return out.add(table, cols, conflict, rows);
  const per = Math.max(1, Math.floor(30000 / cols.length));
  const updates = cols.filter((c) => !conflict.includes(c)).map((c) => `${c} = excluded.${c}`).join(", ");
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const ph = `(${cols.map(() => "?").join(",")})`;
    out.push({
      sql: `INSERT INTO ${table} (${cols.join(",")}) VALUES ${chunk.map(() => ph).join(",")} ON CONFLICT (${
        conflict.join(",")
      }) DO ${updates ? `UPDATE SET ${updates}` : "NOTHING"}`,
      args: chunk.flat() as never,
    });
  }
}

/**
 * Rows of several rooms gathered for one batch: one multi-row statement per table and one seq
 * compare-and-set for all rooms, instead of a handful of statements per room (the driver's cost is per
 * statement, about 80 µs). The guard still aborts the whole batch if any room's seq moved.
 */
export class FlushAcc {
  #tables = new Map<string, { cols: string[]; conflict: string[]; rows: unknown[][] }>();
  /** [room id, expected seq, new seq] */
  seqs: unknown[][] = [];

  add(table: string, cols: string[], conflict: string[], rows: unknown[][]): void {
    if (!rows.length) return;
    const t = this.#tables.get(table);
    if (t) t.rows.push(...rows);
    else this.#tables.set(table, { cols, conflict, rows: [...rows] });
  }

  finish(out: InStatement[]): void {
    for (let i = 0; i < this.seqs.length; i += 5000) {
      const chunk = this.seqs.slice(i, i + 5000);
      out.push({
        sql: `UPDATE rooms SET seq = v.column3 FROM (VALUES ${chunk.map(() => "(?,?,?)").join(",")}) AS v
              WHERE rooms.id = v.column1 AND rooms.seq = v.column2`,
        args: chunk.flat() as never,
      });
      out.push({ sql: "INSERT INTO commit_guard (ok) SELECT 0 WHERE changes() <> ?", args: [chunk.length] });
    }
    for (const [table, t] of this.#tables) upsertRows(table, t.cols, t.conflict, t.rows, out);
  }
}

function deleteRows(table: string, keyCols: string[], keys: unknown[][], out: InStatement[]) {
  for (const k of keys) {
    out.push({
      sql: `DELETE FROM ${table} WHERE ${keyCols.map((c) => `${c} = ?`).join(" AND ")}`,
      args: k as never,
    });
  }
}

/**
 * The statements that make the database equal to this room's memory for everything dirty, guarded by a
 * compare-and-set on the room's seq so a concurrent writer in another process aborts the whole batch.
 */
export function flushStatements(room: Room, out: InStatement[], acc?: FlushAcc): void {
  const d = room.dirty;
  const id = room.id;
  if (acc && room.seq !== room.persistedSeq) acc.seqs.push([id, room.persistedSeq, room.seq]);
  else if (room.seq !== room.persistedSeq) {
    out.push({
      sql: "UPDATE rooms SET seq = ? WHERE id = ? AND seq = ?",
      args: [room.seq, id, room.persistedSeq],
    });
    out.push("INSERT INTO commit_guard (ok) SELECT 0 WHERE changes() = 0");
  }
  if (d.room) {
    out.push({
      sql: "UPDATE rooms SET meta = ?, view_token_hash = ? WHERE id = ?",
      args: [j(room.meta), room.view_token_hash, id],
    });
  }
  const upserts: unknown[][] = [];
  const deletes: unknown[][] = [];
  for (const eid of d.entries) {
    const [scope, key] = eid.split("\u0000");
    const e = room.getEntry(scope, key);
    if (!e) deletes.push([id, scope, key]);
    else {
      upserts.push([
        id,
        scope,
        key,
        JSON.stringify(e.value),
        e.version,
        e.updated_at,
        j(e.timer),
        e.enabled,
        e.sort_key,
        e.seq,
      ]);
    }
  }
  deleteRows("state", ["room_id", "scope", "key"], deletes, out);
  upsertRows(
    "state",
    ["room_id", "scope", "key", "value", "version", "updated_at", "timer", "enabled", "sort_key", "seq"],
    ["room_id", "scope", "key"],
    upserts,
    acc ?? out,
  );
  const agents: unknown[][] = [];
  const presence: unknown[][] = [];
  for (const aid of d.agents) {
    const a = room.agents.get(aid);
    if (!a) continue;
    if (room.seq === room.persistedSeq) {
      // presence only (no commit, so no seq guard): touch nothing another process may have changed
      presence.push([a.id, a.status, a.last_heartbeat, a.last_seen_seq]);
      continue;
    }
    agents.push([
      id,
      a.id,
      a.name,
      a.role,
      j(a.meta),
      j(a.grants),
      a.token_hash,
      a.joined_at,
      a.status,
      a.last_heartbeat,
      a.last_seen_seq,
    ]);
  }
  // one statement for all of them (5,000 agents entering /wait were 5,000 statements, ~0.4 s)
  for (let i = 0; i < presence.length; i += 5000) {
    const chunk = presence.slice(i, i + 5000);
    out.push({
      sql:
        `UPDATE agents SET status = v.column2, last_heartbeat = v.column3, last_seen_seq = MAX(last_seen_seq, v.column4)
            FROM (VALUES ${
          chunk.map(() => "(?,?,?,?)").join(",")
        }) AS v WHERE agents.room_id = ? AND agents.id = v.column1`,
      args: [...chunk.flat(), id] as never,
    });
  }
  upsertRows(
    "agents",
    [
      "room_id",
      "id",
      "name",
      "role",
      "meta",
      "grants",
      "token_hash",
      "joined_at",
      "status",
      "last_heartbeat",
      "last_seen_seq",
    ],
    ["room_id", "id"],
    agents,
    acc ?? out,
  );
  const msgs: unknown[][] = [];
  for (const seq of d.messages) {
    const m = room.messages[seq - 1];
    if (!m) continue;
    msgs.push([
      id,
      m.seq,
      m.from,
      m.kind,
      j(m.body),
      j(m.to),
      m.reply_to,
      m.claimed_by,
      m.claimed_at,
      m.ts,
      j(m.extra),
    ]);
  }
  upsertRows(
    "messages",
    [
      "room_id",
      "seq",
      "from_agent",
      "kind",
      "body",
      "to_agents",
      "reply_to",
      "claimed_by",
      "claimed_at",
      "ts",
      "extra",
    ],
    ["room_id", "seq"],
    msgs,
    acc ?? out,
  );
  upsertRows(
    "audit",
    ["room_id", "seq", "ts", "agent", "action", "builtin", "params", "ok", "status", "error"],
    ["room_id", "seq"],
    d.audit.map((
      a: AuditRow,
    ) => [
      id,
      a.seq,
      a.ts,
      a.agent,
      a.action,
      a.builtin ? 1 : 0,
      j(a.params),
      a.ok ? 1 : 0,
      a.status,
      a.error,
    ]),
    acc ?? out,
  );
  upsertRows(
    "idempotency",
    ["room_id", "identity", "key", "status", "response", "created_at", "fingerprint"],
    ["room_id", "identity", "key"],
    d.idempotency.map((
      r,
    ) => [id, r.identity, r.key, r.status, JSON.stringify(r.body), r.created_at, r.fingerprint]),
    acc ?? out,
  );
  const actUp: unknown[][] = [];
  const actDel: unknown[][] = [];
  for (const aid of d.actions) {
    const a = room.actions.get(aid);
    if (a) actUp.push([id, aid, JSON.stringify(a)]);
    else actDel.push([id, aid]);
  }
  deleteRows("actions", ["room_id", "id"], actDel, out);
  upsertRows("actions", ["room_id", "id", "def"], ["room_id", "id"], actUp, acc ?? out);
  const viewUp: unknown[][] = [];
  const viewDel: unknown[][] = [];
  for (const vid of d.views) {
    const v = room.views.get(vid);
    if (v) viewUp.push([id, vid, JSON.stringify(v), room.viewOrder.indexOf(vid)]);
    else viewDel.push([id, vid]);
  }
  deleteRows("views", ["room_id", "id"], viewDel, out);
  upsertRows("views", ["room_id", "id", "def", "position"], ["room_id", "id"], viewUp, acc ?? out);
  upsertRows(
    "ticks",
    ["room_id", "target", "count"],
    ["room_id", "target"],
    [...d.ticks].map((t) => [id, t, room.tick(t)]),
    acc ?? out,
  );
}

export function hasDirty(room: Room): boolean {
  // isEmpty allocates none of the lazily created dirty sets
  return room.seq !== room.persistedSeq || !room.clean;
}

export async function readAudit(
  db: Db,
  roomId: string,
  opts: { agent?: string; limit: number; after?: number },
): Promise<AuditRow[]> {
  const where = ["room_id = ?"];
  const args: (string | number)[] = [roomId];
  if (opts.agent !== undefined) {
    where.push("agent = ?");
    args.push(opts.agent);
  }
  if (opts.after !== undefined) {
    where.push("seq > ?");
    args.push(opts.after);
  }
  const r = await db.execute({
    sql: `SELECT * FROM (SELECT * FROM audit WHERE ${
      where.join(" AND ")
    } ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
    args: [...args, opts.limit],
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
    error: a.error === null ? null : String(a.error),
  }));
}

export { entryId };

export async function readReply(db: Db, roomId: string, identity: string, key: string, since: string) {
  const r = await db.execute({
    sql:
      "SELECT status, response, created_at, fingerprint FROM idempotency WHERE room_id = ? AND identity = ? AND key = ? AND created_at > ?",
    args: [roomId, identity, key, since],
  });
  const row = r.rows[0];
  return row
    ? {
      identity,
      key,
      status: Number(row.status),
      body: JSON.parse(String(row.response)),
      created_at: String(row.created_at),
      fingerprint: String(row.fingerprint),
    }
    : undefined;
}
