/**
 * @module engine/snapshot — what is live in a room right now: entries after timers and `enabled`, view
 * values, live actions. Cached per scope and per commit; a timer boundary invalidates like a commit does.
 * Privacy is not decided here (see privacy.ts): this is the room as the room token sees it. Views are
 * computed once per commit for every reader, within one budget (SYNC_CEL_VIEWS_MS).
 */
import { CelBudget, type CelMap, celMap, type CelResult, compile, evaluate, toCel } from "../cel.ts";
import type { Limits } from "../config.ts";
import { isGone, isLive, nextBoundary } from "../timers.ts";
import type { ActionDef, Entry, ViewDef } from "./model.ts";
import type { Room, ScopeCache, SnapshotCaches, ViewCache, ViewValue } from "./room.ts";
import { isAgentGone, lastSeenOf, nextGoneAt, windowOf } from "./liveness.ts";
import { messagesCel } from "./messages.ts";

function cachesOf(room: Room): SnapshotCaches {
  return room.rt.caches;
}

/** Called by the write path for every touched scope, so its cache is rebuilt on next read. */
export function touchScope(room: Room, scope: string): void {
  const c = cachesOf(room);
  c.scopeSeq.set(scope, ++c.writes);
}

/** Presence and agent edits change the `agents` CEL map without a commit. */
export function touchAgents(room: Room): void {
  cachesOf(room).agentsVersion++;
}

export function celValue(e: Entry): unknown {
  if (e.cel === undefined) e.cel = toCel(e.value);
  return e.cel;
}

function tickReader(room: Room) {
  return (t: string) => room.tick(t);
}

/**
 * One scope as live now: entries whose timer allows them and whose `enabled` holds. `enabled` expressions
 * are charged to `budget` (the reading request's, or the views' computation); an entry whose `enabled` a CEL
 * limit stopped is hidden, and that scope is not cached (the next reader evaluates again).
 */
export function liveScope(
  room: Room,
  scope: string,
  now: number,
  limits: Limits,
  budget?: CelBudget,
): ScopeCache {
  const c = cachesOf(room);
  const scopeSeq = c.scopeSeq.get(scope) ?? 0;
  const hit = c.scopes.get(scope);
  if (
    hit && now < hit.validUntil && hit.scopeSeq === scopeSeq && (!hit.volatile || hit.builtSeq === room.seq)
  ) return hit;
  const ticks = tickReader(room);
  let volatile = false;
  let validUntil = Infinity;
  const live: Entry[] = [];
  const rawCel: Record<string, unknown> = {};
  let hasEnabled = false;
  for (const e of room.scopes.get(scope)?.values() ?? []) {
    if (e.timer) {
      if (e.timer.tick_on) volatile = true;
      const b = nextBoundary(e.timer, now);
      if (b !== undefined && b < validUntil) validUntil = b;
      if (!isLive(e.timer, now, ticks)) continue;
    }
    if (e.enabled) hasEnabled = true;
    live.push(e);
    rawCel[e.key] = celValue(e);
  }
  let entries = live;
  let partial = false;
  if (hasEnabled) {
    volatile = true;
    const b = budget ?? new CelBudget(limits);
    entries = live.filter((e) => {
      if (!e.enabled) return true;
      const on = entryEnabled(room, e, now, limits, b);
      if (on === undefined) partial = true;
      return on === true;
    });
  }
  const json: Record<string, unknown> = {};
  const cel: Record<string, unknown> = hasEnabled ? {} : rawCel;
  for (const e of entries) {
    json[e.key] = e.value;
    if (hasEnabled) cel[e.key] = celValue(e);
  }
  const raw = celMap(rawCel);
  const built: ScopeCache = {
    builtSeq: room.seq,
    scopeSeq,
    volatile,
    validUntil,
    json,
    cel: hasEnabled ? celMap(cel) : raw,
    rawCel: raw,
    entries,
  };
  if (partial) c.scopes.delete(scope);
  else c.scopes.set(scope, built);
  return built;
}

/**
 * `enabled` on an entry is evaluated against the timer-live state of the system scopes and its own scope;
 * undefined when a CEL limit stopped it.
 */
