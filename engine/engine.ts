/**
 * @module engine/engine — the engine's shared parts: the database, the committer, the rooms held in
 * memory (loaded on first use, evicted when idle), the clock and the limits. No HTTP here.
 */
import { ApiError } from "../errors.ts";
import type { Limits } from "../config.ts";
import type { Db } from "../store/db.ts";
import { Committer } from "../store/committer.ts";
import { hasDirty, loadRoom, readRoomSeq } from "../store/rooms_sql.ts";
import type { Clock } from "../timers.ts";
import type { Room } from "./model.ts";

export type EngineOptions = { db: Db; limits: Limits; clock: Clock; peerPollMs?: number; maxRooms?: number };

export class Engine {
  readonly db: Db;
  readonly limits: Limits;
  readonly clock: Clock;
  readonly committer: Committer;
  readonly rooms = new Map<string, Room>();
  #loading = new Map<string, Promise<Room | undefined>>();
  #maxRooms: number;
  #peerTimer: ReturnType<typeof setTimeout> | undefined;
  #peerPollMs: number;
  closing = false;

  constructor(o: EngineOptions) {
    this.db = o.db;
    this.limits = o.limits;
    this.clock = o.clock;
    this.#maxRooms = o.maxRooms ?? 20_000;
    this.#peerPollMs = o.peerPollMs ?? 0;
    this.committer = new Committer(o.db, {
      onInvalidate: (room) => this.#forget(room),
      onCommitted: (room) => this.notify(room),
    });
  }

  now(): number {
    return this.clock.now();
  }

  /** The room, loaded into memory if needed; `404 room_not_found` if it does not exist. */
  async room(id: string): Promise<Room> {
    const room = await this.findRoom(id);
    if (!room) throw new ApiError("room_not_found", `no room ${JSON.stringify(id)}`, { room: id });
    return room;
  }

  async findRoom(id: string): Promise<Room | undefined> {
    const hit = this.rooms.get(id);
    if (hit?.alive) {
      hit.lastUsed = this.now();
      return hit;
    }
    let p = this.#loading.get(id);
    if (!p) {
      p = loadRoom(this.db, id).then((room) => {
        if (room) this.adopt(room);
        return room;
      }).finally(() => this.#loading.delete(id));
      this.#loading.set(id, p);
    }
    return await p;
  }

  /** Makes a freshly created or loaded room the live one. */
  adopt(room: Room): void {
    room.lastUsed = this.now();
    this.rooms.set(room.id, room);
    if (this.rooms.size > this.#maxRooms) this.#evictIdle();
  }

  /** Wakes listeners (waiters, change feeds) of a room: after a commit or a liveness change. */
  notify(room: Room): void {
    // hasListeners: allocates no Set for the many rooms nobody watches
    if (room.hasListeners) { for (const l of [...room.listeners]) l(); }
  }

  /** Drops a room from memory (after a failed batch or a delete); listeners re-attach to the reloaded one. */
  #forget(room: Room): void {
    room.alive = false;
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
    this.notify(room);
  }

  invalidate(room: Room): void {
    this.#forget(room);
  }

  #evictIdle(): void {
    const idle = [...this.rooms.values()]
      .filter((r) => !r.hasListeners && !hasDirty(r))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const r of idle.slice(0, Math.max(1, Math.floor(this.rooms.size / 10)))) this.#forget(r);
  }

  /**
   * With several processes on one database, a room this process holds may be changed by another. While a
   * room has listeners, its seq is compared with the database's every `peerPollMs` and a moved room reloaded.
   */
  startPeerWatch(): void {
    if (!this.#peerPollMs || this.#peerTimer !== undefined) return;
    const tick = async () => {
      const watched = [...this.rooms.values()].filter((r) => r.hasListeners && r.seq === r.persistedSeq);
      if (watched.length) {
        try {
          const seqs = await readRoomSeq(this.db, watched.map((r) => r.id));
          for (const r of watched) {
            const s = seqs.get(r.id);
            if (s !== r.persistedSeq && r.seq === r.persistedSeq) this.#forget(r); // moved or deleted
          }
        } catch { /* the next tick tries again */ }
      }
      if (!this.closing) this.#peerTimer = setTimeout(tick, this.#peerPollMs);
    };
    this.#peerTimer = setTimeout(tick, this.#peerPollMs);
  }

  /** Checks a room against the database before a write when several processes share it. */
  async freshRoom(id: string): Promise<Room> {
    const room = await this.room(id);
    if (!this.#peerPollMs || room.seq !== room.persistedSeq) return room;
    const seqs = await readRoomSeq(this.db, [id]);
    const s = seqs.get(id);
    if (s === undefined) {
      this.#forget(room);
      throw new ApiError("room_not_found", `no room ${JSON.stringify(id)}`, { room: id });
    }
    if (s !== room.persistedSeq && room.seq === room.persistedSeq) {
      this.#forget(room);
      return await this.room(id);
    }
    return room;
  }

  #shutdownHooks = new Set<() => void>();

  /** Long-lived streams register here so a shutdown can end them. */
  onShutdown(fn: () => void): () => void {
    if (this.closing) {
      queueMicrotask(fn); // registered after the hooks ran: end it at once
      return () => {};
    }
    this.#shutdownHooks.add(fn);
    return () => this.#shutdownHooks.delete(fn);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const fn of this.#shutdownHooks) fn();
    this.#shutdownHooks.clear();
    if (this.#peerTimer !== undefined) clearTimeout(this.#peerTimer);
    await this.committer.drain();
  }
}
