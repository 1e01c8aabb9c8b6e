/**
 * @module store/libsql_history — the reads of a room's history on libSQL: timeline headers, rows by where
 * they are, one key's versions, the room at a commit (the latest row of each key at or before it, by
 * primary-key seeks), commit times for retention, and every row for an export. SQL only: no privacy.
 * Each read comes back as one JSON text spliced by SQLite (the driver's cost is per row it hands over).
 */
import type { Client, InValue } from "@libsql/client";
import type {
  CommitQuery,
  CommitRows,
  HistoryAt,
  HistoryKey,
  HistoryRow,
  HistoryStore,
} from "./history_store.ts";

const HEAD = "scope = '' AND key = ''";

/**
 * A row of table alias `t` as the text of a JSON array (scope, key, seq, version, deleted, value,
 * updated_at, timer, enabled, sort_key, writes), spliced together: the JSON columns are JSON already (this
 * server wrote them with JSON.stringify), so SQLite does not parse them again.
 */
export const rowJson = (t: string) =>
  `'[' || json_quote(${t}.scope) || ',' || json_quote(${t}.key) || ',' || ${t}.seq || ',' || ${t}.version || ','
     || (${t}.value IS NULL) || ',' || coalesce(${t}.value, 'null') || ',' || json_quote(${t}.updated_at) || ','
     || coalesce(${t}.timer, 'null') || ',' || json_quote(${t}.enabled) || ',' || coalesce(${t}.sort_key, 'null')
     || ',' || coalesce(${t}.writes, 'null') || ']'`;

/** Texts of JSON values as one JSON array's text (`[]` for none). */
export const list = (items: string, order = "") =>
  `coalesce('[' || group_concat(${items}, ','${order ? ` ORDER BY ${order}` : ""}) || ']', '[]')`;

export type RowArray = [
  string,
  string,
  number,
  number,
  number,
  unknown,
  string | null,
  unknown,
  string | null,
  number | null,
  [string, string][] | null,
];

export function rowOf(a: RowArray): HistoryRow {
  const out: HistoryRow = { scope: a[0], key: a[1], seq: a[2], version: a[3] };
  if (!a[4]) out.value = a[5];
  if (a[6] !== null) out.updated_at = a[6];
  if (a[7] !== null) out.timer = a[7];
  if (a[8] !== null) out.enabled = a[8];
  if (a[9] !== null) out.sort_key = a[9];
  if (a[10] !== null) out.writes = a[10];
  return out;
}

/**
 * Header `h` with the rows its `writes` name, as the text of a JSON array [header, [rows…]] (found by
 * primary key: CROSS JOIN keeps the planner from scanning the room's rows for them).
 */
export const commitJson = (h: string) =>
  `'[' || ${rowJson(h)} || ',' || (SELECT ${list(rowJson("r"))}
      FROM json_each(${h}.writes) x CROSS JOIN history r ON r.room_id = ${h}.room_id AND r.scope = x.value ->> 0
        AND r.key = x.value ->> 1 AND r.seq = ${h}.seq) || ']'`;

/** The JSON document of a one-row, one-column answer (`[]` when there are no rows). */
async function document<T>(db: Client, sql: string, args: InValue[]): Promise<T[]> {
  const r = await db.execute({ sql, args });
  const text = r.rows[0]?.[0];
  return text === null || text === undefined ? [] : JSON.parse(String(text));
}

/** `inner` selects `j` (a row's JSON) and `o` (its order) with any ORDER BY / LIMIT; rows come back in order. */
export const aggregate = (inner: string, desc = false) =>
  `SELECT ${list("j", `o ${desc ? "DESC" : "ASC"}`)} FROM (${inner})`;

export class LibsqlHistory implements HistoryStore {
  constructor(readonly db: Client) {}

  /**
   * Headers matching the query, each with the rows its `writes` name (found by primary key: CROSS JOIN
   * keeps the planner from scanning the room's rows for them), in one statement: a key's commits come from
   * its own rows, the others from the headers' range.
   */
  async readCommits(roomId: string, q: CommitQuery): Promise<CommitRows[]> {
    // ?1 the room, ?2 the page size; the filters' values follow
    const args: InValue[] = [roomId, q.limit];
    const arg = (v: InValue) => `?${args.push(v)}`;
    const where: string[] = [];
    if (q.after !== undefined) where.push(`h.seq > ${arg(q.after)}`);
    if (q.before !== undefined) where.push(`h.seq < ${arg(q.before)}`);
    // who and what: the header's, or an approved action's run inside the commit (`runs`)
    const by = (f: string, v: string) => {
      const x = arg(v);
      where.push(`(h.value ->> '$.${f}' = ${x} OR (h.value ->> '$.runs' IS NOT NULL AND EXISTS (
        SELECT 1 FROM json_each(h.value, '$.runs') r WHERE r.value ->> '$.${f}' = ${x})))`);
    };
    if (q.agent !== undefined) by("agent", q.agent);
    if (q.action !== undefined) by("action", q.action);
    const desc = q.order !== "asc";
    const order = desc ? "DESC" : "ASC";
    const commit = commitJson("h");
    let inner: string;
    if (q.scope !== undefined && q.key !== undefined && q.scope !== "_messages") {
      // a key's commits come from its own rows and its lease's (`#lease`, `scope/key`), each a page at most
      const and = where.map((x) => ` AND ${x}`).join("");
      const rowsOf = (scope: string, key: string) =>
        `SELECT seq FROM (SELECT w.seq AS seq FROM history w JOIN history h
           ON h.room_id = w.room_id AND h.scope = '' AND h.key = '' AND h.seq = w.seq
         WHERE w.room_id = ?1 AND w.scope = ${scope} AND w.key = ${key}${and} ORDER BY w.seq ${order} LIMIT ?2)`;
      const own = rowsOf(arg(q.scope), arg(q.key));
      const lease = rowsOf("'#lease'", arg(`${q.scope}/${q.key}`));
      inner = `SELECT ${commit} AS j, h.seq AS o FROM (${own} UNION ${lease}) u CROSS JOIN history h
                 ON h.room_id = ?1 AND h.scope = '' AND h.key = '' AND h.seq = u.seq ORDER BY h.seq ${order} LIMIT ?2`;
    } else {
      if (q.scope !== undefined) {
        // what a header says its commit wrote (messages have no rows of their own to be found by)
        const key = q.key !== undefined ? ` AND w.value ->> 1 = ${arg(q.key)}` : "";
        where.push(
          `EXISTS (SELECT 1 FROM json_each(h.writes) w WHERE w.value ->> 0 = ${arg(q.scope)}${key})`,
        );
      }
      inner = `SELECT ${commit} AS j, h.seq AS o FROM history h WHERE h.room_id = ?1 AND h.scope = ''
                 AND h.key = ''${where.map((x) => ` AND ${x}`).join("")} ORDER BY h.seq ${order} LIMIT ?2`;
    }
    const found = await document<[RowArray, RowArray[]]>(this.db, aggregate(inner, desc), args);
    return found.map(([h, rows]) => ({ head: rowOf(h), rows: rows.map(rowOf) }));
  }

