/**
 * @module engine/presence — `last_heartbeat` on every authenticated call, `waiting`/`waiting_on` while an
 * agent blocks in /wait, and read markers. Kept in memory and written lazily (no commit seq bump); watchers
 * of presence (waiters whose condition reads `agents`) are told at once.
 */
import type { Caller } from "../auth.ts";
import type { Engine } from "./engine.ts";
import type { Room } from "./room.ts";
import { touchAgents } from "./snapshot.ts";

/** Listens for presence changes of a room; returns the unsubscribe. */
export function watchPresence(room: Room, fn: () => void): () => void {
  const set = room.rt.presenceWatchers;
  set.add(fn);
  return () => set.delete(fn);
}

function presenceChanged(room: Room): void {
  if (room.rt.hasPresenceWatchers) { for (const fn of [...room.rt.presenceWatchers]) fn(); }
}

/** A call authenticated as an agent (not the room token acting as one) is a sign of life. */
export function touch(eng: Engine, room: Room, caller: Caller): void {
  if (caller.kind !== "agent" || caller.viaRoomToken) return;
  const a = room.agents.get(caller.id);
  if (!a) return;
  a.last_heartbeat = new Date(eng.now()).toISOString();
  if (a.status === "idle" || a.status === "unknown") {
    a.status = "active";
    touchAgents(room);
    presenceChanged(room);
  }
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
}

/** Marks an agent waiting on `condition` (or back to active with `null`) and wakes watchers of presence. */
export function setWaiting(eng: Engine, room: Room, agentId: string, condition: string | null): void {
  const a = room.agents.get(agentId);
  if (!a) return;
  if (condition !== null) {
    a.status = "waiting";
    a.waiting_on = condition;
  } else if (a.status === "waiting") {
    a.status = "active";
    a.waiting_on = null;
  }
  touchAgents(room);
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
  presenceChanged(room);
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
