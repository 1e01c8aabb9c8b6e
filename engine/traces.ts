/**
 * @module engine/traces — following one agent's action to the next agent's reaction: the commit that woke a
 * wait (`woke_by`), with the W3C `traceparent` its invocation arrived with. Reads only the log ring.
 */
import { visibleChanges } from "./changes.ts";
import type { ReadCtx } from "./context.ts";

export type WokeBy = { seq: number; traceparent?: string };

/**
 * The commit that woke a wait whose condition was last false at `checked`: the newest commit after it the
 * waiter can see (an entry it may read, or a message), with its traceparent; else the newest commit (seq
 * only). Undefined when no commit came in between (a timer boundary or a presence change woke it).
 */
export function wokeBy(rc: ReadCtx, checked: number): WokeBy | undefined {
  const to = rc.room.seq;
  if (to <= checked) return undefined;
  const log = rc.room.rt.log;
  for (let i = log.length - 1; i >= 0 && log[i].seq > checked; i--) {
    const rec = log[i];
    if (rec.seq > to) continue;
    if (rec.messages.length || visibleChanges(rc.caller, rec).length) {
      const tp = rec.audit?.traceparent;
      return tp ? { seq: rec.seq, traceparent: tp } : { seq: rec.seq };
    }
  }
  return { seq: to };
}
