/**
 * @module engine/history_rows — what a commit leaves in its room's history (a commit-time effect, called by
 * applyTx): a header row (who, what, the outcome, a refusal's reason, an approved action's run, and where
 * everything it wrote is) and one row per thing written (entries, definitions, members, ticks, leases,
 * proposals). The rows hold the entries' own value objects (their JSON is made once, with the
 * state row's, at the flush).
 */
import {
  type ActionDef,
  type Agent,
  type AuditRow,
  type Change,
  type Entry,
  entryId,
  type HistoryRow,
  type Lease,
  type Message,
  type Proposal,
  type ViewDef,
} from "./model.ts";
import type { Room } from "./room.ts";

/** What a commit's history rows are made of: the Tx applyTx applied (tx.ts calls recordHistory with it). */
export type CommittedTx = {
  readonly room: Room;
  readonly caller: { readonly id: string };
  readonly label: string;
  readonly iso: string;
  readonly moreAudit: readonly Omit<AuditRow, "seq">[];
  readonly entries: ReadonlyMap<string, Entry | null>;
  readonly newTicks: ReadonlySet<string>;
  readonly newMessages: readonly Message[];
  readonly updatedMessages: ReadonlyMap<number, Message>;
  readonly actions: ReadonlyMap<string, ActionDef | null>;
  readonly views: ReadonlyMap<string, ViewDef | null>;
  readonly agents: ReadonlyMap<string, Agent>;
  readonly leases: ReadonlyMap<string, Lease>;
  readonly proposals: ReadonlyMap<string, Proposal>;
};

/**
 * Where a history row sits (schema.ts migration 6): the header of a commit (scope and key ""), state entries
 * under their own scope and key, and the room's make-up under scopes no state scope can be named (`#…`). A
 * message sent or claimed is named in its header's `writes` as [`_messages`, seq] and has no row: the
 * message's `commit_seq` and `claim_seq` say which commits those were.
 */
export const HISTORY = {
  commit: "",
  messages: "_messages",
  action: "#action",
  view: "#view",
  agent: "#agent",
  tick: "#tick",
  lease: "#lease",
  proposal: "#proposal",
} as const;

/** A lease's history row is keyed `scope/key` (no scope name holds a `/`); its value is the whole lease. */
export const leaseKey = (l: { scope: string; key: string }) => `${l.scope}/${l.key}`;

/** An approved action's run inside the commit of the approval that completed its quorum (proposals.ts). */
export type CommitRun = { agent: string; action: string; ok: boolean; error?: string };

/** A commit's header: who did what and how it ended (a refusal with its reason, as its invoker saw it). */
export type CommitHead = {
  agent: string;
  action: string;
  ok: boolean;
  error?: string;
  message?: string;
  detail?: Record<string, unknown>;
  /** the runs this commit made as other invokers (an approved action, as its proposer) */
  runs?: CommitRun[];
};

/** A member as history keeps it: no token hash, no presence that is not committed. */
export type MemberRow = Pick<
  Agent,
  "name" | "role" | "meta" | "grants" | "joined_at" | "status" | "last_heartbeat"
>;

export function memberRow(a: Agent): MemberRow {
  return {
    name: a.name,
    role: a.role,
    meta: a.meta,
    grants: a.grants,
    joined_at: a.joined_at,
    status: a.status,
    last_heartbeat: a.last_heartbeat,
  };
}

/** An entry as its history row (the entry's own value object: its JSON is made once, at the flush). */
function entryRow(e: Entry, seq: number): HistoryRow {
  return {
    scope: e.scope,
    key: e.key,
    seq,
    version: e.version,
    value: e.value,
    updated_at: e.updated_at,
    timer: e.timer ?? undefined,
    enabled: e.enabled,
    sort_key: e.sort_key,
  };
}

/**
 * Stages commit `seq`'s history rows in the room's pending writes (after applyTx applied the Tx); returns
 * its header (the commit's webhooks are named there: outbox.ts).
 */
