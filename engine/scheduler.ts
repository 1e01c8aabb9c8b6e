/**
 * @module engine/scheduler — a room's one timer: "run this at time T" jobs under a key each, with a single
 * setTimeout armed for the earliest. Waiters use it to wake at timer boundaries; anything else a room must
 * do at an exact time (an expiry, a retry) takes a key of its own here rather than a timer of its own.
 */

type Job = { at: number; run: () => void };

export class Scheduler {
  #jobs?: Map<string, Job>;
  #armed?: { at: number; id: ReturnType<typeof setTimeout> };

  /** Runs `run` once at `at` (engine-clock ms; `now` is the clock's reading), replacing `key`'s job. */
  set(key: string, at: number, now: number, run: () => void): void {
    (this.#jobs ??= new Map()).set(key, { at, run });
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

  #arm(at: number, now: number): void {
    if (this.#armed) clearTimeout(this.#armed.id);
    // +1: a job is due once its moment has passed, not at it (timer boundaries compare with >=)
    const id = setTimeout(() => this.#fire(at), Math.max(0, at - now) + 1);
    this.#armed = { at, id };
  }

  /** The armed moment has come: run what is due by then, then arm for the next job. */
  #fire(at: number): void {
    this.#armed = undefined;
    const due: Job[] = [];
    for (const [key, job] of this.#jobs ?? []) {
      if (job.at <= at) {
        due.push(job);
        this.#jobs!.delete(key);
      }
    }
    for (const job of due) job.run();
    let next: number | undefined;
    for (const job of this.#jobs?.values() ?? []) if (next === undefined || job.at < next) next = job.at;
    if (next !== undefined && !this.#armed) this.#arm(next, at);
  }
}
