/**
 * @module engine/presence — `last_heartbeat` on every authenticated call, `waiting`/`waiting_on` while an
 * agent blocks in /wait, and read markers. Kept in memory and written lazily (no commit seq bump); watchers
 * of presence (waiters whose condition reads `agents`, change feeds) are told at once.
 */
import type { Caller } from "../auth.ts";
import type { Engine } from "./engine.ts";
import type { Room } from "./room.ts";
import { touchAgents } from "./snapshot.ts";

/** Listens for presence changes of a room (told the agent's id); returns the unsubscribe. */
export function watchPresence(room: Room, fn: (agentId: string) => void): () => void {
  const set = room.rt.presenceWatchers;
  set.add(fn);
  return () => set.delete(fn);
}

/**
 * The one "presence changed" hook: an agent's status, `waiting_on` or liveness moved without a commit.
 * Whatever changes presence calls it once the agent record holds the new state (a heartbeat that only moves
 * `last_heartbeat` does not): waiters reading `agents` re-check, feeds send a `presence` event.
 */
export function presenceChanged(room: Room, agentId: string): void {
  touchAgents(room);
  if (room.rt.hasPresenceWatchers) { for (const fn of [...room.rt.presenceWatchers]) fn(agentId); }
}

/**
 * A call authenticated as an agent (not the room token acting as one) is a sign of life: it moves
 * `last_heartbeat` only. The status is the agent's own (join, `_heartbeat`, a wait): a call, refused or
 * not, never changes it.
 */
export function touch(eng: Engine, room: Room, caller: Caller): void {
  if (caller.kind !== "agent" || caller.viaRoomToken) return;
  const a = room.agents.get(caller.id);
  if (!a) return;
  a.last_heartbeat = new Date(eng.now()).toISOString();
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
}

/** Per agent: the status it had when its first blocked wait began (restored when the last one ends). */
const beforeWait = new WeakMap<Room, Map<string, string>>();

/**
 * Marks an agent waiting on `condition`, or (`null`) ends the wait: back to the status it had before, unless
 * something set another status meanwhile. Wakes watchers of presence.
 */
export function setWaiting(eng: Engine, room: Room, agentId: string, condition: string | null): void {
  const a = room.agents.get(agentId);
  if (!a) return;
  let saved = beforeWait.get(room);
  if (condition !== null) {
    if (a.status !== "waiting" || !saved?.has(agentId)) {
      if (!saved) beforeWait.set(room, saved = new Map());
      saved.set(agentId, a.status === "waiting" ? "active" : a.status);
    }
    a.status = "waiting";
    a.waiting_on = condition;
  } else {
    const was = saved?.get(agentId) ?? "active";
    saved?.delete(agentId);
    if (a.status === "waiting") a.status = was;
    a.waiting_on = null;
  }
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
  presenceChanged(room, agentId);
}

/** Reading messages moves the agent's read marker forward (never back). */
export function markRead(eng: Engine, room: Room, caller: Caller, upTo: number): void {
  // the room token reading as an agent (the dashboard's perspective) does not read for it
  if (caller.kind !== "agent" || caller.viaRoomToken) return;
  const a = room.agents.get(caller.id);
  if (!a || upTo <= a.last_seen_seq) return;
  a.last_seen_seq = upTo;
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
}
