/**
 * @module store/db — opens the libSQL client (embedded file or remote URL) and applies migrations.
 * Only the pragmas assume a local file; everything else works against a libSQL server too.
 */
import { type Client, createClient } from "@libsql/client";
import { MIGRATIONS } from "../schema.ts";

export type Db = Client;

export async function openDb(url: string, authToken?: string): Promise<Db> {
  if (url.startsWith("file:")) {
    const path = url.slice("file:".length).split("?")[0];
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (dir) await Deno.mkdir(dir, { recursive: true });
  }
  // A local file gets one connection: the pragmas below are per connection (a pooled second one would run
  // without busy_timeout and fail at once with SQLITE_BUSY when another process holds the lock), and the
  // embedded driver runs every statement on this thread anyway. `timeout` is the busy timeout of each one.
  const local = url.startsWith("file:");
  const db = createClient({ url, authToken, ...(local ? { concurrency: 1, timeout: 5000 } : {}) });
  if (url.startsWith("file:")) {
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
  await migrate(db);
  return db;
}

export async function migrate(db: Db): Promise<number[]> {
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
