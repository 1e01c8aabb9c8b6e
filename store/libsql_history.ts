/**
 * @module store/libsql_history — the reads of a room's history on libSQL: timeline headers, the rows of
 * given commits, one key's versions, the room at a commit (the latest row of each key at or before it, by
 * index seeks), commit times for retention, and every row for an export. SQL only: no privacy, no rules.
 */
import type { Client, InValue, Row } from "@libsql/client";
import type { CommitQuery, HistoryAt, HistoryRow, HistoryStore } from "./room_store.ts";

const HEAD = "scope = '' AND key = ''";
const COLS = "scope, key, seq, version, value, updated_at, timer, enabled, sort_key";

function rowOf(r: Row): HistoryRow {
  const out: HistoryRow = {
    scope: String(r.scope),
    key: String(r.key),
    seq: Number(r.seq),
    version: Number(r.version),
  };
  if (r.value !== null && r.value !== undefined) out.value = JSON.parse(String(r.value));
  if (r.updated_at !== null && r.updated_at !== undefined) out.updated_at = String(r.updated_at);
  if (r.timer !== null && r.timer !== undefined) out.timer = JSON.parse(String(r.timer));
  if (r.enabled !== null && r.enabled !== undefined) out.enabled = String(r.enabled);
  if (r.sort_key !== null && r.sort_key !== undefined) out.sort_key = Number(r.sort_key);
  return out;
}

export class LibsqlHistory implements HistoryStore {
  constructor(readonly db: Client) {}

  /** Headers matching the query: a key's commits come from its own rows, others from the headers' range. */
  async readCommits(roomId: string, q: CommitQuery): Promise<HistoryRow[]> {
    const where: string[] = [];
    const args: InValue[] = [roomId];
    if (q.after !== undefined) where.push("h.seq > ?"), args.push(q.after);
    if (q.before !== undefined) where.push("h.seq < ?"), args.push(q.before);
    if (q.agent !== undefined) where.push("json_extract(h.value, '$.agent') = ?"), args.push(q.agent);
    if (q.action !== undefined) where.push("json_extract(h.value, '$.action') = ?"), args.push(q.action);
    const order = q.order === "asc" ? "ASC" : "DESC";
    let sql: string;
    if (q.scope !== undefined && q.key !== undefined) {
      sql = `SELECT h.* FROM history w JOIN history h ON h.room_id = w.room_id AND h.scope = '' AND h.key = ''
             AND h.seq = w.seq
           WHERE w.room_id = ?1 AND w.scope = ? AND w.key = ? ${where.map((x) => `AND ${x}`).join(" ")}
           ORDER BY w.seq ${order} LIMIT ?`;
      args.splice(1, 0, q.scope, q.key);
    } else {
      if (q.scope !== undefined) {
        where.push("EXISTS (SELECT 1 FROM history w WHERE w.room_id = ?1 AND w.seq = h.seq AND w.scope = ?)");
        args.push(q.scope);
      }
      sql = `SELECT h.* FROM history h WHERE h.room_id = ?1 AND h.scope = '' AND h.key = '' ${
        where.map((x) => `AND ${x}`).join(" ")
      } ORDER BY h.seq ${order} LIMIT ?`;
    }
    args.push(q.limit);
    const r = await this.db.execute({ sql, args });
    return r.rows.map(rowOf);
  }

  /** The rows (headers aside) of the given commits, in seq order. */
  async readCommitWrites(roomId: string, seqs: number[]): Promise<HistoryRow[]> {
    if (!seqs.length) return [];
    const out: HistoryRow[] = [];
    for (let i = 0; i < seqs.length; i += 500) {
      const chunk = seqs.slice(i, i + 500);
      const r = await this.db.execute({
        sql: `SELECT ${COLS} FROM history WHERE room_id = ? AND seq IN (${chunk.map(() => "?").join(",")})
            AND scope <> '' ORDER BY seq, scope, key`,
        args: [roomId, ...chunk],
      });
      for (const row of r.rows) out.push(rowOf(row));
    }
    return out;
  }

