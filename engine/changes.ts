/**
 * @module engine/changes — what changed for one caller since a cursor (`after=CURSOR`, `include=changes`):
 * entries with their values, messages created or claimed, views whose values changed, actions whose
 * availability changed for the caller. Privacy comes from privacy.ts; only memory is read (the log ring and
 * per-caller observations), never the database.
 */
import type { Caller } from "../auth.ts";
import { CONTEXT_MESSAGES_DEFAULT, CONTEXT_MESSAGES_MAX, OBSERVATIONS_KEPT } from "../config.ts";
import { actionCatalog } from "./catalog.ts";
import { type ReadCtx, visibleScopes } from "./context.ts";
import { messageView } from "./messages.ts";
import type { AuditRow, Change, CommitRecord } from "./model.ts";
import { canReadAudit, canReadScope } from "./privacy.ts";
import type { Observation } from "./room.ts";
import { liveScope, viewValues } from "./snapshot.ts";
import { visibleProposalIds } from "./proposal_views.ts";

export type Delta = { changes: Change[]; messages: number[]; complete: boolean };

/** The entry changes of one commit the caller may see (the one privacy rule of cursors and the feed). */
export function visibleChanges(caller: Caller, rec: CommitRecord): Change[] {
  // the record's own list when all of it is visible (the common case allocates nothing)
  const all = rec.changes;
  let out: Change[] | undefined;
  for (let i = 0; i < all.length; i++) {
    if (!canReadScope(caller, all[i].scope)) out ??= all.slice(0, i);
    else out?.push(all[i]);
  }
  return out ?? all;
}

/** The audit row of one commit, if the caller may see it. */
export function visibleAudit(caller: Caller, rec: CommitRecord): AuditRow | null {
  return rec.audit && canReadAudit(caller, rec.audit.agent) ? rec.audit : null;
}

/**
 * Entries and message seqs after a cursor that the caller may see. A cursor older than the in-memory log
 * ring (or than a reload of the room) gives every entry written after it and `complete: false`.
 */
export function changesSince(rc: ReadCtx, after: number): Delta {
  const room = rc.room;
  const log = room.rt.log;
  const changes: Change[] = [];
  const messages = new Set<number>();
  const oldest = log.length ? log[0].seq : room.seq + 1;
  let complete = after >= oldest - 1;
  if (complete) {
    const seen = new Map<string, Change>();
    for (const rec of log) {
      if (rec.seq <= after) continue;
      for (const c of visibleChanges(rc.caller, rec)) seen.set(`${c.scope}\u0000${c.key}`, c);
      for (const m of rec.messages) messages.add(m);
    }
    changes.push(...seen.values());
  } else {
    // older than the in-memory log: every entry written after the cursor (deletions cannot be listed)
    for (const s of visibleScopes(rc)) {
      for (const e of room.scopes.get(s)?.values() ?? []) {
        if (e.seq > after) changes.push({ scope: e.scope, key: e.key, version: e.version });
      }
    }
    complete = false;
  }
  return { changes, messages: [...messages].sort((a, b) => a - b), complete };
}

// ── observations: view values and action availability as one caller saw them at a cursor ─────────────

function snapshot(rc: ReadCtx): Observation {
  const views = new Map<string, string>();
  for (const [id, v] of viewValues(rc.room, rc.now, rc.limits)) {
    views.set(id, JSON.stringify(v.value ?? null));
  }
  const actions = new Map<string, boolean>();
  for (const a of actionCatalog(rc, false)) if (!a.builtin) actions.set(a.id, a.available);
  return { seq: rc.room.seq, views, actions };
}

/**
 * Remembers the views and the caller's action availability at the room's current seq, so a later
 * `after=<this seq>` can say which of them changed. Called when a waiter registers and when a changes
 * listing is answered (the cursor it returns is the next call's `after`).
 */
export function observe(rc: ReadCtx): void {
  // per caller id, the last few, oldest first; lost when the room is reloaded
  const byCaller = rc.room.rt.observations;
  const list = byCaller.get(rc.caller.id) ?? [];
  const obs = snapshot(rc);
  const at = list.findIndex((o) => o.seq >= obs.seq);
  if (at === -1) list.push(obs);
  else if (list[at].seq === obs.seq) list[at] = obs;
  else list.splice(at, 0, obs);
  if (list.length > OBSERVATIONS_KEPT) list.splice(0, list.length - OBSERVATIONS_KEPT);
  byCaller.set(rc.caller.id, list);
}

