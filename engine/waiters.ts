/**
 * @module engine/waiters — `/wait` (SPEC §9): a condition evaluated with the waiter's privacy, woken by the
 * commit that makes it true (listeners run after commit, never inside a transaction) or by a timer boundary
 * (the room's scheduler); no polling. `after=CURSOR` makes it edge-triggered. An abort releases it at once.
 */
import type { Caller } from "../auth.ts";
import { compile, evaluate, type Program } from "../cel.ts";
import { ApiError } from "../errors.ts";
import { withActions } from "./catalog.ts";
import { changesSince, describeChanges, hasVisibleChange, observe } from "./changes.ts";
import { celContext, type ReadCtx, readCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import type { Op } from "./op.ts";
import { setWaiting, watchPresence } from "./presence.ts";
import { buildContext } from "./reads.ts";
import type { Room } from "./room.ts";
import { nextTimerBoundary } from "./snapshot.ts";
import { wokeBy } from "./traces.ts";

export type WaitRequest = Op & {
  condition: string;
  timeout: number;
  /** sections to answer with (default context); `changes` lists what changed since `since` */
  include?: string[];
  after?: number;
  /** where `include=changes` lists changes from (default `after`, else the seq at registration). */
  since?: number;
};

export type WaitResult = Record<string, unknown> & { triggered: boolean };

/** The scheduler key of "wake the listeners at the room's next timer boundary". */
const BOUNDARY = "timer-boundary";
const NOOP = () => {};

/** Wakes a room's listeners when its next timer boundary passes (only while someone listens). */
function scheduleBoundary(eng: Engine, room: Room): void {
  if (!room.rt.hasListeners) return;
  const now = eng.now();
  const at = nextTimerBoundary(room, now);
  const cur = room.rt.scheduler.due(BOUNDARY);
  if (at === undefined || (cur !== undefined && cur <= at)) return;
  room.rt.scheduler.set(BOUNDARY, at, now, () => {
    eng.rooms.notify(room);
    scheduleBoundary(eng, room);
  });
}

function clearBoundary(room: Room): void {
  if (!room.rt.hasListeners) room.rt.scheduler.clear(BOUNDARY);
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
  const ctxNow = () => readCtx(eng, room, currentCaller(room, caller), req);
  // remember views and action availability at registration: invoke-and-wait registers right at its cursor
  if (wantsChanges) observe(ctxNow());
  let checked: number | undefined; // the seq the condition was last not met at: set once the wait blocks
  const check = (): WaitResult | undefined => {
    const rc = ctxNow();
    const r = evaluate(program, withActions(celContext(rc), rc), eng.limits.celTimeoutMs);
    if (!r.ok && r.limit) {
      throw new ApiError("cel_limit", "condition exceeded the evaluation limit", {
        expression: req.condition,
        detail: r.error,
      });
    }
    if (
      !r.ok || r.value === false || r.value === null ||
      (req.after !== undefined && !hasVisibleChange(rc, req.after, wantsChanges))
    ) {
      checked = rc.room.seq;
      return undefined;
    }
    const out = respond(eng, rc, req, r.value, since, started);
    const by = checked === undefined ? undefined : wokeBy(rc, checked);
    if (by) out.woke_by = by;
    return out;
  };
  const first = check();
  if (first) return first;
  if (req.signal?.aborted) return timeoutResult(room, started);

  eng.metrics.waiters++;
  if (agentId) enterWaiting(eng, room, agentId, req.condition);
  try {
    const result = await new Promise<WaitResult>((resolve, reject) => {
      let done = false;
      // presence (an agent starting to wait, a heartbeat) is not a commit: conditions that read `agents` are
      // re-checked on presence changes too
      const watchesPresence = /\bagents\b/.test(req.condition);
      let offPresence = NOOP; // shared: a closure per idle waiter adds up (5,000 waiters)
      const finish = (r: WaitResult | Error) => {
        if (done) return;
        done = true;
        offPresence();
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
      };
      const onChange = () => {
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
          const r = check();
          if (r) finish(r);
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
    eng.metrics.waiters--;
    if (agentId) leaveWaiting(eng, room, agentId);
  }
}

/** The caller bound to the current room object (after a reload the agent record is a new object). */
function currentCaller(room: Room, caller: Caller): Caller {
  if (caller.kind !== "agent") return caller;
  const agent = room.agents.get(caller.id);
  return agent && agent !== caller.agent ? { ...caller, agent } : caller;
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
