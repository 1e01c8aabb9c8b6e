/**
 * @module store/committer — group commit. Every room that changed since the last flush is written in one
 * libSQL batch (multi-row statements); callers are answered only after that batch has committed.
 * After-commit listeners run outside any transaction. A failed batch invalidates the rooms it held.
 */
import type { InStatement, ResultSet } from "@libsql/client";
import { setImmediate } from "node:timers";
import type { Db } from "./db.ts";
import type { Room } from "../engine/model.ts";
import { FlushAcc, flushStatements, hasDirty } from "./rooms_sql.ts";
import { newDirty } from "../engine/model.ts";

/** A batch failed: nothing in it was written. `stale` when another process moved a room's seq. */
export class CommitError extends Error {
  constructor(message: string, readonly stale: boolean) {
    super(message);
  }
}

type Waiter = { room: Room; seq: number; resolve: () => void; reject: (e: Error) => void };
type Extra = { build: () => InStatement[]; resolve: (rs: ResultSet[]) => void; reject: (e: Error) => void };

export type CommitStats = {
  batches: number;
  statements: number;
  failures: number;
  latencies: number[];
  /** cumulative commit-latency histogram (ms): counts of batches at or under each bound, and the sum. */
  histogram: { bounds: number[]; counts: number[]; sum: number };
};

const LATENCY_BOUNDS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

export class Committer {
  #db: Db;
  #dirty = new Set<Room>();
  #waiters: Waiter[] = [];
  #extra: Extra[] = [];
  #scheduled = false;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #onInvalidate: (room: Room) => void;
  #onCommitted: (room: Room) => void;
  stats: CommitStats = {
    batches: 0,
    statements: 0,
    failures: 0,
    latencies: [],
    histogram: { bounds: LATENCY_BOUNDS_MS, counts: LATENCY_BOUNDS_MS.map(() => 0), sum: 0 },
  };

  constructor(db: Db, hooks: { onInvalidate(room: Room): void; onCommitted(room: Room): void }) {
    this.#db = db;
    this.#onInvalidate = hooks.onInvalidate;
    this.#onCommitted = hooks.onCommitted;
  }

  /** Resolves once everything this room holds in memory now is durable. */
  submit(room: Room): Promise<void> {
    this.#dirty.add(room);
    const p = new Promise<void>((resolve, reject) =>
      this.#waiters.push({ room, seq: room.seq, resolve, reject })
    );
    this.#schedule();
    return p;
  }

  /**
   * Statements written at the head of the next batch (built when it is assembled); resolves with their
   * results after the commit. Room creation uses it: a transaction of its own per turn cost ~15 % of it.
   */
  include(build: () => InStatement[]): Promise<ResultSet[]> {
    const p = new Promise<ResultSet[]>((resolve, reject) => this.#extra.push({ build, resolve, reject }));
    this.#schedule();
    return p;
  }

  /** Presence and read markers: written with the next batch, or within a second. */
  markLazy(room: Room): void {
    this.#dirty.add(room);
    if (this.#lazyTimer === undefined && !this.#scheduled) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        this.#schedule();
      }, 1000);
    }
  }

  /** Writes everything outstanding (used at shutdown and by tests). */
  async drain(): Promise<void> {
    while (this.#running || this.#dirty.size || this.#scheduled || this.#extra.length) {
      if (this.#running) await this.#running;
      else await this.#flush();
    }
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
  }

  #schedule() {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    // A macrotask, not a microtask: requests already read by the event loop join this batch. setImmediate
    // (after this turn's I/O) rather than setTimeout(0), which Deno delays by 1–2 ms: one client's write
    // waited that long for nothing, and at c16 the server sat idle between batches.
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#running) {
        this.#running = this.#flush().finally(() => (this.#running = null, this.#afterRun()));
      }
    });
  }

  #afterRun() {
    if ((this.#dirty.size && this.#waiters.length) || this.#extra.length) this.#schedule();
    else if (this.#dirty.size) this.markLazy([...this.#dirty][0]);
  }

  async #flush(): Promise<void> {
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const rooms = [...this.#dirty].filter((r) => r.alive);
    this.#dirty.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (!w.room.alive) {
        w.reject(new CommitError("the room was reloaded before this write was committed", true));
      }
    }
    const live = waiters.filter((w) => w.room.alive);
    const extra = this.#extra;
    this.#extra = [];
    const statements: InStatement[] = [];
    const extraEnds = extra.map((x) => statements.push(...x.build()));
    const built = new Map<Room, number>();
    const acc = new FlushAcc();
    for (const room of rooms) {
      if (!hasDirty(room)) continue;
      flushStatements(room, statements, acc);
      built.set(room, room.seq);
      room.dirty = newDirty();
    }
    acc.finish(statements);
    if (!statements.length) {
      for (const w of live) w.resolve();
      for (const x of extra) x.resolve([]);
      return;
    }
    const t0 = performance.now();
    let results: ResultSet[];
    try {
      results = await this.#db.batch(statements, "write");
    } catch (e) {
      const msg = String((e as Error)?.message ?? e);
      const stale = msg.includes("CHECK constraint failed");
      this.stats.failures++;
      for (const room of built.keys()) {
        room.alive = false;
        this.#onInvalidate(room);
      }
      const err = new CommitError(stale ? "another process changed the room first" : msg, stale);
      for (const w of live) w.reject(err);
      for (const x of extra) x.reject(err);
      return;
    }
    this.stats.batches++;
    this.stats.statements += statements.length;
    const ms = performance.now() - t0;
    if (this.stats.latencies.length < 10_000) this.stats.latencies.push(ms);
    const h = this.stats.histogram;
    h.sum += ms;
    h.bounds.forEach((b, i) => ms <= b && h.counts[i]++);
    for (const [room, seq] of built) {
      room.persistedSeq = seq;
      if (seq > room.committedSeq) room.committedSeq = seq;
    }
    for (const w of live) w.resolve();
    extra.forEach((x, i) => x.resolve(results.slice(i ? extraEnds[i - 1] : 0, extraEnds[i])));
    // writers are answered first; waiters and feeds wake in the next macrotask (with 5,000 waiters the
    // writer's own response had waited for every one of them)
    const committed = [...built.keys()];
    setImmediate(() => {
      for (const room of committed) this.#onCommitted(room);
    });
  }
}
