/**
 * @module store/history_store — a room's history as storage gives it back: its rows (written by a room's
 * commit, room_store.ts `PutRows.history`) and the `HistoryStore` reads over them.
 */

/**
 * One row of a room's history (schema.ts migration 6): a commit's header (scope and key '', its ts in
 * `updated_at`), or one thing the commit wrote (engine/history_rows.ts says which scope holds what).
 */
export type HistoryRow = {
  scope: string;
  key: string;
  seq: number;
  version: number;
  /** the JSON value; undefined for a deletion */
  value?: unknown;
  updated_at?: string | null;
  timer?: unknown;
  enabled?: string | null;
  sort_key?: number | null;
  /** a header's list of what its commit wrote: [scope, key] (["_messages", seq] for a message) */
  writes?: [string, string][];
  /** a header's webhooks the commit is due to (" w1 w2 "), written with it and never read back by history */
  hooks?: string;
  /** what those deliveries say beyond the history (JSON text), when anything */
  hook_meta?: string;
};

/** Where one history row is. */
export type HistoryKey = { scope: string; key: string; seq: number };

/** Timeline headers matching a query (engine/history.ts pages through them). */
export type CommitQuery = {
  after?: number;
  before?: number;
  order: "asc" | "desc";
  limit: number;
  agent?: string;
  action?: string;
  scope?: string;
  key?: string;
};

/** A commit's header and the rows it wrote (those its header names that are retained). */
export type CommitRows = { head: HistoryRow; rows: HistoryRow[] };

/** A room as it stood right after commit `seq`: the latest row of every key at or before it. */
export type HistoryAt = {
  /** the commit's header (absent where history begins without one) */
  head?: HistoryRow;
  rows: HistoryRow[];
  /** where storage says the history begins now (another process may have trimmed it) */
  from_seq: number;
};

/** The reads of a room's history; its rows are written by `commit` with the rest of a commit. */
export interface HistoryStore {
  /** Timeline headers matching the query, in its order, each with the rows of its commit. */
  readCommits(roomId: string, q: CommitQuery): Promise<CommitRows[]>;
  /** The rows at the given places (those that exist), in (seq, scope, key) order. */
  readRows(roomId: string, keys: HistoryKey[]): Promise<HistoryRow[]>;
  /** The retained versions of one key before `before`, newest first, each with its commit's header. */
  readVersions(
    roomId: string,
    scope: string,
    key: string,
    before: number,
    limit: number,
  ): Promise<{ row: HistoryRow; head?: HistoryRow }[]>;
  /** The room as it stood right after commit `seq`. */
  readAt(roomId: string, seq: number): Promise<HistoryAt>;
  /** Commit times from `from` on (at most `limit`), oldest first: where age-based retention cuts. */
  readCommitTimes(roomId: string, from: number, limit: number): Promise<{ seq: number; ts: string }[]>;
  /** Every history row up to `maxSeq`, in (scope, key, seq) order (export). */
  readHistory(roomId: string, maxSeq: number): Promise<HistoryRow[]>;
}