  /** One key's versions before `before`, newest first, each with the header of its commit (if retained). */
  async readVersions(
    roomId: string,
    scope: string,
    key: string,
    before: number,
    limit: number,
  ): Promise<{ row: HistoryRow; head?: HistoryRow }[]> {
    const r = await this.db.execute({
      sql: `SELECT v.scope, v.key, v.seq, v.version, v.value, v.updated_at, v.timer, v.enabled, v.sort_key,
            h.value AS head, h.updated_at AS head_ts
          FROM history v LEFT JOIN history h ON h.room_id = v.room_id AND h.scope = '' AND h.key = ''
            AND h.seq = v.seq
          WHERE v.room_id = ? AND v.scope = ? AND v.key = ? AND v.seq < ? ORDER BY v.seq DESC LIMIT ?`,
      args: [roomId, scope, key, before, limit],
    });
    return r.rows.map((x) => {
      const row = rowOf(x);
      if (x.head === null || x.head === undefined) return { row };
      return {
        row,
        head: {
          scope: "",
          key: "",
          seq: row.seq,
          version: 0,
          value: JSON.parse(String(x.head)),
          updated_at: String(x.head_ts),
        },
      };
    });
  }

  /**
   * The room right after commit `seq`: the scopes are walked by index seeks (the smallest scope, then the
   * next after it, …), the keys of each likewise, and each key's latest row at or before `seq` is one more
   * seek — about three seeks per key, however long the history (`_messages` rows are not needed: the
   * messages carry their commits).
   */
  async readAt(roomId: string, seq: number): Promise<HistoryAt> {
    const rs = await this.db.batch([
      {
        sql: `WITH RECURSIVE
              s(scope) AS (
                SELECT (SELECT MIN(scope) FROM history WHERE room_id = ?1 AND scope > '')
                UNION ALL
                SELECT (SELECT MIN(scope) FROM history WHERE room_id = ?1 AND scope > s.scope)
                FROM s WHERE s.scope IS NOT NULL
              ),
              k(scope, key) AS (
                SELECT scope, (SELECT MIN(key) FROM history WHERE room_id = ?1 AND scope = s.scope)
                FROM s WHERE s.scope IS NOT NULL AND s.scope <> '_messages'
                UNION ALL
                SELECT scope, (SELECT MIN(key) FROM history WHERE room_id = ?1 AND scope = k.scope AND key > k.key)
                FROM k WHERE k.key IS NOT NULL
              )
            SELECT h.scope, h.key, h.seq, h.version, h.value, h.updated_at, h.timer, h.enabled, h.sort_key
            FROM k JOIN history h ON h.room_id = ?1 AND h.scope = k.scope AND h.key = k.key
              AND h.seq = (SELECT MAX(seq) FROM history
                           WHERE room_id = ?1 AND scope = k.scope AND key = k.key AND seq <= ?2)
            WHERE k.key IS NOT NULL`,
        args: [roomId, seq],
      },
      { sql: `SELECT ${COLS} FROM history WHERE room_id = ? AND ${HEAD} AND seq = ?`, args: [roomId, seq] },
      { sql: "SELECT from_seq FROM history_rooms WHERE room_id = ?", args: [roomId] },
    ], "read");
    const head = rs[1].rows[0];
    return {
      rows: rs[0].rows.map(rowOf),
      ...(head ? { head: rowOf(head) } : {}),
      from_seq: Number(rs[2].rows[0]?.from_seq ?? 0),
    };
  }

  async readCommitTimes(
    roomId: string,
    from: number,
    limit: number,
  ): Promise<{ seq: number; ts: string }[]> {
    const r = await this.db.execute({
      sql:
        `SELECT seq, updated_at FROM history WHERE room_id = ? AND ${HEAD} AND seq >= ? ORDER BY seq LIMIT ?`,
      args: [roomId, from, limit],
    });
    return r.rows.map((x) => ({ seq: Number(x.seq), ts: String(x.updated_at) }));
  }

  async readHistory(roomId: string, maxSeq: number): Promise<HistoryRow[]> {
    const r = await this.db.execute({
      sql: `SELECT ${COLS} FROM history WHERE room_id = ? AND seq <= ? ORDER BY scope, key, seq`,
      args: [roomId, maxSeq],
    });
    return r.rows.map(rowOf);
  }
}
