/**
 * @module engine/scheduler — a room's one timer: "run this at time T" jobs under a key each, with a single
 * setTimeout armed for the earliest. Waiters use it to wake at timer boundaries; anything else a room must
 * do at an exact time (an expiry, a retry) takes a key of its own here rather than a timer of its own.
 */

type Job = { at: number; run: () => void };

const MAX_DELAY = 2 ** 31 - 1;

/** The keys of the room's jobs (one each). */
export const JOB = {
  /** wake the listeners at the next timer boundary (waiters.ts) */
  boundary: "timer-boundary",
  /** expire the leases that lapse (lease_expiry.ts) */
  leases: "leases",
  /** tell the watchers of presence that an agent went gone (presence.ts) */
  gone: "gone",
  /** refresh the signs of life of the agents with a wait or feed open (presence.ts) */
  beat: "beat",
} as const;

export class Scheduler {
  #jobs?: Map<string, Job>;
  #armed?: { at: number; id: ReturnType<typeof setTimeout> };

  /**
   * Runs `run` once at `at` (engine-clock ms; `now` is the clock's reading), replacing `key`'s job. At
   * `Infinity` the job is kept without a timer, for `earlier` to bring forward.
   */
  set(key: string, at: number, now: number, run: () => void): void {
    (this.#jobs ??= new Map()).set(key, { at, run });
    if (!this.#armed || at < this.#armed.at) this.#arm(at, now);
  }

  /** Brings `key`'s job forward to `at` if it is set for later (a no-op without a job: allocates nothing). */
  earlier(key: string, at: number, now: number): void {
    const job = this.#jobs?.get(key);
    if (!job || job.at <= at) return;
    job.at = at;
    if (!this.#armed || at < this.#armed.at) this.#arm(at, now);
  }

  /** When `key`'s job runs, if one is set. */
  due(key: string): number | undefined {
    return this.#jobs?.get(key)?.at;
  }

  clear(key: string): void {
    if (!this.#jobs?.delete(key) || !this.#armed) return;
    if (!this.#jobs.size) this.dispose();
  }

  /** Arms again for the earliest job as seen at `now`: the clock jumped (a test's clock moved by hand). */
  rearm(now: number): void {
    let next: number | undefined;
    for (const job of this.#jobs?.values() ?? []) if (next === undefined || job.at < next) next = job.at;
    if (next !== undefined) this.#arm(next, now);
  }

  /** Cancels every job (the room leaves memory). */
  dispose(): void {
    if (this.#armed) clearTimeout(this.#armed.id);
    this.#armed = undefined;
    this.#jobs?.clear();
  }

  /** Runs every job due by `now` (the armed timer does; so does a test's clock when it moves). */
  runDue(now: number): void {
    const due: Job[] = [];
    for (const [key, job] of this.#jobs ?? []) {
      if (job.at <= now) {
        due.push(job);
        this.#jobs!.delete(key);
      }
    }
    for (const job of due) job.run();
    let next = Infinity;
    for (const job of this.#jobs?.values() ?? []) if (job.at < next) next = job.at;
    if (!this.#armed || next < this.#armed.at) this.#arm(next, now);
  }

  #arm(at: number, now: number): void {
    if (this.#armed) clearTimeout(this.#armed.id);
    this.#armed = undefined;
    if (at === Infinity) return;
    // +1: a job is due once its moment has passed, not at it (timer boundaries compare with >=)
    const delay = Math.max(0, at - now) + 1;
    // setTimeout takes at most 2^31-1 ms (about 24 days): a later moment is reached in steps
    const id = delay > MAX_DELAY
      ? setTimeout(() => this.#arm(at, now + MAX_DELAY), MAX_DELAY)
      : setTimeout(() => this.#fire(at), delay);
    this.#armed = { at, id };
  }

  /** The armed moment has come: run what is due by then, then arm for the next job. */
  #fire(at: number): void {
    this.#armed = undefined;
    this.runDue(at);
  }
}
