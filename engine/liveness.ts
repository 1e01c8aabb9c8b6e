/**
 * @module engine/liveness — whether an agent is still there: its last sign of life (a call, or an open wait
 * or feed, which counts for as long as it is open) against the room's window, never taken as earlier than
 * the service's start (`rt.floor`). Pure over the room and `now`; presence.ts records the signs.
 */
import type { Limits } from "../config.ts";
import type { Agent } from "./model.ts";
import type { Room } from "./room.ts";

/** The room's liveness window: its own `liveness_ms`, or the server's SYNC_LIVENESS_MS. */
export function windowOf(room: Room, limits: Limits): number {
  return room.liveness_ms ?? limits.livenessMs;
}

/** An ISO time as ms; nothing (or garbage) is the beginning of time. */
export function isoMs(s: string | null | undefined): number {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? -Infinity : t;
}

/** Each agent's last sign of life parsed once per value (every commit asks for every agent's). */
const parsed = new WeakMap<Agent, { iso: string | null; ms: number }>();

/** The agent's recorded last sign of life (ms), whatever is open. */
export function lastSeenMs(a: Agent): number {
  const iso = a.last_seen ?? a.last_heartbeat;
  const hit = parsed.get(a);
  if (hit && hit.iso === iso) return hit.ms;
  const ms = isoMs(iso);
  parsed.set(a, { iso, ms });
  return ms;
}

/** The agent's last sign of life (ms): `now` while it has a wait or feed open; never before the floor. */
export function seenAt(room: Room, a: Agent, now: number): number {
  if (room.rt.isConnected(a.id)) return now;
  return Math.max(room.rt.floor, lastSeenMs(a));
}

/** Silent for the whole window, with nothing open. */
export function isAgentGone(room: Room, a: Agent, now: number, window: number): boolean {
  return !room.rt.isConnected(a.id) && now >= seenAt(room, a, now) + window;
}

/** The status readers see: `gone` for a silent agent, else the one it has. */
export function statusOf(room: Room, a: Agent, now: number, limits: Limits): string {
  return isAgentGone(room, a, now, windowOf(room, limits)) ? "gone" : a.status;
}

/** The agent's last sign of life as readers see it (ISO), or null if it never showed one. */
export function lastSeenOf(a: Agent): string | null {
  return a.last_seen ?? a.last_heartbeat;
}

/** The first moment after `now` at which an agent still there goes gone (Infinity: none will by itself). */
export function nextGoneAt(room: Room, now: number, window: number): number {
  let next = Infinity;
  for (const a of room.agents.values()) {
    if (room.rt.isConnected(a.id)) continue;
    const at = seenAt(room, a, now) + window;
    if (at > now && at < next) next = at;
  }
  return next;
}
