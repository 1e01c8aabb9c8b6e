/**
 * @module engine/retention — how much history a room keeps (the server's SYNC_HISTORY_COMMITS and
 * SYNC_HISTORY_MAX_AGE_MS, or less if the room asks) and the trimming that keeps it there: after a commit is
 * durable, a room over its limit is trimmed in steps of at most HISTORY_TRIM_STEP commits, each one small
 * batch of deletes through the committer, one after the other, never inside an invocation.
 */
import { HISTORY_AGE_CHECK_MS, HISTORY_TRIM_STEP, type Limits } from "../config.ts";
import { ApiError } from "../errors.ts";
import { copyDeliveries } from "./outbox_copy.ts";
import type { RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";

/** What trimming uses of the engine (which calls it after commits: a shape here, not an import back). */
type TrimHost = {
  readonly limits: Limits;
  readonly closing: boolean;
  readonly rooms: RoomRegistry;
  now(): number;
};

/** A room's own retention, as `POST /rooms` and `PATCH /rooms/:id` take it (null: back to the server's). */
export type HistorySettings = { commits?: number | null; max_age_ms?: number | null };

/** The oldest commit a room's history shows (and `at` reads). */
export function historyFrom(room: Room): number {
  return room.history?.from ?? 0;
}

/** What the room keeps: its own limits, never more than the server's. */
export function retentionOf(limits: Limits, room: Room): { commits: number; max_age_ms: number } {
  return {
    commits: room.history?.commits ?? limits.historyCommits,
    max_age_ms: room.history?.max_age_ms ?? limits.historyMaxAgeMs,
  };
}

/** Applies settings to a room in memory (marked for the next commit); `400 invalid_body` past the server's. */
export function setRetention(limits: Limits, room: Room, s: HistorySettings): void {
  const max = { commits: limits.historyCommits, max_age_ms: limits.historyMaxAgeMs };
  for (const f of ["commits", "max_age_ms"] as const) {
    const v = s[f];
    if (v !== undefined && v !== null && v > max[f]) {
      throw new ApiError(
        "invalid_body",
        `history.${f} is ${v}; this server keeps at most ${max[f]} (SYNC_HISTORY_${
          f === "commits" ? "COMMITS" : "MAX_AGE_MS"
        })`,
        { field: `history.${f}`, limit: max[f] },
      );
    }
  }
  const h = room.history ?? { from: 0 };
  const next = { ...h };
  if (s.commits !== undefined) s.commits === null ? delete next.commits : next.commits = s.commits;
  if (s.max_age_ms !== undefined) {
    s.max_age_ms === null ? delete next.max_age_ms : next.max_age_ms = s.max_age_ms;
  }
  room.history = next;
  room.rt.dirty.historySettings = true;
}

/** The room's retention as responses show it. */
export function retentionJson(limits: Limits, room: Room) {
  return { ...retentionOf(limits, room), oldest_seq: historyFrom(room) };
}

/**
 * Called after each durable commit of a room: starts trimming when the room is over its commit limit by a
 * step (or a tenth of the limit), or when its oldest commit may be older than its age limit (looked at no
 * more often than HISTORY_AGE_CHECK_MS). Nothing here delays the commit: it runs after the writers were
 * answered, and each step is one small batch of its own.
 */
export function trimIfDue(eng: TrimHost, room: Room): void {
  const t = room.rt.trim;
  if (t?.running || eng.closing || !room.rt.alive) return;
  const r = retentionOf(eng.limits, room);
  const slack = Math.max(1, Math.min(HISTORY_TRIM_STEP, Math.floor(r.commits / 10)));
  const overCount = room.seq - r.commits + 1 - historyFrom(room) >= slack;
  const now = eng.now();
  // until a step has looked, the oldest commit is no older than where the history begins
  const oldest = t?.oldestTs ?? room.history?.from_ts ?? room.created_at;
  const aged = now - Date.parse(oldest) > r.max_age_ms &&
    (t?.checkedAt === undefined || now - t.checkedAt >= HISTORY_AGE_CHECK_MS);
  if (!overCount && !aged) return; // the common case allocates nothing (10,000 resident rooms)
  const step = room.rt.trim ??= { running: false };
  step.running = true;
  step.checkedAt = now;
  trimSteps(eng, room).catch(() => {/* the rows stay: the room's next commit tries again */})
    .finally(() => step.running = false);
}

/** Trims step by step until the room is within its limits (or left memory, or the server stops). */
async function trimSteps(eng: TrimHost, room: Room): Promise<void> {
  const t = room.rt.trim!;
  for (;;) {
    if (eng.closing || !room.rt.alive) return;
    const r = retentionOf(eng.limits, room);
    const from = historyFrom(room);
    const times = await eng.rooms.history.readCommitTimes(room.id, from, HISTORY_TRIM_STEP + 1);
    if (!times.length) return;
    // keep the newest `commits`, none older than max_age_ms, and always the latest commit
    const cutAge = eng.now() - r.max_age_ms;
    let to = Math.max(from, room.seq - r.commits + 1);
    for (const c of times) {
      if (c.seq >= to && Date.parse(c.ts) >= cutAge) break;
      to = Math.max(to, c.seq + 1);
    }
    to = Math.min(to, room.seq, from + HISTORY_TRIM_STEP);
    const at = to > from ? times.find((c) => c.seq >= to) : undefined;
    if (!at) {
      t.oldestTs = times[0].ts;
      return;
    }
    t.oldestTs = at.ts;
    // a commit due to a webhook leaves the history once it is in the webhook's outbox
    for (const id of room.webhooks.keys()) await copyDeliveries(eng.rooms, room.id, id, at.seq - 1);
    if (eng.closing || !room.rt.alive) return;
    room.history = { ...(room.history ?? { from: 0 }), from: at.seq, from_ts: at.ts };
    room.rt.dirty.historyTrim = { from, to: at.seq, to_ts: at.ts };
    await eng.rooms.commit(room);
    if (at.seq - from < HISTORY_TRIM_STEP) return;
  }
}
