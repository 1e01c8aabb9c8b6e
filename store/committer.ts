/**
 * @module store/committer — group commit, the one way writes reach storage. Everything outstanding in one
 * turn of the event loop (room changes, new rooms, dropped rooms) becomes one `CommitBatch`; callers are
 * answered only after it committed, and listeners are woken in the macrotask after that, outside any
 * transaction. A failed batch fails every source it held. Knows sources only through `CommitHooks`.
 */
import { setImmediate } from "node:timers";
import { PRESENCE_WRITE_MS } from "../config.ts";
import { type CommitBatch, CommitError, type RoomRow, type RoomStore, type RoomWrite } from "./room_store.ts";

/** How the committer sees a source of writes (a room in memory); `S` stays opaque to it. */
export type CommitHooks<S> = {
  /** false once the source left memory: its outstanding writes fail as stale */
  live(s: S): boolean;
  /** what the source holds that storage does not, taken for this batch; undefined when nothing */
  take(s: S): RoomWrite | undefined;
  /** the write taken from it is durable (before its writers are answered) */
  committed(s: S, w: RoomWrite): void;
  /** after the writers were answered, in the next macrotask: wake the source's listeners */
  woken(s: S): void;
  /** the batch holding its write failed: nothing of it was written */
  failed(s: S): void;
};

export type CommitStats = {
  batches: number;
  statements: number;
  failures: number;
  latencies: number[];
  /** cumulative commit-latency histogram (ms): counts of batches at or under each bound, and the sum. */
  histogram: { bounds: number[]; counts: number[]; sum: number };
};

type Settle<T> = { resolve: (v: T) => void; reject: (e: Error) => void };
type Waiter<S> = Settle<void> & { source: S };

const LATENCY_BOUNDS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

export class Committer<S> {
  #store: RoomStore;
  #hooks: CommitHooks<S>;
  #dirty = new Set<S>();
  #waiters: Waiter<S>[] = [];
  #creates = new Map<string, Settle<boolean> & { row: RoomRow }>();
  #drops: (Settle<boolean> & { id: string })[] = [];
  #alone: (Settle<void> & { batch: CommitBatch })[] = [];
  #scheduled = false;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  readonly stats: CommitStats = {
    batches: 0,
    statements: 0,
    failures: 0,
    latencies: [],
    histogram: { bounds: LATENCY_BOUNDS_MS, counts: LATENCY_BOUNDS_MS.map(() => 0), sum: 0 },
  };

  constructor(store: RoomStore, hooks: CommitHooks<S>) {
    this.#store = store;
    this.#hooks = hooks;
  }

  /** Resolves once everything this source holds in memory now is durable. */
  submit(source: S): Promise<void> {
    this.#dirty.add(source);
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ source, resolve, reject }));
    this.#schedule();
    return p;
  }

  /**
   * A new room, written with the next batch (rooms created in one turn share one statement: a transaction
   * of their own per turn cost ~15 % of creation). Resolves false when the id exists.
   */
  create(row: RoomRow): Promise<boolean> {
    if (this.#creates.has(row.id)) return Promise.resolve(false);
    const p = new Promise<boolean>((resolve, reject) => this.#creates.set(row.id, { row, resolve, reject }));
    this.#schedule();
    return p;
  }

  /** Removes a room and every row it owns with the next batch; resolves false if it did not exist. */
  drop(id: string): Promise<boolean> {
    const p = new Promise<boolean>((resolve, reject) => this.#drops.push({ id, resolve, reject }));
    this.#schedule();
    return p;
  }

  /** A batch written in a transaction of its own, in turn with the others (a restored room's one write). */
  alone(batch: CommitBatch): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.#alone.push({ batch, resolve, reject }));
    this.#schedule();
    return p;
  }

  /** Presence and read markers: written with the next batch, or within PRESENCE_WRITE_MS. */
  markLazy(source: S): void {
    this.#dirty.add(source);
    if (this.#lazyTimer === undefined && !this.#scheduled) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        this.#schedule();
      }, PRESENCE_WRITE_MS);
    }
  }

  /** Writes everything outstanding (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.#running || this.#dirty.size || this.#scheduled || this.#hasAdmin()) {
      if (this.#running) await this.#running;
      // a batch scheduled but not started starts on the next macrotask: wait for it there. Flushing here
      // instead left `#scheduled` set, and a loop of already-resolved awaits never let that macrotask run
      else if (this.#scheduled) await new Promise((r) => setImmediate(r));
      else await this.#flush();
    }
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
  }

  #hasAdmin(): boolean {
    return this.#creates.size > 0 || this.#drops.length > 0 || this.#alone.length > 0;
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
    if ((this.#dirty.size && this.#waiters.length) || this.#hasAdmin()) this.#schedule();
    else if (this.#dirty.size) this.markLazy([...this.#dirty][0]);
  }

  async #flush(): Promise<void> {
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const alone = this.#alone.shift();
    if (alone) return await this.#write(alone.batch).then(() => alone.resolve(), alone.reject);
    const hooks = this.#hooks;
    const sources = [...this.#dirty];
    this.#dirty.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    const live: Waiter<S>[] = [];
    for (const w of waiters) {
      if (hooks.live(w.source)) live.push(w);
      else w.reject(new CommitError("the room was reloaded before this write was committed", "stale"));
    }
    const creates = [...this.#creates.values()];
    this.#creates.clear();
    const drops = this.#drops;
    this.#drops = [];
    const taken: S[] = [];
    const writes: RoomWrite[] = [];
    for (const s of sources) {
      if (!hooks.live(s)) continue;
      const w = hooks.take(s);
      if (!w) continue;
      taken.push(s);
      writes.push(w);
    }
    if (!writes.length && !creates.length && !drops.length) {
      for (const w of live) w.resolve();
      return;
    }
    let outcome;
    try {
      outcome = await this.#write({
        drop: drops.map((d) => d.id),
        create: creates.map((c) => c.row),
        writes,
      });
    } catch (e) {
      const err = e instanceof CommitError
        ? e
        : new CommitError(String((e as Error)?.message ?? e), "failed");
      for (const s of taken) hooks.failed(s);
      for (const x of [...live, ...creates, ...drops]) x.reject(err);
      return;
    }
    for (let i = 0; i < taken.length; i++) hooks.committed(taken[i], writes[i]);
    for (const w of live) w.resolve();
    for (const c of creates) c.resolve(outcome.created.has(c.row.id));
    for (const d of drops) d.resolve(outcome.dropped.has(d.id));
    // writers are answered first; waiters and feeds wake in the next macrotask (with 5,000 waiters the
    // writer's own response had waited for every one of them)
    if (taken.length) setImmediate(() => taken.forEach((s) => hooks.woken(s)));
  }

  /** One batch through the store, counted in the stats. */
  async #write(batch: CommitBatch) {
    const t0 = performance.now();
    try {
      const outcome = await this.#store.commit(batch);
      if (!outcome.statements) return outcome;
      const st = this.stats;
      st.batches++;
      st.statements += outcome.statements;
      const ms = performance.now() - t0;
      if (st.latencies.length < 10_000) st.latencies.push(ms);
      st.histogram.sum += ms;
      st.histogram.bounds.forEach((b, i) => ms <= b && st.histogram.counts[i]++);
      return outcome;
    } catch (e) {
      this.stats.failures++;
      throw e;
    }
  }
}
