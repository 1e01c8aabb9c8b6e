/**
 * @module engine/waiters — `/wait` (reference/api.md#wait): a condition evaluated with the waiter's privacy, woken by the
 * commit that makes it true (listeners run after commit, never inside a transaction) or by a timer boundary
 * (the room's scheduler); no polling. `after=CURSOR` makes it edge-triggered. An abort releases it at once.
 * A blocked wait holds a place of the waiter quotas and ends when its credential stops being valid.
 * Re-evaluations share one CEL budget per room and wake round; expensive conditions that do not fit end.
 */
import type { Caller } from "../auth.ts";
import { CelBudget, compile, evaluateOrLimit, type Program } from "../cel.ts";
import { WAITER_EXPENSIVE_MS } from "../config.ts";
import { ApiError } from "../errors.ts";
import { withActions } from "./catalog.ts";
import { changesSince, describeChanges, hasVisibleChange, observe } from "./changes.ts";
import { celContext, type ReadCtx, readCtx } from "./context.ts";
import { credentialOf, recheck } from "./credential.ts";
import type { Engine } from "./engine.ts";
import type { Op } from "./op.ts";
import { armGone, connect, disconnect, setWaiting, watchPresence } from "./presence.ts";
import { settleLeases } from "./lease_expiry.ts";
import { buildContext } from "./reads.ts";
import type { Room } from "./room.ts";
import { JOB } from "./scheduler.ts";
import { nextTimerBoundary } from "./snapshot.ts";
import { withProposals } from "./proposal_views.ts";
import { wokeBy } from "./traces.ts";

export type WaitRequest = Op & {
  condition: string;
  timeout: number;
  /** sections to answer with (default context); `changes` lists what changed since `since` */
  include?: string[];
  after?: number;
  /** where `include=changes` lists changes from (default `after`, else the seq at registration). */
  since?: number;
  /** variables the condition may read besides the caller's context (`proposal` of an invoke-and-wait) */
  vars?: (rc: ReadCtx) => Record<string, unknown>;
};

export type WaitResult = Record<string, unknown> & { triggered: boolean };

const NOOP = () => {};

/**
 * Wakes a room's listeners when its next timer boundary passes (only while someone listens). The job stays
 * set while there are listeners — at `Infinity` when no timer is pending — so a commit that adds an earlier
 * timer brings it forward (tx.ts `applyTx`) without anyone scanning the room again.
 */
function scheduleBoundary(eng: Engine, room: Room): void {
  if (!room.rt.hasListeners) return;
  const now = eng.now();
  const at = nextTimerBoundary(room, now) ?? Infinity;
  const cur = room.rt.scheduler.due(JOB.boundary);
  if (cur !== undefined && cur <= at) return;
  room.rt.scheduler.set(JOB.boundary, at, now, () => {
    eng.rooms.notify(room);
    scheduleBoundary(eng, room);
  });
}

function clearBoundary(room: Room): void {
  if (!room.rt.hasListeners) room.rt.scheduler.clear(JOB.boundary);
}

export function compileCondition(eng: Engine, condition: string | undefined): Program {
  if (condition === undefined) {
    throw new ApiError("invalid_query", "condition is required", { field: "condition" });
  }
  return compile(
    condition,
    { maxLength: eng.limits.maxCelLength, timeoutMs: eng.limits.celTimeoutMs },
    "condition",
  );
}

/**
 * The waiters' CEL time of the current wake round of each room (one commit, timer boundary or presence
 * change wakes a room's listeners synchronously); forgotten once the round's synchronous work is done.
 */
const rounds = new Map<Room, { spent: number }>();

function roundOf(room: Room): { spent: number } {
  let r = rounds.get(room);
  if (!r) {
    if (rounds.size === 0) queueMicrotask(() => rounds.clear());
    rounds.set(room, r = { spent: 0 });
  }
  return r;
}

/**
 * Cheap waiters met once their round's budget or the room's CEL time is spent: re-evaluated in a later
 * macrotask (once the room has time again), one round at a time, so however many waiters a room holds the
 * thread goes to other rooms in between and the room keeps to its CEL time per second. A waiter waits in
 * this queue at most once (its re-evaluation then sees every wake that came meanwhile).
 */
const LATER = Symbol("later");
const later = new Map<Room, (() => void)[]>();

function reevaluateLater(room: Room, run: () => void, afterMs: number): void {
  let q = later.get(room);
  if (!q) {
    later.set(room, q = []);
    setTimeout(() => {
      later.delete(room);
      for (const f of q!) f();
    }, afterMs);
  }
  q.push(run);
}

