/**
 * @module engine/peers — whether other server processes use this database, found without configuration:
 * each process beats its row of the `peers` table about once a second (a timer, never a request), and a
 * process that arrives while others are alive waits until each has seen it before it serves anything.
 * While another process is alive the registry checks rooms against storage (registry.ts `fresh`). A row
 * of a process on this machine that no longer runs (killed) counts as gone at once.
 */
import { PEER_ALIVE_MS, PEER_BEAT_MS, PEER_JOIN_POLL_MS, type PeerMode } from "../config.ts";

/** A process's row as storage returns it (store/room_store.ts `PeerRow`). */
export type Peer = {
  id: string;
  joined: number;
  seen: number;
  beat_at: number;
  proc: string;
  up_since: number;
};

/** What the protocol needs of storage (store/room_store.ts `RoomStore` has it). */
export type PeerStore = {
  beatPeer(
    id: string,
    proc: string,
    now: number,
    aliveSince: number,
    forgetBefore: number,
    upSince?: number,
  ): Promise<{
    joined: number;
    peers: Peer[];
  }>;
  livePeers(id: string, aliveSince: number): Promise<Peer[]>;
  leavePeer(id: string): Promise<void>;
};

/** rows this much older than "gone" are removed by the next beat of anyone */
const FORGET_AFTER_MS = 10 * PEER_ALIVE_MS;

export class Peers {
  /** this process's row */
  readonly id = crypto.randomUUID();
  /** where this process runs, as its row says (`""` where that cannot be known) */
  readonly proc = whereAmI();
  readonly #store: PeerStore;
  readonly #mode: PeerMode;
  /** wall clock: rows are compared across processes */
  readonly #now: () => number;
  #alive = 0;
  #joined = 0;
  #upSince: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<unknown> = Promise.resolve();
  #stopped = false;
  /** told when the set of live peers goes from empty to not empty */
  onArrival: () => void = () => {};

  constructor(store: PeerStore, mode: PeerMode, now: () => number = Date.now) {
    this.#store = store;
    this.#mode = mode;
    this.#now = now;
    this.#upSince = now();
  }

  /**
   * Since when the service on this database has run without a break (wall clock, ms): the earliest of the
   * processes that were alive when this one arrived, or this process's own start when it arrived alone.
   */
  get upSince(): number {
    return this.#upSince;
  }

  /** Whether another process may change the database now: freshness checks are needed. */
  get shared(): boolean {
    return this.#mode === "shared" || this.#alive > 0;
  }

  /** Whether this process looks for others (a local file, `SYNC_PEER_POLL_MS` not 0). */
  get detecting(): boolean {
    return this.#mode === "detect";
  }

  /** How many other live processes the last beat found. */
  get alive(): number {
    return this.#alive;
  }

  /**
   * Registers this process and starts beating. When others are alive it resolves only once each of them
   * has seen this one (their freshness checks are then on) or has gone; `waiting` is told how many.
   */
  async start(waiting: (n: number) => void = () => {}): Promise<void> {
    if (this.#mode !== "detect" || this.#timer !== undefined) return;
    let peers = await this.#beat();
    // arriving while others serve: the service did not stop, so silence is counted from when they began
    for (const p of peers) {
      if (p.up_since > 0 && !this.#gone(p)) this.#upSince = Math.min(this.#upSince, p.up_since);
    }
    this.#schedule();
    const unaware = () => peers.filter((p) => p.seen < this.#joined && !this.#gone(p));
    if (unaware().length) waiting(unaware().length);
    while (unaware().length && !this.#stopped) {
      await new Promise((r) => setTimeout(r, PEER_JOIN_POLL_MS));
      peers = await this.#store.livePeers(this.id, this.#now() - PEER_ALIVE_MS);
    }
  }

  /** Stops beating and removes this process's row: the others stop checking once they see it gone. */
  async close(): Promise<void> {
    this.#stopped = true;
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating; // a beat still in flight would write the row again after the delete
    await this.#store.leavePeer(this.id).catch(() => {/* the row ages out */});
  }

  /**
   * A row of a process on this machine (same host and pid namespace) that no longer runs — its pid is
   * gone or now another process's — is a crash's leftover: not waited for, not counted.
   */
  #gone(p: Peer): boolean {
    if (!p.proc || !this.proc) return false;
    const [host, ns, pid, start] = p.proc.split(" ");
    const [myHost, myNs] = this.proc.split(" ");
    return host === myHost && ns === myNs && startTime(Number(pid)) !== start;
  }

  async #beat(): Promise<Peer[]> {
    const now = this.#now();
    const r = await this.#store.beatPeer(
      this.id,
      this.proc,
      now,
      now - PEER_ALIVE_MS,
      now - FORGET_AFTER_MS,
      this.#upSince,
    );
    this.#joined = r.joined;
    const before = this.#alive;
    this.#alive = r.peers.filter((p) => !this.#gone(p)).length;
    if (before === 0 && this.#alive > 0) this.onArrival();
    return r.peers;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      // storage failing: the last answer stands until a beat succeeds
      this.#beating = this.#beat().catch(() => {}).then(() => {
        if (!this.#stopped) this.#schedule();
      });
    }, PEER_BEAT_MS);
  }
}

/**
 * `host pidns pid start` of this process (Linux: the pid namespace and start time from /proc), or `""`
 * where they cannot be read (another OS, no permission): such a row ages out instead.
 */
function whereAmI(): string {
  try {
    const start = startTime(Deno.pid);
    return start ? [Deno.hostname(), Deno.readLinkSync("/proc/self/ns/pid"), Deno.pid, start].join(" ") : "";
  } catch {
    return "";
  }
}

/** The start time (clock ticks after boot) of process `pid`, or undefined when it does not run. */
function startTime(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