export function recordHistory(
  tx: CommittedTx,
  seq: number,
  changes: Change[],
  audit: AuditRow | null,
): HistoryRow {
  const room = tx.room;
  const d = room.rt.dirty;
  const head: CommitHead = {
    agent: audit?.agent ?? tx.caller.id,
    action: audit?.action ?? tx.label,
    ok: audit?.ok ?? true,
  };
  if (audit && !audit.ok) {
    if (audit.error) head.error = audit.error;
    if (audit.message) head.message = audit.message;
    if (audit.detail && Object.keys(audit.detail).length) head.detail = audit.detail;
  }
  if (tx.moreAudit.length) {
    head.runs = tx.moreAudit.map((r) => ({
      agent: r.agent,
      action: r.action,
      ok: r.ok,
      ...(r.error ? { error: r.error } : {}),
    }));
  }
  const writes: [string, string][] = [];
  const header: HistoryRow = {
    scope: HISTORY.commit,
    key: "",
    seq,
    version: 0,
    value: head,
    updated_at: tx.iso,
  };
  d.addHistory(header);
  const add = (row: HistoryRow) => {
    writes.push([row.scope, row.key]);
    d.addHistory(row);
  };
  let ticked: Set<string> | undefined;
  for (const c of changes) {
    // a lease that changed hands without a write: its entry's value is as it was (the lease row says it)
    if (!tx.entries.has(entryId(c.scope, c.key))) continue;
    const e = c.deleted ? undefined : room.getEntry(c.scope, c.key);
    if (!e) {
      add({ scope: c.scope, key: c.key, seq, version: c.version });
      continue;
    }
    add(entryRow(e, seq));
    // a write to a logical timer's key moved its tick count (applyTx counted it)
    const target = `${e.scope}.${e.key}`;
    if (room.ticks.has(target)) (ticked ??= new Set()).add(target);
  }
  for (const t of tx.newTicks) (ticked ??= new Set()).add(t);
  for (const t of ticked ?? []) add({ scope: HISTORY.tick, key: t, seq, version: 0, value: room.tick(t) });
  for (const m of tx.newMessages) {
    m.commit_seq = seq;
    writes.push([HISTORY.messages, String(m.seq)]);
  }
  for (const [s, m] of tx.updatedMessages) {
    m.claim_seq = seq;
    writes.push([HISTORY.messages, String(s)]);
  }
  for (const [id, a] of tx.actions) {
    add({ scope: HISTORY.action, key: id, seq, version: 0, value: a ?? undefined });
  }
  for (const [id, v] of tx.views) {
    const value = v ? { def: v, position: room.viewOrder.indexOf(id) } : undefined;
    add({ scope: HISTORY.view, key: id, seq, version: 0, value });
  }
  for (const [id, a] of tx.agents) {
    add({ scope: HISTORY.agent, key: id, seq, version: 0, value: memberRow(a) });
  }
  for (const l of tx.leases.values()) {
    add({ scope: HISTORY.lease, key: leaseKey(l), seq, version: l.epoch, value: l });
  }
  for (const [id, p] of tx.proposals) add({ scope: HISTORY.proposal, key: id, seq, version: 0, value: p });
  if (writes.length) header.writes = writes;
  return header;
}

/** Rows for a room whose history begins now, with what it holds (an import without history). */
export function baselineRows(room: Room): HistoryRow[] {
  const seq = room.seq;
  const rows: HistoryRow[] = [];
  for (const m of room.scopes.values()) {
    for (const e of m.values()) rows.push(entryRow(e, Math.min(e.seq, seq)));
  }
  for (const [id, a] of room.actions) {
    rows.push({ scope: HISTORY.action, key: id, seq, version: 0, value: a });
  }
  room.viewOrder.forEach((id, position) => {
    const def = room.views.get(id);
    if (def) rows.push({ scope: HISTORY.view, key: id, seq, version: 0, value: { def, position } });
  });
  for (const [id, a] of room.agents) {
    rows.push({ scope: HISTORY.agent, key: id, seq, version: 0, value: memberRow(a) });
  }
  for (const [t, n] of room.ticks) rows.push({ scope: HISTORY.tick, key: t, seq, version: 0, value: n });
  for (const m of room.leases.values()) {
    for (const l of m.values()) {
      rows.push({ scope: HISTORY.lease, key: leaseKey(l), seq, version: l.epoch, value: l });
    }
  }
  for (const [id, p] of room.proposals) {
    rows.push({ scope: HISTORY.proposal, key: id, seq, version: 0, value: p });
  }
  return rows;
}