function entryEnabled(room: Room, e: Entry, now: number, limits: Limits, budget: CelBudget) {
  const state: Record<string, unknown> = {};
  for (const s of room.scopes.keys()) {
    if (s === "_audit" || (!s.startsWith("_") && s !== e.scope)) continue;
    state[s] = s === e.scope ? liveRaw(room, s, now) : liveScopeRawOnly(room, s, now, limits);
  }
  if (!e.scope.startsWith("_")) state.self = state[e.scope];
  const program = safeProgram(e.enabled!, limits);
  if (!program) return false;
  const ctx = { state, self: e.scope.startsWith("_") ? "" : e.scope };
  const r = evaluate(program, ctx, budget, room.rt.celTime);
  return r.ok ? r.value === true : r.limit ? undefined : false;
}

function liveRaw(room: Room, scope: string, now: number): CelMap {
  const ticks = tickReader(room);
  const out: Record<string, unknown> = {};
  for (const e of room.scopes.get(scope)?.values() ?? []) {
    if (!isLive(e.timer, now, ticks)) continue;
    out[e.key] = celValue(e);
  }
  return celMap(out);
}

function liveScopeRawOnly(room: Room, scope: string, now: number, _limits: Limits): CelMap {
  const hit = cachesOf(room).scopes.get(scope);
  if (hit && hit.builtSeq === room.seq && now < hit.validUntil) return hit.rawCel;
  return liveRaw(room, scope, now);
}

function safeProgram(source: string, limits: Limits) {
  try {
    return compile(source, { maxLength: limits.maxCelLength, timeoutMs: limits.celTimeoutMs });
  } catch {
    return undefined;
  }
}

/** The earliest wall-clock moment at which anything in the room changes liveness (for timed wake-ups). */
export function nextTimerBoundary(room: Room, now: number): number | undefined {
  let min = Infinity;
  const see = (b: number | undefined) => {
    if (b !== undefined && b < min) min = b;
  };
  for (const m of room.scopes.values()) {
    for (const e of m.values()) if (e.timer) see(nextBoundary(e.timer, now));
  }
  for (const a of room.actions.values()) {
    see(nextBoundary(a.timer, now));
    see(nextBoundary(a.cooldown, now));
  }
  for (const v of room.views.values()) see(nextBoundary(v.timer, now));
  return min === Infinity ? undefined : min;
}

/** Scopes that exist in the room (system and private), `_audit` and `_messages` excluded. */
export function stateScopes(room: Room): string[] {
  return [...room.scopes.keys()].filter((s) => s !== "_audit" && s !== "_messages");
}

// ── actions and views ─────────────────────────────────────────────────────────────────────

export type ActionLiveness = "live" | "gone" | "dormant" | "cooldown";

/** Timer state of an action: gone (delete timer fired), dormant (enable timer pending), cooling down. */
export function actionLiveness(room: Room, a: ActionDef, now: number): ActionLiveness {
  const ticks = tickReader(room);
  if (isGone(a.timer, now, ticks) || isGone(a.cooldown, now, ticks)) return "gone";
  if (a.timer && !isLive(a.timer, now, ticks)) return "dormant";
  if (a.cooldown && !isLive(a.cooldown, now, ticks)) return "cooldown";
  return "live";
}

export function viewLive(room: Room, v: ViewDef, now: number): boolean {
  return isLive(v.timer, now, tickReader(room));
}

/** Every live view's value in registration order (see `computeViews`). */
export function viewValues(room: Room, now: number, limits: Limits): Map<string, ViewValue> {
  return computeViews(room, now, limits).values;
}

/** The same values as CEL sees them (`views` of every context), converted once per computation. */
export function viewsCel(room: Room, now: number, limits: Limits): Record<string, unknown> {
  return computeViews(room, now, limits).cel;
}

/**
 * A view sees the system scopes and its owner's scope (under the owner's id and as `self`), and the
 * views registered before it. Computed once per commit (and timer boundary) for every reader, whatever
 * their privacy, within one budget: views past it are `null` with a `cel_limit` error. A computation the
 * room's CEL time cut short is computed again once the room has time again.
 */
