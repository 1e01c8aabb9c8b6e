/**
 * @module timers — pure timer maths (reference/api.md#_set_state: `timer`). `now` is always passed in, so tests inject a clock.
 * `delete`: live now, gone at expiry. `enable`: dormant now, live at expiry.
 */
import { z } from "zod";
import { ApiError, fromZod } from "./errors.ts";

export const TimerSpec = z.strictObject({
  ms: z.number().int().positive().max(365 * 24 * 3600 * 1000).optional(),
  at: z.string().optional(),
  ticks: z.number().int().positive().max(1_000_000_000).optional(),
  tick_on: z.string().min(1).max(400).optional(),
  effect: z.enum(["delete", "enable"]).default("delete"),
});
export type TimerSpec = z.infer<typeof TimerSpec>;

/** A started timer: the spec plus the moment (wall clock) or tick count at which it fires. */
export type Timer = TimerSpec & { expires_at?: string; expires_tick?: number; started_at?: string };

export type Clock = { now(): number };
export const systemClock: Clock = { now: () => Date.now() };

/** Reads the current tick count of a `tick_on` target ("scope.key"). */
export type TickReader = (target: string) => number;

/** Validates a timer spec and starts it at `now` / the current tick of its target. */
export function startTimer(spec: unknown, now: number, ticks: TickReader, field = "timer"): Timer {
  const parsed = TimerSpec.safeParse(spec);
  if (!parsed.success) throw fromZod(parsed.error, "invalid_timer", field);
  const t = parsed.data;
  const kinds = [t.ms !== undefined, t.at !== undefined, t.ticks !== undefined].filter(Boolean).length;
  if (kinds !== 1) {
    throw new ApiError("invalid_timer", `${field} needs exactly one of ms, at or ticks`, { field });
  }
  if (t.ticks !== undefined) {
    if (!t.tick_on || !parseTarget(t.tick_on)) {
      throw new ApiError("invalid_timer", `${field}.tick_on must name a state key as "scope.key"`, { field });
    }
    return { ...t, expires_tick: ticks(t.tick_on) + t.ticks };
  }
  if (t.tick_on !== undefined) {
    throw new ApiError("invalid_timer", `${field}.tick_on is only valid with ticks`, { field });
  }
  if (t.at !== undefined) {
    const at = Date.parse(t.at);
    if (Number.isNaN(at)) throw new ApiError("invalid_timer", `${field}.at is not a timestamp`, { field });
    return { ...t, expires_at: new Date(at).toISOString(), started_at: new Date(now).toISOString() };
  }
  return { ...t, expires_at: new Date(now + t.ms!).toISOString(), started_at: new Date(now).toISOString() };
}

/** Restarts a wall-clock `ms` timer from `now` (`_renew_timer`). */
export function renewTimer(t: Timer, now: number): Timer | undefined {
  if (t.ms === undefined) return undefined;
  return { ...t, expires_at: new Date(now + t.ms).toISOString(), started_at: new Date(now).toISOString() };
}

export function isExpired(t: Timer, now: number, ticks: TickReader): boolean {
  if (t.expires_tick !== undefined && t.tick_on) return ticks(t.tick_on) >= t.expires_tick;
  if (t.expires_at !== undefined) return now >= Date.parse(t.expires_at);
  return false;
}

/** Whether a resource with this timer is live (visible, invocable) at `now`. */
export function isLive(t: Timer | null | undefined, now: number, ticks: TickReader): boolean {
  if (!t) return true;
  const expired = isExpired(t, now, ticks);
  return t.effect === "enable" ? expired : !expired;
}

/** A `delete` timer that has fired: the resource is gone for good. */
export function isGone(t: Timer | null | undefined, now: number, ticks: TickReader): boolean {
  return !!t && t.effect === "delete" && isExpired(t, now, ticks);
}

/** The wall-clock moment this timer next changes a resource's liveness, if still ahead. */
export function nextBoundary(t: Timer | null | undefined, now: number): number | undefined {
  if (!t?.expires_at) return undefined;
  const at = Date.parse(t.expires_at);
  return at > now ? at : undefined;
}

export function ticksRemaining(t: Timer, ticks: TickReader): number | undefined {
  if (t.expires_tick === undefined || !t.tick_on) return undefined;
  return Math.max(0, t.expires_tick - ticks(t.tick_on));
}

/** "scope.key" → [scope, key]; the scope is everything before the first dot. */
export function parseTarget(target: string): [string, string] | undefined {
  const i = target.indexOf(".");
  if (i <= 0 || i === target.length - 1) return undefined;
  return [target.slice(0, i), target.slice(i + 1)];
}
