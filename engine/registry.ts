/**
 * @module engine/registry — the rooms held in memory and the only holder of the store: rooms loaded on
 * first use and evicted when idle, every write through its one committer under one stale-commit policy,
 * listeners woken after commits, and — while other processes use the database (peers.ts) — rooms checked
 * against storage before use and watched while someone listens.
 */
import { ApiError } from "../errors.ts";
import { MAX_COMMIT_ATTEMPTS, MAX_ROOMS_IN_MEMORY, type PeerMode } from "../config.ts";
import { type CommitStats, Committer } from "../store/committer.ts";
import {
  type AuditQuery,
  type AuditRow,
  CommitError,
  type IdempotencyRow,
  type RoomHead,
  type RoomListing,
  type RoomStore,
  type SeenRow,
} from "../store/room_store.ts";
import type { HistoryStore } from "../store/history_store.ts";
import type { OutboxStore } from "../store/outbox_store.ts";
import type { Clock } from "../timers.ts";
import { Peers } from "./peers.ts";
import { roomFromRows, roomRow, takeWrite } from "./registry_rows.ts";
import type { Room } from "./room.ts";

export type RegistryOptions = {
  store: RoomStore;
  clock: Clock;
  /** how other processes are found (default `single`: none, no checks) */
  peers?: PeerMode;
  /** the watch interval of rooms with listeners while other processes are alive */
  peerPollMs?: number;
  maxRooms?: number;
  /** called for each room taken into memory (loaded or created): where a room's timed jobs are armed */
  adopted?: (room: Room) => void;
  /** after a room's commit is durable and its listeners were woken (retention.ts trims from here) */
  afterCommit?: (room: Room) => void;
};

/** rooms compared with storage in one statement */
const SEQ_CHUNK = 500;

const notFound = (id: string) =>
  new ApiError("room_not_found", `no room ${JSON.stringify(id)}`, { room: id });
const exists = (id: string) => new ApiError("room_exists", `room ${id} already exists`, { room: id });

/**
 * Storage holds something else than the room in memory, which has nothing of its own pending: another
 * process committed, deleted the room, or deleted it and created another under its id (the seqs may then
 * even agree).
 */
function moved(room: Room, head: RoomHead | undefined): boolean {
  return room.seq === room.rt.persistedSeq &&
    (head === undefined || head.seq !== room.rt.persistedSeq || head.token_hash !== room.token_hash);
}

export class RoomRegistry {
  readonly #store: RoomStore;
  readonly #clock: Clock;
  readonly #committer: Committer<Room>;
  readonly #rooms = new Map<string, Room>();
  readonly #loading = new Map<string, Promise<Room | undefined>>();
  readonly #maxRooms: number;
  readonly #peerPollMs: number;
  readonly #peers: Peers;
  readonly #adopted?: (room: Room) => void;
  #peerTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** since when silence counts (engine clock): see `upSince` */
  #upSince: number;
  /** told, once a batch is durable, which webhooks of a room got deliveries and which were registered again */
  onOutbox?: (roomId: string, added: string[], rearmed: string[]) => void;

