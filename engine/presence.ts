/**
 * @module engine/presence — signs of life and what readers see of them: `last_heartbeat`/`last_seen` on
 * every authenticated call, open waits and feeds as a sign that lasts while they are open (beaten into
 * `last_seen`), `waiting`/`waiting_on` while an agent blocks in /wait, read markers, and `gone` once an
 * agent is silent for the room's window (liveness.ts). Kept in memory and written lazily (no commit seq
 * bump); every change of what readers see goes through `presenceChanged`, which tells the watchers at once
 * (waiters whose condition reads `agents`, change feeds).
 */
import type { Caller } from "../auth.ts";
import { CONNECTION_BEAT_MAX_MS, CONNECTION_BEAT_MIN_MS, PRESENCE_REFRESH_MS } from "../config.ts";
import type { Engine } from "./engine.ts";
import { isAgentGone, lastSeenMs, nextGoneAt, windowOf } from "./liveness.ts";
import type { Agent } from "./model.ts";
import type { Room } from "./room.ts";
import { JOB } from "./scheduler.ts";
import { touchAgents } from "./snapshot.ts";

const NOOP = () => {};

/** Listens for presence changes of a room (told the agent's id); returns the unsubscribe. */
export function watchPresence(room: Room, fn: (agentId: string) => void): () => void {
  const set = room.rt.presenceWatchers;
  set.add(fn);
  return () => set.delete(fn);
}

/**
 * The one "presence changed" hook: an agent's status, `waiting_on` or liveness (it went `gone`, or came
 * back) moved without a commit. Whatever changes presence calls it once the agent record holds the new
 * state (a heartbeat that only moves `last_heartbeat` or `last_seen` does not): waiters reading `agents`
 * re-check, feeds send a `presence` event.
 */
export function presenceChanged(room: Room, agentId: string): void {
  touchAgents(room);
  if (room.rt.hasPresenceWatchers) { for (const fn of [...room.rt.presenceWatchers]) fn(agentId); }
}

/** A sign of life of `a` at `now`: both times move, and a `gone` agent is back. Returns whether it was gone. */
function seen(eng: Engine, room: Room, a: Agent, now: number, call: boolean): boolean {
  const back = isAgentGone(room, a, now, windowOf(room, eng.limits));
  const iso = new Date(now).toISOString();
  a.last_seen = iso;
  if (call) a.last_heartbeat = iso;
  room.rt.dirty.agent(a.id);
  eng.rooms.markLazy(room);
  return back;
}

/**
 * A call authenticated as an agent (not the room token acting as one) is a sign of life: it moves
 * `last_heartbeat` and `last_seen`, and brings a `gone` agent back. The status is the agent's own (join,
 * `_heartbeat`, a wait): a call, refused or not, never changes it.
 */
export function touch(eng: Engine, room: Room, caller: Caller): void {
  if (caller.kind !== "agent" || caller.viaRoomToken) return;
  const a = room.agents.get(caller.id);
  if (!a) return;
  if (seen(eng, room, a, eng.now(), true)) presenceChanged(room, a.id);
}

/**
 * A wait or feed opened with `caller`'s own token: the agent counts as seen for as long as it is open (and
 * its `last_seen` is beaten while it is). Returns the agent id to `disconnect` later, or undefined when
 * it does not count (the room or view token, the room token acting as an agent).
 */
export function connect(eng: Engine, room: Room, caller: Caller): string | undefined {
  if (caller.kind !== "agent" || caller.viaRoomToken) return undefined;
  const m = room.rt.connected;
  const n = m.get(caller.id) ?? 0;
  const a = room.agents.get(caller.id);
  const back = n === 0 && a !== undefined && seen(eng, room, a, eng.now(), false);
  m.set(caller.id, n + 1);
  if (back) presenceChanged(room, caller.id);
  if (n === 0) armBeat(eng, room);
  return caller.id;
}

/**
 * A wait or feed of `agentId` ended (`room` is the room it ended in). Its end is the agent's last sign of
 * life: the agent's leases may lapse and the agent may go gone from a window after it on.
 */
export function disconnect(eng: Engine, room: Room, agentId: string): void {
  const m = room.rt.connected;
  const n = (m.get(agentId) ?? 1) - 1;
  if (n > 0) return void m.set(agentId, n);
  m.delete(agentId);
  const a = room.agents.get(agentId);
  if (!a || !room.rt.alive) return;
  const now = eng.now();
  seen(eng, room, a, now, false);
  touchAgents(room);
  const rt = room.rt;
  rt.leaseDue = Math.min(rt.leaseDue, now + rt.minTtl);
  rt.earlier(JOB.leases, rt.leaseDue, now);
  rt.earlier(JOB.gone, now + windowOf(room, eng.limits), now);
}

