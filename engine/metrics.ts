/**
 * @module engine/metrics — the engine's own counters for `/metrics`: invocations by outcome, the waiters
 * blocked and the feeds open now. Commit statistics are the committer's (`eng.rooms.commitStats`); request
 * counts are HTTP's.
 */

export class EngineMetrics {
  /** invocations by outcome: `ok`, `dry_run`, `write_failed` or the refusal's error code */
  readonly invocations = new Map<string, number>();
  /** requests blocked in /wait or invoke-and-wait right now */
  waiters = 0;
  /** change feeds (`/events`) open right now */
  feeds = 0;

  countInvocation(outcome: string): void {
    this.invocations.set(outcome, (this.invocations.get(outcome) ?? 0) + 1);
  }
}
