/**
 * @module waiters — `/wait` (SPEC §9): a condition evaluated with the waiter's privacy, woken by the commit
 * that makes it true (listeners run after commit, never inside a transaction) or by a timer boundary; no
 * polling. `after=CURSOR` makes it edge-triggered. A disconnect releases the waiter at once.
 */
import type { Caller } from "./auth.ts";
import { compile, evaluate, type Program } from "./cel.ts";
import { ApiError } from "./errors.ts";
import { celContext } from "./engine/context.ts";
import type { Engine } from "./engine/engine.ts";
import type { Room } from "./engine/model.ts";
import { setWaiting } from "./engine/presence.ts";
import { buildContext, changesSince, readCtx } from "./engine/reads.ts";
import { nextTimerBoundary } from "./engine/snapshot.ts";

export type WaitRequest = {
  condition: string;
  timeout: number;
  include?: string[];
  after?: number;
  signal?: AbortSignal;
};

export type WaitResult = Record<string, unknown> & { triggered: boolean };

const boundaryTimers = new WeakMap<Room, { at: number; id: ReturnType<typeof setTimeout> }>();
const waitingCount = new WeakMap<Room, Map<string, number>>();
let active = 0;

/** How many waiters are blocked right now (for /metrics and leak tests). */
export function activeWaiters(): number {
  return active;
}

/** Wakes a room's listeners when its next timer boundary passes (only while someone listens). */
export function scheduleBoundary(eng: Engine, room: Room): void {
  if (!room.listeners.size) return;
  const now = eng.now();
  const at = nextTimerBoundary(room, now);
  const cur = boundaryTimers.get(room);
  if (cur && (at === undefined || cur.at <= at)) return;
  if (cur) clearTimeout(cur.id);
  if (at === undefined) return;
  const id = setTimeout(() => {
    boundaryTimers.delete(room);
    eng.notify(room);
    scheduleBoundary(eng, room);
  }, Math.max(0, at - now) + 1);
  boundaryTimers.set(room, { at, id });
}

function clearBoundary(room: Room): void {
  if (room.listeners.size) return;
  const cur = boundaryTimers.get(room);
  if (cur) clearTimeout(cur.id);
  boundaryTimers.delete(room);
}

export function compileCondition(eng: Engine, condition: string | undefined): Program {
  if (condition === undefined) throw new ApiError("invalid_query", "condition is required", { field: "condition" });
  return compile(condition, { maxLength: eng.limits.maxCelLength, timeoutMs: eng.limits.celTimeoutMs }, "condition");
}

export async function wait(eng: Engine, roomIn: Room, caller: Caller, req: WaitRequest): Promise<WaitResult> {
  const program = compileCondition(eng, req.condition);
  const started = performance.now();
  let room = roomIn;
  if (room.committedSeq < room.seq) await eng.committer.submit(room);
  const agentId = caller.kind === "agent" ? caller.id : null;
  const check = (): WaitResult | undefined => {
    const rc = readCtx(eng, room, currentCaller(room, caller));
    const r = evaluate(program, celContext(rc), eng.limits.celTimeoutMs);
    if (!r.ok && r.limit) {
      throw new ApiError("cel_limit", "condition exceeded the evaluation limit", { expression: req.condition, detail: r.error });
    }
    if (!r.ok || r.value === false || r.value === null) return undefined;
    let delta: ReturnType<typeof changesSince> | undefined;
    if (req.after !== undefined) {
      delta = changesSince(rc, req.after);
      if (!delta.changes.length && !delta.messages.length) return undefined;
    }
    return respond(eng, rc, req, r.value, delta, started);
  };
  const first = check();
  if (first) return first;
  if (req.signal?.aborted) return timeoutResult(room, started);

  active++;
  if (agentId) enterWaiting(eng, room, agentId, req.condition);
  try {
    return await new Promise<WaitResult>((resolve, reject) => {
      let done = false;
      const finish = (r: WaitResult | Error) => {
        if (done) return;
        done = true;
        room.listeners.delete(onChange);
        clearBoundary(room);
        clearTimeout(timer);
        offShutdown();
        req.signal?.removeEventListener("abort", onAbort);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      const onChange = () => {
        if (!room.alive) {
          // the room was reloaded (another process wrote, or a failed batch): follow the new one
          room.listeners.delete(onChange);
          eng.room(room.id).then((fresh) => {
            if (done) return;
            room = fresh;
            room.listeners.add(onChange);
            scheduleBoundary(eng, room);
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
      const timer = setTimeout(() => finish(timeoutResult(room, started)), req.timeout);
      const offShutdown = eng.onShutdown(() => finish(new ApiError("shutting_down", "the server is shutting down; retry shortly")));
      req.signal?.addEventListener("abort", onAbort);
      room.listeners.add(onChange);
      scheduleBoundary(eng, room);
    });
  } finally {
    active--;
    if (agentId) leaveWaiting(eng, room, agentId);
  }
}

/** The caller bound to the current room object (after a reload the agent record is a new object). */
function currentCaller(room: Room, caller: Caller): Caller {
  if (caller.kind !== "agent") return caller;
  const agent = room.agents.get(caller.id);
  return agent ? { ...caller, agent } : caller;
}

function enterWaiting(eng: Engine, room: Room, agentId: string, condition: string) {
  let m = waitingCount.get(room);
  if (!m) waitingCount.set(room, m = new Map());
  m.set(agentId, (m.get(agentId) ?? 0) + 1);
  setWaiting(eng, room, agentId, condition);
}

function leaveWaiting(eng: Engine, room: Room, agentId: string) {
  const m = waitingCount.get(room);
  const n = (m?.get(agentId) ?? 1) - 1;
  if (n > 0) m!.set(agentId, n);
  else {
    m?.delete(agentId);
    setWaiting(eng, room, agentId, null);
  }
}

function timeoutResult(room: Room, started: number): WaitResult {
  return { triggered: false, timeout: true, elapsed_ms: Math.round(performance.now() - started), cursor: room.seq };
}

function respond(
  eng: Engine,
  rc: ReturnType<typeof readCtx>,
  req: WaitRequest,
  value: unknown,
  delta: ReturnType<typeof changesSince> | undefined,
  started: number,
): WaitResult {
  const out: WaitResult = {
    triggered: true,
    condition: req.condition,
    value,
    cursor: rc.room.seq,
    elapsed_ms: Math.round(performance.now() - started),
  };
  if (delta) {
    out.changes = delta.changes;
    out.messages_since = delta.messages;
    if (!delta.complete) out.changes_complete = false;
  }
  const include = req.include ?? ["context"];
  if (include.includes("context")) {
    out.context = buildContext(eng, rc, {});
    return out;
  }
  const sections = include.filter((s) => s !== "changes");
  if (sections.length) {
    const ctx = buildContext(eng, rc, { only: sections });
    for (const [k, v] of Object.entries(ctx)) if (k !== "self" && k !== "cursor") out[k] = v;
  }
  if (include.includes("changes") && !delta) {
    out.changes = [];
  }
  return out;
}