/** How often open connections refresh `last_seen`: a quarter of the shortest window that depends on it. */
function beatEvery(eng: Engine, room: Room): number {
  const shortest = Math.min(windowOf(room, eng.limits), room.rt.minTtl);
  return Math.min(CONNECTION_BEAT_MAX_MS, Math.max(CONNECTION_BEAT_MIN_MS, Math.floor(shortest / 4)));
}

function armBeat(eng: Engine, room: Room): void {
  if (room.rt.scheduler.due(JOB.beat) !== undefined) return;
  const now = eng.now();
  room.rt.scheduler.set(JOB.beat, now + beatEvery(eng, room), now, () => beat(eng, room));
}

/**
 * The agents with a wait or feed open were seen just now. Alone, that only keeps `last_seen` current; with
 * other processes on the database it is written at once, so they see these agents alive too (their view
 * of a lease's holder comes from storage).
 */
function beat(eng: Engine, room: Room): void {
  const rt = room.rt;
  if (!rt.alive || !rt.connected.size) return;
  const iso = new Date(eng.now()).toISOString();
  for (const id of rt.connected.keys()) {
    const a = room.agents.get(id);
    if (!a) continue;
    a.last_seen = iso;
    rt.dirty.agent(id);
  }
  touchAgents(room);
  if (eng.rooms.shared) eng.rooms.commit(room).catch(NOOP);
  else eng.rooms.markLazy(room);
  armBeat(eng, room);
}

/**
 * While anyone listens to the room, its watchers of presence hear when an agent goes gone, at that moment
 * (and, with other processes on the database, its signs of life are re-read about once a second: an agent
 * may come back through another process).
 */
export function armGone(eng: Engine, room: Room): void {
  const rt = room.rt;
  // set already (it re-arms itself, and what makes someone gone sooner brings it forward: a wait ending,
  // a join, a shorter window): no scan per waiter
  if ((!rt.hasListeners && !rt.hasPresenceWatchers) || rt.scheduler.due(JOB.gone) !== undefined) return;
  const now = eng.now();
  let at = nextGoneAt(room, now, windowOf(room, eng.limits));
  if (eng.rooms.shared) at = Math.min(at, now + PRESENCE_REFRESH_MS);
  const since = now;
  rt.scheduler.set(JOB.gone, at, now, () => void goneTick(eng, room, since));
}

async function goneTick(eng: Engine, room: Room, since: number): Promise<void> {
  if (!room.rt.alive) return;
  if (eng.rooms.shared) await refreshSeen(eng, room).catch(NOOP);
  if (!room.rt.alive) return;
  const now = eng.now();
  const window = windowOf(room, eng.limits);
  for (const a of room.agents.values()) {
    if (room.rt.isConnected(a.id)) continue;
    const at = Math.max(room.rt.floor, lastSeenMs(a)) + window;
    if (at > since && at <= now) presenceChanged(room, a.id); // it went gone
  }
  armGone(eng, room);
}

/** Something made an agent's going gone sooner (a join, a shorter window): look again at `at`. */
export function goneSooner(room: Room, at: number, now: number): void {
  room.rt.earlier(JOB.gone, at, now);
}

/**
 * Merges the signs of life other processes wrote into memory (the later of each time wins) and tells the
 * watchers about agents that are back. Only needed while other processes share the database.
 */
export async function refreshSeen(eng: Engine, room: Room): Promise<void> {
  const rows = await eng.rooms.readSeen(room);
  if (!room.rt.alive) return;
  const now = eng.now();
  const window = windowOf(room, eng.limits);
  const back: string[] = [];
  for (const r of rows) {
    const a = room.agents.get(r.id);
    if (!a) continue;
    const wasGone = isAgentGone(room, a, now, window);
    if (r.last_seen !== null && (a.last_seen === null || r.last_seen > a.last_seen)) {
      a.last_seen = r.last_seen;
    }
    if (r.last_heartbeat !== null && (a.last_heartbeat === null || r.last_heartbeat > a.last_heartbeat)) {
      a.last_heartbeat = r.last_heartbeat;
    }
    if (wasGone && !isAgentGone(room, a, now, window)) back.push(a.id);
  }
  room.rt.seenReadAt = now;
  touchAgents(room);
  for (const id of back) presenceChanged(room, id);
}

/**
 * Before a read shows who is gone: with other processes on the database, an agent that looks gone here may
 * have been seen there — re-read the signs of life if they are older than PRESENCE_REFRESH_MS. Undefined
 * (nothing to wait for) on the common path.
 */
export function freshPresence(eng: Engine, room: Room): Promise<void> | undefined {
  if (!eng.rooms.shared) return undefined;
  const now = eng.now();
  if (now - room.rt.seenReadAt < PRESENCE_REFRESH_MS) return undefined;
  const window = windowOf(room, eng.limits);
  for (const a of room.agents.values()) {
    if (isAgentGone(room, a, now, window)) return refreshSeen(eng, room).catch(NOOP);
  }
  return undefined;
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
