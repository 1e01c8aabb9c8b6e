/**
 * @module engine/history_export — a room's retained history in its snapshot (`GET /export`,
 * `POST /rooms/import`, format v2): each row as an object that says what it is (`kind`), and back. Rows are
 * checked against the snapshot's own commit counter on the way in; a commit without its list of what it
 * wrote gets one from the rows and the messages (which say which commits sent and claimed them).
 */
import { ApiError } from "../errors.ts";
import { type SnapshotHistoryRow, SnapshotLease, SnapshotProposal } from "../wire.ts";
import { type CommitHead, HISTORY, leaseKey } from "./history_rows.ts";
import type { HistoryRow, Message } from "./model.ts";

const KIND_OF: Record<string, "action" | "view" | "agent" | "tick" | "lease" | "proposal"> = {
  [HISTORY.action]: "action",
  [HISTORY.view]: "view",
  [HISTORY.agent]: "agent",
  [HISTORY.tick]: "tick",
  [HISTORY.lease]: "lease",
  [HISTORY.proposal]: "proposal",
};
const SCOPE_OF = Object.fromEntries(Object.entries(KIND_OF).map(([scope, kind]) => [kind, scope]));

export function snapshotRow(r: HistoryRow): SnapshotHistoryRow {
  if (r.scope === HISTORY.commit) {
    const h = r.value as CommitHead;
    return {
      kind: "commit",
      seq: r.seq,
      ts: r.updated_at ?? "",
      ...h,
      ...(r.writes ? { writes: r.writes } : {}),
    };
  }
  const kind = KIND_OF[r.scope];
  const gone = r.value === undefined ? { deleted: true as const } : { value: r.value };
  if (kind) return { kind, seq: r.seq, id: r.key, ...gone };
  return {
    kind: "entry",
    seq: r.seq,
    scope: r.scope,
    key: r.key,
    version: r.version,
    ...gone,
    updated_at: r.updated_at ?? null,
    timer: (r.timer ?? null) as never,
    enabled: r.enabled ?? null,
    sort_key: r.sort_key ?? null,
  };
}

/** A snapshot's row as stored; `400 invalid_body` for one after the snapshot's last commit. */
export function storedRow(s: SnapshotHistoryRow, maxSeq: number, field: string): HistoryRow {
  if (s.seq > maxSeq) {
    throw new ApiError("invalid_body", `${field}.seq is ${s.seq}, after the room's last commit (${maxSeq})`, {
      field: `${field}.seq`,
    });
  }
  switch (s.kind) {
    case "commit": {
      const { kind: _k, seq, ts, writes, ...head } = s;
      return {
        scope: HISTORY.commit,
        key: "",
        seq,
        version: 0,
        value: head,
        updated_at: ts,
        ...(writes ? { writes } : {}),
      };
    }
    case "entry":
      return {
        scope: s.scope,
        key: s.key,
        seq: s.seq,
        version: s.version,
        value: s.deleted ? undefined : (s.value ?? null),
        updated_at: s.updated_at ?? null,
        timer: s.timer ?? undefined,
        enabled: s.enabled ?? null,
        sort_key: s.sort_key ?? null,
      };
    case "lease": {
      // read back into the room at a commit: the lease must be one, named by its own scope and key
      const l = SnapshotLease.safeParse(s.value);
      if (!l.success || s.id !== leaseKey(l.data)) {
        throw new ApiError("invalid_body", `${field}.value is not the lease ${s.id}`, {
          field: `${field}.value`,
        });
      }
      return { scope: HISTORY.lease, key: s.id, seq: s.seq, version: l.data.epoch, value: l.data };
    }
    case "proposal": {
      const p = SnapshotProposal.safeParse(s.value);
      if (!p.success || s.id !== p.data.id) {
        throw new ApiError("invalid_body", `${field}.value is not the proposal ${s.id}`, {
          field: `${field}.value`,
        });
      }
      return { scope: HISTORY.proposal, key: s.id, seq: s.seq, version: 0, value: p.data };
    }
    default:
      return {
        scope: SCOPE_OF[s.kind],
        key: s.id,
        seq: s.seq,
        version: 0,
        value: s.deleted ? undefined : (s.value ?? null),
      };
  }
}

/** A header without its `writes` gets them: the rows of its commit, then the messages it sent or claimed. */
export function linkWrites(rows: HistoryRow[], messages: Message[]): void {
  const heads = new Map<number, HistoryRow>();
  for (const r of rows) if (r.scope === HISTORY.commit && !r.writes) heads.set(r.seq, r);
  if (!heads.size) return;
  const put = (seq: number | null | undefined, scope: string, key: string) => {
    const h = seq === null || seq === undefined ? undefined : heads.get(seq);
    if (h) (h.writes ??= []).push([scope, key]);
  };
  for (const r of rows) if (r.scope !== HISTORY.commit) put(r.seq, r.scope, r.key);
  for (const m of messages) {
    put(m.commit_seq, HISTORY.messages, String(m.seq));
    put(m.claim_seq, HISTORY.messages, String(m.seq));
  }
}
