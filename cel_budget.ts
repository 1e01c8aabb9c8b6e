/**
 * @module cel_budget — what CEL work may spend: a unit of work's budget (a request, a view computation, a
 * waiter), a room's bucket of CEL time, and this process's CEL counters. cel.ts charges them.
 */
/** Which CEL limit stopped an evaluation: its own (time, steps, size), its budget's, or the room's time. */
export type CelLimitKind = "expression" | "budget" | "room";

/** The limits a budget is made of (config.ts `Limits` has them). */
export type CelBudgetLimits = { celTimeoutMs: number; celRequestMs: number; roomCelMsPerSec: number };

/**
 * What one unit of work may spend on CEL and what it spent (ms of measured evaluation): one request (its
 * `Op` carries it), one view computation, one waiter. One object per unit, nothing per evaluation.
 */
export class CelBudget {
  /** ms of evaluation charged so far */
  spent = 0;
  /** ms of the last evaluation charged (a waiter's cost) */
  last = 0;
  /** evaluations past it fail fast as `cel_limit` */
  limitMs: number;
  /** a CEL limit refused or cut off an evaluation: a listing that depended on it is incomplete */
  exhausted = false;
  /** the caller's own expression was answered `cel_limit` (the rate limiter's penalty counts it) */
  struck = false;
  /** the room's bucket does not refuse or cut it off (a cheap waiter's re-evaluation); it is still charged */
  overdraw = false;
  readonly timeoutMs: number;
  readonly limits: CelBudgetLimits;
  /** whose budget, for messages: "request", "views", … */
  readonly what: string;

  constructor(limits: CelBudgetLimits, what = "request", limitMs = limits.celRequestMs) {
    this.limitMs = limitMs;
    this.timeoutMs = limits.celTimeoutMs;
    this.limits = limits;
    this.what = what;
  }
}

/**
 * A room's CEL time: a bucket refilled at SYNC_ROOM_CEL_MS_PER_SEC, spent by every evaluation in the room
 * and bounding each (an evaluation may use what the bucket holds). It holds at most one request's budget
 * (or one second's worth, if less): however many of a room's requests arrive together, the room keeps the
 * thread for at most that long at a time. Once empty, the room's evaluations fail fast until it refills,
 * so one room cannot take the thread from the others. On the room's runtime; two numbers.
 */
export class CelBucket {
  #level = NaN;
  #at = 0;

  /** ms of CEL the room may still spend at `now` (performance.now()); Infinity when unbounded. */
  level(now: number, limits: CelBudgetLimits): number {
    const rate = limits.roomCelMsPerSec;
    if (!(rate > 0)) return Infinity;
    const burst = Math.min(rate, limits.celRequestMs);
    this.#level = Number.isNaN(this.#level)
      ? burst
      : Math.min(burst, this.#level + ((now - this.#at) * rate) / 1000);
    this.#at = now;
    return this.#level;
  }

  spend(ms: number): void {
    this.#level -= ms;
  }

  /** ms until the bucket holds time again, `pending` ms more spent. */
  refillMs(limits: CelBudgetLimits, pending = 0): number {
    const rate = limits.roomCelMsPerSec;
    const level = this.#level - pending;
    return !(level < 0) || !(rate > 0) ? 0 : Math.ceil((-level * 1000) / rate) + 1;
  }
}

/** This process's CEL work, for `/metrics`: evaluations, measured seconds, and refusals by limit. */
export const celStats = {
  evaluations: 0,
  seconds: 0,
  limited: { expression: 0, budget: 0, room: 0 } as Record<CelLimitKind, number>,
};
