/**
 * @module engine/history — a room's timeline (`GET /history`) and one key's versions (`GET /state/history`),
 * read from storage after the room's commits are durable and shown with the reader's privacy (privacy.ts):
 * writes to scopes it may not read are left out, and a commit with nothing left that it may see is left out
 * whole; refusals only to their invoker and the room and view tokens.
 */
import {
  HISTORY_LIMIT_DEFAULT,
  HISTORY_LIMIT_MAX,
  HISTORY_SCAN_MAX,
  VERSIONS_LIMIT_DEFAULT,
  VERSIONS_LIMIT_MAX,
} from "../config.ts";
import { ApiError } from "../errors.ts";
import { publicAction } from "./builtins.ts";
import type { ReadCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import { isLive, type Timer } from "../timers.ts";
import { type CommitHead, HISTORY, type MemberRow } from "./history_rows.ts";
import { messageView } from "./messages.ts";
import type { ActionDef, HistoryRow, Lease, Proposal, ViewDef } from "./model.ts";
import { canReadAudit, canReadScope, seesHidden } from "./privacy.ts";
import { canSeeProposal, type DecideCache, proposalJson } from "./proposal_views.ts";
import { liveScope } from "./snapshot.ts";
import { refusalFor } from "./refusals.ts";
import { historyFrom } from "./retention.ts";
import type { Room } from "./room.ts";

export type TimelineQuery = {
  after?: number;
  before?: number;
  limit?: number;
  agent?: string;
  action?: string;
  scope?: string;
  key?: string;
  order?: "asc" | "desc";
};

/** A write as the timeline shows it. */
type WriteView = { scope: string; key: string; version: number; value?: unknown; deleted?: true };

/** A message as commit `seq` left it: sent then (not claimed yet, version 1), or claimed then (2). */
function messageAt(room: Room, msgSeq: string, seq: number): WriteView {
  const m = room.messages[Number(msgSeq) - 1];
  const claimed = m?.claim_seq === seq;
  const value = !m
    ? null
    : claimed
    ? messageView(m)
    : { ...messageView(m), claimed_by: null, claimed_at: null };
  return { scope: HISTORY.messages, key: msgSeq, version: claimed ? 2 : 1, value };
}

const at = (scope: string, key: string) => `${scope}\u0000${key}`;

/**
 * Whether a version of an entry is withheld from the reader as the live reads withhold hidden entries
 * (hidden.ts): an agent sees no version whose `enable` timer has not come yet, nor one with an `enabled`
 * condition while the entry is not live for it now. The room and view tokens see every version.
 */
function hiddenFrom(rc: ReadCtx, r: HistoryRow, live: Map<string, Set<string>>): boolean {
  if (seesHidden(rc.caller)) return false;
  const t = r.timer as Timer | undefined;
  if (t?.effect === "enable" && !isLive(t, rc.now, (x) => rc.room.tick(x))) return true;
  if (!r.enabled) return false;
  let keys = live.get(r.scope);
  if (!keys) {
    const entries = liveScope(rc.room, r.scope, rc.now, rc.limits, rc.cel).entries;
    live.set(r.scope, keys = new Set(entries.map((e) => e.key)));
  }
  return !keys.has(r.key);
}

/** What a reader's pages share: which keys are live for it now, who may decide which proposal. */
type Seen = { live: Map<string, Set<string>>; decide: DecideCache };
/**
 * One commit for the reader, or null when it may see nothing of it: its header's `writes` in the order the
 * commit made them, each from its row (`rows`: the commit's rows by scope and key) or, for a message, from
 * the room's log.
 */
function commitFor(
  rc: ReadCtx,
  head: HistoryRow,
  rows: Map<string, HistoryRow>,
  seen: Seen,
): Record<string, unknown> | null {
  const h = head.value as CommitHead;
  const reader = rc.caller;
  const own = canReadAudit(reader, h.agent);
  if (!h.ok && !own) return null;
  const writes: WriteView[] = [];
  const actions: Record<string, unknown>[] = [];
  const views: Record<string, unknown>[] = [];
  const agents: Record<string, unknown>[] = [];
  const leases: Record<string, unknown>[] = [];
  const proposals: Record<string, unknown>[] = [];
  for (const [scope, key] of head.writes ?? []) {
    if (scope === HISTORY.messages) {
      if (canReadScope(reader, scope)) writes.push(messageAt(rc.room, key, head.seq));
      continue;
    }
    const r = rows.get(at(scope, key));
    if (!r || scope === HISTORY.tick) continue;
    if (scope === HISTORY.action) {
      actions.push(r.value === undefined ? { id: key, deleted: true } : publicAction(r.value as ActionDef));
    } else if (scope === HISTORY.view) {
      const v = (r.value as { def: ViewDef } | undefined)?.def;
      views.push(v ? { ...v } : { id: key, deleted: true });
    } else if (scope === HISTORY.agent) {
      agents.push({ id: key, ...(r.value as MemberRow) });
    } else if (scope === HISTORY.lease) {
      // as live reads show leases: in scopes the reader may read, and on messages
      const l = r.value as Lease;
      if (l.scope !== HISTORY.messages && !canReadScope(reader, l.scope)) continue;
      leases.push({ scope: l.scope, key: l.key, holder: l.holder, epoch: l.epoch });
    } else if (scope === HISTORY.proposal) {
      const p = r.value as Proposal;
      if (canSeeProposal(rc, p, seen.decide)) proposals.push(proposalJson(rc, p, seen.decide));
    } else if (canReadScope(reader, scope) && !hiddenFrom(rc, r, seen.live)) {
      writes.push(
        r.value === undefined
          ? { scope, key, version: r.version, deleted: true }
          : { scope, key, version: r.version, value: r.value },
      );
    }
  }
  // an approved action's run is the proposer's: its refusal only to the proposer (and the tokens)
  const runs = (h.runs ?? []).filter((x) => x.ok || canReadAudit(reader, x.agent));
  if (
    !own && !writes.length && !actions.length && !views.length && !agents.length && !leases.length &&
    !proposals.length && !runs.length
  ) return null;
  const out: Record<string, unknown> = {
    seq: head.seq,
    ts: head.updated_at,
    agent: h.agent,
    action: h.action,
    ok: h.ok,
    writes,
  };
  if (actions.length) out.actions = actions;
  if (views.length) out.views = views;
  if (agents.length) out.agents = agents;
  if (leases.length) out.leases = leases;
  if (proposals.length) out.proposals = proposals;
  if (runs.length) out.runs = runs;
  if (!h.ok) {
    out.error = h.error ?? null;
    out.message = h.message ?? null;
    const detail = refusalFor(reader, h.detail);
    if (detail) out.detail = detail;
  }
  return out;
}

function checkScope(rc: ReadCtx, scope: string | undefined, key: string | undefined): void {
  if (key !== undefined && scope === undefined) {
    throw new ApiError("invalid_query", "key needs scope", { field: "key" });
  }
  if (scope !== undefined && !canReadScope(rc.caller, scope)) {
    throw new ApiError("scope_denied", `${rc.caller.id} may not read scope ${scope}`, { scope });
  }
}

/**
 * `GET /history`: commits newest first (`order=asc`: oldest first), each with what the reader may see of
 * it. `next` continues the listing (`before=next`, or `after=next` ascending), null at the end; a page can
 * be short when most commits are hidden from the reader (at most HISTORY_SCAN_MAX are read per page).
 */
export async function readTimeline(eng: Engine, rc: ReadCtx, q: TimelineQuery) {
  checkScope(rc, q.scope, q.key);
  const room = rc.room;
  await eng.rooms.settle(room);
  const limit = Math.max(1, Math.min(q.limit ?? HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX));
  const order = q.order ?? "desc";
  const from = historyFrom(room);
  let after = Math.max(q.after ?? -1, from - 1);
  let before = q.before;
  // a page's worth of headers first (tokens see every commit); an agent who saw few of them reads more
  // per round trip after that
  let chunk = limit;
  const commits: Record<string, unknown>[] = [];
  const seen: Seen = { live: new Map(), decide: new Map() };
  let next: number | null = null;
  for (let scanned = 0; scanned < HISTORY_SCAN_MAX; chunk = Math.min(chunk * 4, 1000)) {
    const n = Math.min(chunk, HISTORY_SCAN_MAX - scanned);
    const found = await eng.rooms.history.readCommits(room.id, {
      after: after >= 0 ? after : undefined,
      before,
      order,
      limit: n,
      agent: q.agent,
      action: q.action,
      scope: q.scope,
      key: q.key,
    });
    let last: number | undefined;
    for (const { head, rows } of found) {
      last = head.seq;
      const c = commitFor(rc, head, new Map(rows.map((r) => [at(r.scope, r.key), r])), seen);
      if (c && commits.push(c) === limit) break;
    }
    scanned += found.length;
    if (commits.length === limit) {
      next = last!;
      break;
    }
    if (found.length < n || last === undefined) break;
    if (scanned >= HISTORY_SCAN_MAX) next = last;
    if (order === "desc") before = last;
    else after = last;
  }
  return { commits, next, oldest_seq: from, cursor: room.seq };
}

export type VersionsQuery = { scope?: string; key?: string; before?: number; limit?: number };

/**
 * `GET /state/history`: every retained version of one key, newest first, with the commit that wrote it
 * (an agent does not see the versions live reads would hide from it, see `hiddenFrom`).
 */
export async function readVersions(eng: Engine, rc: ReadCtx, q: VersionsQuery) {
  if (q.scope === undefined || q.key === undefined) {
    throw new ApiError("invalid_query", "scope and key are required", {
      field: q.scope === undefined ? "scope" : "key",
    });
  }
  checkScope(rc, q.scope, q.key);
  const room = rc.room;
  await eng.rooms.settle(room);
  const limit = Math.max(1, Math.min(q.limit ?? VERSIONS_LIMIT_DEFAULT, VERSIONS_LIMIT_MAX));
  const before = q.before ?? Number.MAX_SAFE_INTEGER;
  const found = q.scope === HISTORY.messages
    ? await messageVersions(eng, room, q.key, before, limit)
    : await eng.rooms.history.readVersions(room.id, q.scope, q.key, before, limit);
  const live = new Map<string, Set<string>>();
  const versions = found.filter(({ row }) => !hiddenFrom(rc, row, live)).map(({ row, head }) => {
    const h = head?.value as CommitHead | undefined;
    return {
      seq: row.seq,
      version: row.version,
      ...(row.value === undefined ? { deleted: true } : { value: row.value }),
      ts: head?.updated_at ?? row.updated_at ?? null,
      // the oldest retained version may have been written by a commit the history no longer lists
      agent: h?.agent ?? null,
      action: h?.action ?? null,
    };
  });
  const next = found.length === limit ? found[found.length - 1].row.seq : null;
  return { scope: q.scope, key: q.key, versions, next, oldest_seq: historyFrom(room) };
}

/** A message's versions (sent, claimed) from the log, with their commits' headers where retained. */
async function messageVersions(eng: Engine, room: Room, key: string, before: number, limit: number) {
  const m = /^[1-9]\d*$/.test(key) ? room.messages[Number(key) - 1] : undefined;
  const from = historyFrom(room);
  const seqs = [m?.claim_seq, m?.commit_seq].filter((s): s is number =>
    typeof s === "number" && s >= from && s < before
  ).slice(0, limit);
  const heads = await eng.rooms.history.readRows(room.id, seqs.map((seq) => ({ scope: "", key: "", seq })));
  return seqs.map((seq) => ({
    row: { ...messageAt(room, key, seq), seq } as HistoryRow,
    head: heads.find((h) => h.seq === seq),
  }));
}