  /** The rows at the given places, by primary key, in (seq, scope, key) order. */
  async readRows(roomId: string, keys: HistoryKey[]): Promise<HistoryRow[]> {
    const out: HistoryRow[] = [];
    for (let i = 0; i < keys.length; i += 3000) {
      const chunk = keys.slice(i, i + 3000);
      const rows = await document<RowArray>(
        this.db,
        `WITH t(scope, key, seq) AS (VALUES ${chunk.map(() => "(?, ?, ?)").join(",")})
         SELECT ${list(rowJson("h"), "h.seq, h.scope, h.key")}
         FROM t CROSS JOIN history h ON h.room_id = ? AND h.scope = t.scope AND h.key = t.key AND h.seq = t.seq`,
        [...chunk.flatMap((k) => [k.scope, k.key, k.seq]), roomId],
      );
      for (const r of rows) out.push(rowOf(r));
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
    const inner = `SELECT '[' || ${rowJson("v")} || ',' || coalesce(${
      rowJson("h")
    }, 'null') || ']' AS j, v.seq AS o
                   FROM history v LEFT JOIN history h ON h.room_id = v.room_id AND h.scope = '' AND h.key = ''
                     AND h.seq = v.seq
                   WHERE v.room_id = ? AND v.scope = ? AND v.key = ? AND v.seq < ? ORDER BY v.seq DESC LIMIT ?`;
    const found = await document<[RowArray, RowArray | null]>(this.db, aggregate(inner, true), [
      roomId,
      scope,
      key,
      before,
      limit,
    ]);
    return found.map(([v, h]) => (h === null ? { row: rowOf(v) } : { row: rowOf(v), head: rowOf(h) }));
  }

  /**
   * The room right after commit `seq`: the scopes are walked by index seeks (the smallest scope, then the
   * next after it, …), the keys of each likewise, and each key's latest row at or before `seq` is one more
   * seek — two seeks per key, however long the history (`_messages` has no rows: the
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
            SELECT ${
          list(`(
              SELECT ${rowJson("h")} FROM history h
              WHERE h.room_id = ?1 AND h.scope = k.scope AND h.key = k.key AND h.seq <= ?2
              ORDER BY h.seq DESC LIMIT 1)`)
        }
            FROM k
            WHERE k.key IS NOT NULL`,
        args: [roomId, seq],
      },
      {
        sql: `SELECT ${list(rowJson("h"))} FROM history h WHERE h.room_id = ? AND h.${HEAD} AND h.seq = ?`,
        args: [roomId, seq],
      },
      { sql: "SELECT from_seq FROM history_rooms WHERE room_id = ?", args: [roomId] },
    ], "read");
    // a key first written after the commit has no row then (null)
    const parse = (i: number) =>
      (JSON.parse(String(rs[i].rows[0][0])) as (RowArray | null)[]).filter((r) => r !== null).map(rowOf);
    const head = parse(1)[0];
    return { rows: parse(0), ...(head ? { head } : {}), from_seq: Number(rs[2].rows[0]?.from_seq ?? 0) };
  }

  async readCommitTimes(roomId: string, from: number, limit: number): Promise<{ seq: number; ts: string }[]> {
    const r = await this.db.execute({
      sql:
        `SELECT seq, updated_at FROM history WHERE room_id = ? AND ${HEAD} AND seq >= ? ORDER BY seq LIMIT ?`,
      args: [roomId, from, limit],
    });
    return r.rows.map((x) => ({ seq: Number(x.seq), ts: String(x.updated_at) }));
  }

  async readHistory(roomId: string, maxSeq: number): Promise<HistoryRow[]> {
    const rows = await document<RowArray>(
      this.db,
      `SELECT ${list(rowJson("h"), "h.scope, h.key, h.seq")} FROM history h
       WHERE h.room_id = ? AND h.seq <= ?`,
      [roomId, maxSeq],
    );
    return rows.map(rowOf);
  }
}
