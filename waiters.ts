/**
 * @module waiters — `/wait` (SPEC §9): a condition evaluated with the waiter's privacy, woken by the commit
 * that makes it true (listeners run after commit, never inside a transaction) or by a timer boundary; no
 * polling. `after=CURSOR` makes it edge-triggered. A disconnect releases the waiter at once.
 */
import type { Caller } from "./auth.ts";
import { compile, evaluate, type Program } from "./cel.ts";
import { ApiError } from "./errors.ts";
import { changesSince, describeChanges, hasVisibleChange, observe } from "./engine/changes.ts";
import { celContext } from "./engine/context.ts";
import type { Engine } from "./engine/engine.ts";
import type { Room } from "./engine/model.ts";
import { setWaiting, watchPresence } from "./engine/presence.ts";
import { parseSections } from "./engine/reads.ts";
import { buildContext, readCtx } from "./engine/reads.ts";
import { nextTimerBoundary } from "./engine/snapshot.ts";
import { invoke, type InvokeRequest } from "./engine/invoke.ts";

export type WaitRequest = {
  condition: string;
  timeout: number;
  include?: string[];
  after?: number;
  /** where `include=changes` lists changes from (default `after`, else the seq at registration). */
  since?: number;
  signal?: AbortSignal;
};

export type WaitResult = Record<string, unknown> & { triggered: boolean };

const boundaryTimers = new WeakMap<Room, { at: number; id: ReturnType<typeof setTimeout> }>();
const waitingCount = new WeakMap<Room, Map<string, number>>();
let active = 0;
const NOOP = () => {};

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
  if (condition === undefined) {
    throw new ApiError("invalid_query", "condition is required", { field: "condition" });
  }
  return compile(
    condition,
    { maxLength: eng.limits.maxCelLength, timeoutMs: eng.limits.celTimeoutMs },
    "condition",
  );
}

export async function wait(eng: Engine, roomIn: Room, caller: Caller, req: WaitRequest): Promise<WaitResult> {
  const program = compileCondition(eng, req.condition);
  const started = performance.now();
  let room = roomIn;
  if (room.committedSeq < room.seq) await eng.committer.submit(room);
  const agentId = caller.kind === "agent" ? caller.id : null;
  const wantsChanges = req.include?.includes("changes") === true;
  const since = req.since ?? req.after ?? room.seq;
  // remember views and action availability at registration: invoke-and-wait registers right at its cursor
  if (wantsChanges) observe(readCtx(eng, room, currentCaller(room, caller)));
  const check = (): WaitResult | undefined => {
    const rc = readCtx(eng, room, currentCaller(room, caller));
    const r = evaluate(program, celContext(rc), eng.limits.celTimeoutMs);
    if (!r.ok && r.limit) {
      throw new ApiError("cel_limit", "condition exceeded the evaluation limit", {
        expression: req.condition,
        detail: r.error,
      });
    }
    if (!r.ok || r.value === false || r.value === null) return undefined;
    if (req.after !== undefined && !hasVisibleChange(rc, req.after, wantsChanges)) return undefined;
    return respond(eng, rc, req, r.value, since, started);
  };
  const first = check();
  if (first) return first;
  if (req.signal?.aborted) return timeoutResult(room, started);

  active++;
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
          offPresence();
          eng.room(room.id).then((fresh) => {
            if (done) return;
            room = fresh;
            room.listeners.add(onChange);
            if (watchesPresence) offPresence = watchPresence(room, onChange);
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
      const timer = setTimeout(onAbort, req.timeout); // the same answer as a disconnect: one closure, not two
      const offShutdown = eng.onShutdown(() =>
        finish(new ApiError("shutting_down", "the server is shutting down; retry shortly"))
      );
      req.signal?.addEventListener("abort", onAbort);
      room.listeners.add(onChange);
      if (watchesPresence) offPresence = watchPresence(room, onChange);
      scheduleBoundary(eng, room);
    });
    // an invocation may have been applied (not yet committed) between the commit that woke us and the
    // check: what we answer is never ahead of what is durable
    const cursor = result.cursor;
    if (result.triggered && typeof cursor === "number" && room.alive && room.committedSeq < cursor) {
      await eng.committer.submit(room);
    }
    return result;
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
  return {
    triggered: false,
    timeout: true,
    elapsed_ms: Math.round(performance.now() - started),
    cursor: room.seq,
  };
}

function respond(
  eng: Engine,
  rc: ReturnType<typeof readCtx>,
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

export type InvokeWaitSpec = {
  condition: string;
  timeout?: number;
  include?: string | string[];
  after?: number;
};

/**
 * Invoke-and-wait (one call per turn): validates the wait first (a bad condition commits nothing), invokes,
 * then waits for a commit after the invocation's own. A refusal is thrown at once, without waiting.
 * `cursor` stays the invocation's commit; `wait.cursor` is the state the wake describes.
 */
export async function invokeAndWait(
  eng: Engine,
  req: InvokeRequest,
  spec: InvokeWaitSpec | undefined,
  o: { maxTimeout: number; signal?: AbortSignal },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const include = spec?.include === undefined
    ? undefined
    : parseSections(Array.isArray(spec.include) ? spec.include.join(",") : spec.include, "wait.include", [
      "context",
      "changes",
    ]);
  if (spec) compileCondition(eng, spec.condition);
  const r = await invoke(eng, req);
  if (!spec || req.dryRun) return { status: r.status, body: r.body };
  const w = await wait(eng, r.room, r.caller, {
    condition: spec.condition,
    timeout: Math.min(spec.timeout ?? o.maxTimeout, o.maxTimeout),
    include: include ?? ["changes"],
    after: r.seq,
    since: spec.after,
    signal: o.signal,
  });
  return { status: r.status, body: { ...r.body, cursor: r.seq, wait: w } };
}
