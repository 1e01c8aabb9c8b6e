/**
 * @module store/libsql_file_writer — commit batches of an embedded database file, and the delivery loop's
 * statements, through one native libSQL connection whose statements are prepared once. `@libsql/client`
 * prepares every statement of every batch again (and probes each for rows by catching an exception): that
 * was about a third of a commit's CPU, and most of a webhook delivery's (its statements are long).
 */
import type { InStatement } from "@libsql/client";
import Database from "libsql";

type Statement = Database.Statement;
export type BatchResult = { rows: unknown[][]; changes: number };

/** Prepared statements kept: a batch's SQL texts repeat (one per table and row count). */
const CACHE_MAX = 512;

export class FileWriter {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, { stmt: Statement; reader: boolean }>();

  constructor(path: string) {
    this.#db = new Database(path, { timeout: 5000 });
    // the pragmas that are per connection (journal_mode is the file's: set by the client's connection)
    this.#db.exec("PRAGMA busy_timeout = 5000");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA wal_autocheckpoint = 10000");
  }

  /**
   * Runs the statements in one transaction (a write one: BEGIN IMMEDIATE … COMMIT; a read one sees one
   * snapshot); any failure rolls it back.
   */
  batch(statements: InStatement[], mode: "write" | "read" = "write"): BatchResult[] {
    const db = this.#db;
    const out: BatchResult[] = [];
    db.exec(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN");
    try {
      for (const s of statements) {
        const { sql, args } = typeof s === "string" ? { sql: s, args: [] } : s;
        const p = this.#prepared(sql);
        const values = sqlValues(args);
        if (p.reader) out.push({ rows: p.stmt.all(values) as unknown[][], changes: 0 });
        else out.push({ rows: [], changes: Number(p.stmt.run(values).changes) });
      }
      db.exec("COMMIT");
    } catch (e) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw e;
    }
    return out;
  }

  close(): void {
    this.#db.close();
  }

  #prepared(sql: string) {
    let p = this.#cache.get(sql);
    if (!p) {
      const stmt = this.#db.prepare(sql);
      const reader = stmt.reader;
      if (reader) stmt.raw(true);
      p = { stmt, reader };
      if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(sql, p);
    }
    return p;
  }
}

/** Booleans as 0/1, as the client binds them; everything else the encoders give is bound as it is. */
function sqlValues(args: unknown): unknown[] {
  if (args !== undefined && !Array.isArray(args)) throw new TypeError("named arguments are not used here");
  const a = (args ?? []) as unknown[];
  for (let i = 0; i < a.length; i++) if (typeof a[i] === "boolean") a[i] = a[i] ? 1 : 0;
  return a;
}