function computeViews(room: Room, now: number, limits: Limits): ViewCache {
  const c = cachesOf(room);
  const hit = c.views;
  if (
    hit && hit.seq === room.seq && now < hit.validUntil &&
    !(hit.starved && room.rt.celTime.level(performance.now(), limits) > 0)
  ) return hit;
  // no views: nothing to build their context for (a room without views pays nothing per commit)
  if (room.viewOrder.length === 0) {
    return c.views = { seq: room.seq, validUntil: Infinity, values: new Map(), cel: {}, starved: false };
  }
  const budget = new CelBudget(limits, "views' computation", limits.celViewsMs);
  const bucket = room.rt.celTime;
  let starved = false;
  const values = new Map<string, ViewValue>();
  const celViews: Record<string, unknown> = {};
  let validUntil = Infinity;
  const system: Record<string, unknown> = {};
  for (const s of stateScopes(room)) {
    if (!s.startsWith("_")) continue;
    const sc = liveScope(room, s, now, limits, budget);
    system[s] = sc.cel;
    validUntil = Math.min(validUntil, sc.validUntil);
  }
  defineMessagesScope(room, system);
  const agentsNow = agentsAt(room, now, limits);
  const agents = agentsNow.value;
  // a view reading `agents` changes when an agent goes gone
  validUntil = Math.min(validUntil, agentsNow.validUntil);
  for (const id of room.viewOrder) {
    const v = room.views.get(id);
    if (!v) continue;
    const b = nextBoundary(v.timer, now);
    if (b !== undefined) validUntil = Math.min(validUntil, b);
    if (!viewLive(room, v, now)) continue;
    let state = system;
    if (!v.scope.startsWith("_")) {
      const own = liveScope(room, v.scope, now, limits, budget);
      validUntil = Math.min(validUntil, own.validUntil);
      state = { ...system, [v.scope]: own.cel, self: own.cel };
      defineMessagesScope(room, state);
    }
    const ctx = { state, views: celViews, agents, self: v.scope.startsWith("_") ? "" : v.scope };
    let r: CelResult | undefined;
    if (v.enabled) {
      const p = safeProgram(v.enabled, limits);
      if (!p) continue;
      const on = evaluate(p, ctx, budget, bucket);
      if (on.ok && on.value !== true) continue;
      if (!on.ok && !on.limit) continue;
      if (!on.ok) r = on;
    }
    if (!r) {
      const p = safeProgram(v.expr, limits);
      r = p ? evaluate(p, ctx, budget, bucket) : { ok: false, error: "invalid expression", limit: false };
    }
    if (!r.ok && r.limit === "room") starved = true;
    const vv: ViewValue = r.ok
      ? { value: r.value }
      : { value: null, error: r.limit ? `cel_limit: ${r.error}` : r.error };
    values.set(id, vv);
    celViews[id] = toCel(vv.value);
  }
  return c.views = { seq: room.seq, validUntil, values, cel: celViews, starved };
}

/** `state._messages` in CEL: the room's one copy (messages.ts), converted only once something reads it. */
export function defineMessagesScope(room: Room, state: Record<string, unknown>): void {
  Object.defineProperty(state, "_messages", {
    enumerable: true,
    configurable: true,
    get: () => messagesCel(room),
  });
}

/**
 * `agents` in CEL: `{id: {name, role, status, waiting_on, last_seen}}`, `status` `gone` for an agent silent
 * for the room's window (liveness.ts). Cached until a commit, a presence change or the next agent going gone.
 */
export function agentsCel(room: Room, now: number, limits: Limits): CelMap {
  return agentsAt(room, now, limits).value;
}

function agentsAt(room: Room, now: number, limits: Limits): NonNullable<SnapshotCaches["agentsCel"]> {
  const c = cachesOf(room);
  const hit = c.agentsCel;
  if (hit && hit.seq === room.seq && hit.version === c.agentsVersion && now < hit.validUntil) return hit;
  const window = windowOf(room, limits);
  const byId: Record<string, unknown> = {};
  for (const a of room.agents.values()) {
    byId[a.id] = {
      name: a.name,
      role: a.role,
      status: isAgentGone(room, a, now, window) ? "gone" : a.status,
      waiting_on: a.waiting_on,
      last_seen: lastSeenOf(a),
    };
  }
  const value = celMap(byId);
  return c.agentsCel = {
    seq: room.seq,
    version: c.agentsVersion,
    value,
    validUntil: nextGoneAt(room, now, window),
  };
}