/** The observation at `seq` (exact) or the newest before it (a superset of the changes is then reported). */
function baseline(rc: ReadCtx, seq: number): { obs: Observation; exact: boolean } | undefined {
  const list = rc.room.rt.observations.get(rc.caller.id) ?? [];
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i].seq <= seq) return { obs: list[i], exact: list[i].seq === seq };
  }
  return undefined;
}

export type ViewActionDiff = {
  views: Record<string, unknown>;
  actions: Record<string, { available: boolean; removed?: true }>;
  exact: boolean;
};

/** Views whose value and custom actions whose availability for the caller differ from the cursor's. */
export function viewActionDiff(rc: ReadCtx, after: number): ViewActionDiff {
  const base = baseline(rc, after);
  const now = snapshot(rc);
  const views: Record<string, unknown> = {};
  const actions: ViewActionDiff["actions"] = {};
  for (const [id, v] of now.views) if (base?.obs.views.get(id) !== v) views[id] = JSON.parse(v);
  for (const id of base?.obs.views.keys() ?? []) if (!now.views.has(id)) views[id] = { removed: true };
  for (const [id, a] of now.actions) {
    const was = base?.obs.actions.get(id);
    if (base ? was !== a : a) actions[id] = { available: a };
  }
  for (const [id, was] of base?.obs.actions ?? []) {
    if (was && !now.actions.has(id)) actions[id] = { available: false, removed: true };
  }
  return { views, actions, exact: base?.exact === true };
}

/** Whether a commit after the cursor made or decided a proposal the caller sees (a decision writes no entry). */
function proposalsChangedSince(rc: ReadCtx, after: number): boolean {
  if (!rc.room.hasProposals) return false;
  const log = rc.room.rt.log;
  for (let i = log.length - 1; i >= 0 && log[i].seq > after; i--) {
    const ids = log[i].proposals;
    if (ids && visibleProposalIds(rc, ids).length) return true;
  }
  return false;
}

/**
 * Edge trigger: did anything the caller can see change after the cursor? Entries and messages always
 * count; views and action availability count when `withObserved` and the caller was observed at the cursor.
 */
export function hasVisibleChange(rc: ReadCtx, after: number, withObserved = false): boolean {
  const d = changesSince(rc, after);
  if (d.changes.length || d.messages.length || proposalsChangedSince(rc, after)) return true;
  if (!withObserved) return false;
  const diff = viewActionDiff(rc, after);
  return diff.exact && (Object.keys(diff.views).length > 0 || Object.keys(diff.actions).length > 0);
}

/**
 * The `include=changes` answer since a cursor: `changes` (entries with their live values; `deleted: true`
 * for one that is gone or hidden), `messages_since` (seqs), `changed_messages` (the message objects, oldest
 * first), `changed_views`, `changed_actions`. Trimmed lists are counted in `_elided`; `changes_complete:
 * false` when the cursor is older than what memory holds (the lists are then a superset).
 */
export function describeChanges(rc: ReadCtx, since: number): Record<string, unknown> {
  const d = changesSince(rc, since);
  const out: Record<string, unknown> = {};
  const elided: Record<string, number> = {};
  const live = new Map<string, Record<string, unknown>>();
  const valueOf = (scope: string, key: string) => {
    let json = live.get(scope);
    if (!json) live.set(scope, json = liveScope(rc.room, scope, rc.now, rc.limits, rc.cel).json);
    return json[key];
  };
  const entries = d.changes.slice(0, CONTEXT_MESSAGES_MAX);
  if (d.changes.length > entries.length) elided.changes = d.changes.length - entries.length;
  out.changes = entries.map((c) => {
    const value = c.deleted ? undefined : valueOf(c.scope, c.key);
    return value === undefined ? { ...c, deleted: true } : { ...c, value };
  });
  out.messages_since = d.messages;
  const shown = d.messages.slice(0, CONTEXT_MESSAGES_DEFAULT);
  if (d.messages.length > shown.length) elided.changed_messages = d.messages.length - shown.length;
  const msgs = shown.map((s) => rc.room.messages[s - 1]).filter(Boolean).map(messageView);
  if (msgs.length) out.changed_messages = msgs;
  const diff = viewActionDiff(rc, since);
  if (Object.keys(diff.views).length) out.changed_views = diff.views;
  if (Object.keys(diff.actions).length) out.changed_actions = diff.actions;
  if (!d.complete || !diff.exact) out.changes_complete = false;
  if (Object.keys(elided).length) out._elided = elided;
  return out;
}