/** `/wait` and MCP `wait_for`: a new wait, refused once shutdown began. */
export function waitFor(eng: Engine, room: Room, caller: Caller, req: WaitRequest): Promise<WaitResult> {
  eng.assertOpen();
  return wait(eng, room, caller, req);
}

/** Blocks until the condition holds (for a change after `after`), the timeout, an abort or shutdown. */
export async function wait(eng: Engine, roomIn: Room, caller: Caller, req: WaitRequest): Promise<WaitResult> {
  const program = compileCondition(eng, req.condition);
  const started = performance.now();
  let room = roomIn;
  await eng.rooms.settle(room);
  const agentId = caller.kind === "agent" ? caller.id : null;
  const wantsChanges = req.include?.includes("changes") === true;
  const since = req.since ?? req.after ?? room.seq;
  // what the wait was opened with: every check re-checks it first (a token rotated meanwhile — even while
  // the first check awaited durability — or a deleted room end the wait)
  const cred = credentialOf(room, caller, req);
  let who = caller;
  // the request's budget, and after registration the waiter's account: every evaluation is charged here
  // (the penalty sees a cut-off re-evaluation as the request's), limits are set per check below
  const cel = req.cel ?? new CelBudget(eng.limits);
  const ctxNow = () => readCtx(eng, room, who, req, cel);
  // remember views and action availability at registration: invoke-and-wait registers right at its cursor
  if (wantsChanges) observe(ctxNow());
  // what the condition costs: the lesser of its last two evaluations' times (a GC pause or a busy machine
  // during one evaluation does not make a cheap condition expensive); `sure` once there are two
  let costMs = Infinity;
  let lastMs = Infinity;
  let sure = false;
  let checked: number | undefined; // the seq the condition was last not met at: set once the wait blocks
  const check = (): WaitResult | undefined => {
    who = recheck(room, cred, who);
    cel.exhausted = false; // this check's context and answer only
    const rc = ctxNow();
    const r = evaluateOrLimit(
      program,
      withProposals(withActions(celContext(rc, req.vars?.(rc)), rc), rc),
      cel,
      room.rt.celTime,
      "wait condition",
    );
    sure = lastMs !== Infinity;
    costMs = Math.min(lastMs, cel.last);
    lastMs = cel.last;
    if (
      !r.ok || r.value === false || r.value === null ||
      (req.after !== undefined && !hasVisibleChange(rc, req.after, wantsChanges))
    ) {
      checked = rc.room.seq;
      return undefined;
    }
    // the answer's listings within a request's budget, whatever the condition was allowed
    cel.limitMs = cel.spent + eng.limits.celRequestMs;
    cel.overdraw = false;
    const out = respond(eng, rc, req, r.value, since, started);
    const by = checked === undefined ? undefined : wokeBy(rc, checked);
    if (by) out.woke_by = by;
    return out;
  };
  /**
   * A re-evaluation after a wake: a cheap condition is always re-evaluated — in this round, or (LATER) once
   * the round's budget or the room's CEL time is spent, in a later one — and is never cut off by the room's
   * CEL time; an expensive one (two evaluations over 5 ms: one slow measurement alone does not count) only
   * within what is left of this round's budget, else the wait ends `cel_limit`.
   */
  const reevaluate = (): WaitResult | undefined | typeof LATER => {
    who = recheck(room, cred, who); // a credential that stopped being valid ends the wait now, not later
    const round = roundOf(room);
    const left = eng.limits.celCommitMs - round.spent;
    const expensive = sure && costMs > WAITER_EXPENSIVE_MS;
    if (!expensive && (left <= 0 || room.rt.celTime.level(performance.now(), eng.limits) <= 0)) return LATER;
    if (expensive && costMs > left) {
      cel.struck = true;
      throw new ApiError(
        "cel_limit",
        `the wait condition takes ${costMs.toFixed(1)} ms to evaluate and does not fit in what is left of ` +
          `the room's ${eng.limits.celCommitMs} ms budget for re-evaluating waiters after a commit; ` +
          "wait with a cheaper condition",
        { expression: req.condition, limit: eng.limits.celCommitMs },
      );
    }
    const before = cel.spent;
    cel.limitMs = expensive ? before + left : Infinity;
    cel.overdraw = !expensive;
    try {
      return check();
    } finally {
      round.spent += cel.spent - before;
    }
  };
  const first = check();
  if (first) return first;
  // a HEAD request only looks: it never blocks (nor shows its agent as waiting)
  if (req.signal?.aborted || req.head) return timeoutResult(room, started);

  const release = eng.listeners.admit(eng.limits, room.id);
  eng.metrics.waiters++;
  if (agentId) enterWaiting(eng, room, agentId, req.condition);
  try {
    const result = await new Promise<WaitResult>((resolve, reject) => {
      let done = false;
      let queued = false; // a re-evaluation is already waiting for a later slice: it will see this wake too
      // presence (an agent starting to wait, a heartbeat) is not a commit: conditions that read `agents` are
      // re-checked on presence changes too
      const watchesPresence = /\bagents\b/.test(req.condition);
      let offPresence = NOOP; // shared: a closure per idle waiter adds up (5,000 waiters)
      // an open wait is a sign of life of its agent for as long as it is open (presence.ts)
      let connected: string | undefined;
      const finish = (r: WaitResult | Error) => {
        if (done) return;
        done = true;
        offPresence();
        if (connected !== undefined) disconnect(eng, room, connected);
        room.rt.listeners.delete(onChange);
        clearBoundary(room);
        clearTimeout(timer);
        offShutdown();
        req.signal?.removeEventListener("abort", onAbort);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      const attach = () => {
        room.rt.listeners.add(onChange);
        if (watchesPresence) offPresence = watchPresence(room, onChange);
        scheduleBoundary(eng, room);
        connected = connect(eng, room, caller);
        armGone(eng, room);
        // a room loaded anew (following a successor) has its lapses to find
        settleLeases(eng, room)?.catch(NOOP);
      };
      const onChange = () => {
        if (done || queued) return;
        if (!room.rt.alive) {
          // the room was reloaded (another process wrote, or a failed batch): follow the new one
          room.rt.listeners.delete(onChange);
          offPresence();
          eng.rooms.successor(room).then((fresh) => {
            if (done) return;
            room = fresh;
            attach();
            onChange();
          }, (e) => finish(e));
          return;
        }
        try {
          const r = reevaluate();
          if (r === LATER) {
            queued = true;
            reevaluateLater(room, () => {
              queued = false;
              onChange();
            }, room.rt.celTime.refillMs(eng.limits));
          } else if (r) finish(r);
        } catch (e) {
          finish(e as Error);
        }
      };
      const onAbort = () => finish(timeoutResult(room, started));
      const timer = setTimeout(onAbort, req.timeout); // the same answer as a disconnect: one closure, not two
      const offShutdown = eng.onShutdown(() =>
        finish(new ApiError("shutting_down", "the server is shutting down; retry shortly"))
      );
      req.signal?.addEventListener("abort", onAbort);
      attach();
    });
    // an invocation may have been applied (not yet committed) between the commit that woke us and the
    // check: what we answer is never ahead of what is durable
    const cursor = result.cursor;
    if (result.triggered && typeof cursor === "number" && room.rt.alive && room.rt.committedSeq < cursor) {
      await eng.rooms.commit(room);
    }
    return result;
  } finally {
    release();
    eng.metrics.waiters--;
    if (agentId) leaveWaiting(eng, room, agentId);
  }
}

function enterWaiting(eng: Engine, room: Room, agentId: string, condition: string) {
  const m = room.rt.waiting;
  m.set(agentId, (m.get(agentId) ?? 0) + 1);
  setWaiting(eng, room, agentId, condition);
}

function leaveWaiting(eng: Engine, room: Room, agentId: string) {
  const m = room.rt.waiting;
  const n = (m.get(agentId) ?? 1) - 1;
  if (n > 0) m.set(agentId, n);
  else {
    m.delete(agentId);
    setWaiting(eng, room, agentId, null);
  }
}

function timeoutResult(room: Room, started: number): WaitResult {
  return {
    triggered: false,
    timeout: true,
    elapsed_ms: Math.round(performance.now() - started),
    cursor: room.seq,
  };
}

function respond(
  eng: Engine,
  rc: ReadCtx,
  req: WaitRequest,
  value: unknown,
  since: number,
  started: number,
): WaitResult {
  const out: WaitResult = {
    triggered: true,
    condition: req.condition,
    value,
    cursor: rc.room.seq,
    elapsed_ms: Math.round(performance.now() - started),
  };
  const include = req.include ?? ["context"];
  if (include.includes("changes")) {
    Object.assign(out, describeChanges(rc, since));
    observe(rc);
  } else if (req.after !== undefined) {
    const delta = changesSince(rc, req.after);
    out.changes = delta.changes;
    out.messages_since = delta.messages;
    if (!delta.complete) out.changes_complete = false;
  }
  if (include.includes("context")) {
    out.context = buildContext(eng, rc, {});
    return out;
  }
  const sections = include.filter((s) => s !== "changes");
  if (sections.length) {
    const ctx = buildContext(eng, rc, { only: sections });
    for (const [k, v] of Object.entries(ctx)) {
      if (k === "_elided") out._elided = { ...(out._elided as object | undefined), ...(v as object) };
      else if (k !== "self" && k !== "cursor") out[k] = v;
    }
  }
  return out;
}