  constructor(o: RegistryOptions) {
    this.#store = o.store;
    this.#clock = o.clock;
    this.#upSince = o.clock.now();
    this.#maxRooms = o.maxRooms ?? MAX_ROOMS_IN_MEMORY;
    this.#peerPollMs = o.peerPollMs ?? 100;
    this.#peers = new Peers(o.store, o.peers ?? "single");
    this.#adopted = o.adopted;
    this.#committer = new Committer<Room>(o.store, {
      live: (room) => room.rt.alive,
      take: takeWrite,
      committed: (room, w) => {
        if (!w.seq) return;
        room.rt.persistedSeq = w.seq.to;
        if (w.seq.to > room.rt.committedSeq) room.rt.committedSeq = w.seq.to;
        if (this.onOutbox && (w.hooked || w.rearm)) this.onOutbox(room.id, w.hooked ?? [], w.rearm ?? []);
      },
      woken: (room) => {
        this.notify(room);
        o.afterCommit?.(room);
      },
      failed: (room) => this.forget(room),
    });
  }

  get size(): number {
    return this.#rooms.size;
  }

  values(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  get commitStats(): CommitStats {
    return this.#committer.stats;
  }

  /** The room, loaded into memory if needed; `404 room_not_found` if it does not exist. */
  async get(id: string): Promise<Room> {
    const room = await this.find(id);
    if (!room) throw notFound(id);
    return room;
  }

  async find(id: string): Promise<Room | undefined> {
    const hit = this.#rooms.get(id);
    if (hit?.rt.alive) {
      hit.rt.lastUsed = this.#clock.now();
      return hit;
    }
    let p = this.#loading.get(id);
    if (!p) {
      p = this.#store.loadRoom(id).then((rows) => {
        if (!rows) return undefined;
        const room = roomFromRows(rows);
        this.#adopt(room);
        return room;
      }).finally(() => this.#loading.delete(id));
      this.#loading.set(id, p);
    }
    return await p;
  }

  /** Whether other processes may change the database now (peers.ts). */
  get shared(): boolean {
    return this.#peers.shared;
  }

  /** The room, checked against storage first when other processes may have changed it. */
  async fresh(id: string): Promise<Room> {
    const room = await this.get(id);
    if (!this.#peers.shared || room.seq !== room.rt.persistedSeq) return room;
    const head = (await this.#store.roomHeads([id])).get(id);
    if (head === undefined) {
      this.forget(room);
      throw notFound(id);
    }
    if (moved(room, head)) {
      this.forget(room);
      return await this.get(id);
    }
    return room;
  }

  /** As `fresh`, but undefined when the room no longer exists (background work on a room that may be gone). */
  async freshIfAny(id: string): Promise<Room | undefined> {
    try {
      return await this.fresh(id);
    } catch (e) {
      if (e instanceof ApiError && e.code === "room_not_found") return undefined;
      throw e;
    }
  }

  /**
   * The live room that took the place of `room` after it left memory (reloaded because another process
   * wrote, or after a failed batch): where a waiter or a feed follows it. `404 room_not_found` when the room
   * is gone, and when the room now under its id is another incarnation (deleted and re-created, here or by
   * another process): a listener never binds to a successor. (The one place that decides what a listener
   * may follow.)
   */
  async successor(room: Room): Promise<Room> {
    const next = await this.get(room.id);
    if (next.token_hash !== room.token_hash) throw notFound(room.id);
    return next;
  }

  /** Wakes listeners (waiters, change feeds) of a room: after a commit or a liveness change. */
  notify(room: Room): void {
    // hasListeners: allocates no Set for the many rooms nobody watches
    if (room.rt.hasListeners) { for (const l of [...room.rt.listeners]) l(); }
  }

  /** Drops a room from memory (a failed batch, a delete, a peer's write); listeners follow the reloaded one. */
  forget(room: Room): void {
    room.rt.alive = false;
    room.rt.dispose();
    if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
    this.notify(room);
  }

  /**
   * Since when the service has run without a break (engine clock): this process's start, or the start of
   * the processes it found serving the database when it arrived (peers.ts). Silence counts from here.
   */
  get upSince(): number {
    return this.#upSince;
  }

  #adopt(room: Room): void {
    room.rt.floor = this.upSince;
    room.rt.lastUsed = this.#clock.now();
    this.#rooms.set(room.id, room);
    if (this.#rooms.size > this.#maxRooms) this.#evictIdle();
    this.#adopted?.(room);
  }

  #evictIdle(): void {
    const idle = [...this.#rooms.values()]
      .filter((r) => !r.rt.hasListeners && !r.rt.holdsLeases && r.rt.clean && r.seq === r.rt.persistedSeq)
      .sort((a, b) => a.rt.lastUsed - b.rt.lastUsed);
    for (const r of idle.slice(0, Math.max(1, Math.floor(this.#rooms.size / 10)))) this.forget(r);
  }

  // ── writes: every one through the committer ──────────────────────────────────────────────────

  /** Resolves once everything the room holds in memory now is durable (rejects when its batch failed). */
  commit(room: Room): Promise<void> {
    return this.#committer.submit(room);
  }

  /** Presence and read markers: written with the next batch, or within a second. */
  markLazy(room: Room): void {
    this.#committer.markLazy(room);
  }

  /** Waits until what the room holds now is durable (reads of storage, answers that must not run ahead). */
  async settle(room: Room): Promise<void> {
    for (let i = 0; i < 10 && (room.rt.committedSeq < room.seq || room.rt.auditPending); i++) {
      await this.#committer.submit(room);
    }
  }

  /** Writes a new room and makes it the live one; `409 room_exists` when the id is taken. */
  async create(room: Room): Promise<void> {
    if (this.#rooms.get(room.id)?.rt.alive) throw exists(room.id);
    const row = roomRow(room);
    if (!(await this.retrying(() => this.#committer.create(row)))) throw exists(room.id);
    this.#adopt(room);
  }

  /** Writes a room built whole in memory (an import) in one transaction; `409 room_exists` when taken. */
  async restore(room: Room): Promise<void> {
    if (this.#rooms.get(room.id)?.rt.alive) throw exists(room.id);
    const write = takeWrite(room)!;
    await this.retrying(() => this.#committer.alone({ restore: roomRow(room, 0), writes: [write] }))
      .catch((e) => {
        throw e instanceof CommitError && e.reason === "exists" ? exists(room.id) : e;
      });
  }

  /** Deletes the room and every row it owns; its listeners are woken and find it gone. */
  async drop(room: Room): Promise<boolean> {
    const existed = await this.retrying(() => this.#committer.drop(room.id));
    this.forget(room);
    const again = this.#rooms.get(room.id);
    if (again) this.forget(again);
    return existed;
  }

  /**
   * The one stale-commit policy, for every write: a commit that lost a race with another process on the same
   * database (the room was reloaded) is worth another attempt on fresh state, after a short jittered back-off
   * — resolves then; throws anything else, and `500 write_failed` after MAX_COMMIT_ATTEMPTS attempts.
   */
  async backoff(e: unknown, attempt: number, what: Record<string, unknown> = {}): Promise<void> {
    if (!(e instanceof CommitError) || e.reason === "exists") throw e;
    if (attempt >= MAX_COMMIT_ATTEMPTS) {
      throw new ApiError("write_failed", "the write could not be committed; nothing was written", {
        ...what,
        detail: e.message,
      });
    }
    if (e.stale) await new Promise((r) => setTimeout(r, Math.random() * 2 ** Math.min(attempt - 1, 6)));
  }

  /** `attempt` under the stale-commit policy (writes off the hot path; invoke loops with `backoff` itself). */
  async retrying<T>(attempt: () => Promise<T>, what?: Record<string, unknown>): Promise<T> {
    for (let i = 1;; i++) {
      try {
        return await attempt();
      } catch (e) {
        await this.backoff(e, i, what);
      }
    }
  }

  /** Inside `retrying`: the room left memory meanwhile (another process wrote), so run again on fresh state. */
  assertLive(room: Room): void {
    if (!room.rt.alive) throw new CommitError("the room was reloaded", "stale");
  }

  // ── reads of storage ─────────────────────────────────────────────────────────────────────────

  /** The webhook outbox's bookkeeping (the delivery loop's claims and outcomes; listings). */
  get outbox(): OutboxStore {
    return this.#store.outbox;
  }

  readAudit(room: Room, q: AuditQuery): Promise<AuditRow[]> {
    return this.#store.readAudit(room.id, q);
  }

  /** The rooms' history (timeline, versions, the room at a commit); read after `settle`. */
  get history(): HistoryStore {
    return this.#store.history;
  }

  readReply(room: Room, identity: string, key: string, since: string): Promise<IdempotencyRow | undefined> {
    return this.#store.readReply(room.id, identity, key, since);
  }

  /** Every agent's signs of life as storage holds them (what other processes wrote). */
  readSeen(room: Room): Promise<SeenRow[]> {
    return this.#store.readSeen(room.id);
  }

  roomsForToken(tokenHash: string): Promise<RoomListing[]> {
    return this.#store.roomsForToken(tokenHash);
  }

  /** Resolves when storage answers within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#store.ping(),
        new Promise((_, reject) => timer = setTimeout(() => reject(new Error("timed out")), timeoutMs)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ── several processes on one database ────────────────────────────────────────────────────────

  /**
   * Joins the other processes on the database (peers.ts: resolves once each live one has seen this one;
   * `waiting` is told how many it waits for) and starts the watch: while another process is alive, rooms
   * with listeners are compared with storage every `peerPollMs` and a moved room is reloaded (its listeners
   * follow). When a first peer appears, every room in memory is compared once.
   */
  async startPeers(waiting?: (n: number) => void): Promise<void> {
    this.#peers.onArrival = () => void this.#recheck([...this.#rooms.values()]);
    await this.#peers.start(waiting);
    // the peers' clock is the wall clock; rooms count in the engine's
    this.#upSince = Math.min(this.#upSince, this.#clock.now() - (Date.now() - this.#peers.upSince));
    if (!this.#peers.shared && !this.#peers.detecting) return;
    if (this.#peerTimer !== undefined) return;
    const tick = async () => {
      if (this.#peers.shared) await this.#recheck([...this.#rooms.values()].filter((r) => r.rt.hasListeners));
      if (!this.#closed) this.#peerTimer = setTimeout(tick, this.#peerPollMs);
    };
    this.#peerTimer = setTimeout(tick, this.#peerPollMs);
  }

  /** Drops the rooms whose seq moved in storage (another process committed), that are gone or re-created. */
  async #recheck(rooms: Room[]): Promise<void> {
    const clean = rooms.filter((r) => r.seq === r.rt.persistedSeq);
    for (let i = 0; i < clean.length; i += SEQ_CHUNK) {
      const chunk = clean.slice(i, i + SEQ_CHUNK);
      try {
        const heads = await this.#store.roomHeads(chunk.map((r) => r.id));
        for (const r of chunk) {
          if (moved(r, heads.get(r.id))) this.forget(r); // moved, deleted or re-created
        }
      } catch { /* the next tick tries again */ }
    }
  }

  /** Writes everything outstanding. */
  drain(): Promise<void> {
    return this.#committer.drain();
  }

  /** Stops watching peers, writes everything outstanding, stops the rooms' timers, and leaves the peers. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#peerTimer !== undefined) clearTimeout(this.#peerTimer);
    await this.#committer.drain();
    for (const room of this.#rooms.values()) room.rt.dispose();
    await this.#peers.close();
    // no room's timer outlives the engine
    for (const room of this.#rooms.values()) room.rt.dispose();
  }
}
