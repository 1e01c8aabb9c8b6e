/**
 * @module engine/history_export — a room's retained history in its snapshot (`GET /export`,
 * `POST /rooms/import`, format v2): each row as an object that says what it is (`kind`), and back. Rows are
 * checked against the snapshot's own commit counter on the way in.
 */
import { ApiError } from "../errors.ts";
import type { SnapshotHistoryRow } from "../wire.ts";
import { type CommitHead, HISTORY } from "./history_rows.ts";
import type { HistoryRow } from "./model.ts";

const KIND_OF: Record<string, "action" | "view" | "agent" | "tick"> = {
  [HISTORY.action]: "action",
  [HISTORY.view]: "view",
  [HISTORY.agent]: "agent",
  [HISTORY.tick]: "tick",
};
const SCOPE_OF = Object.fromEntries(Object.entries(KIND_OF).map(([scope, kind]) => [kind, scope]));

export function snapshotRow(r: HistoryRow): SnapshotHistoryRow {
  if (r.scope === HISTORY.commit) {
    const h = r.value as CommitHead;
    return { kind: "commit", seq: r.seq, ts: r.updated_at ?? "", ...h };
  }
  if (r.scope === HISTORY.messages) {
    return { kind: "message", seq: r.seq, message: Number(r.key), version: r.version === 2 ? 2 : 1 };
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
      const { kind: _k, seq, ts, ...head } = s;
      return { scope: HISTORY.commit, key: "", seq, version: 0, value: head, updated_at: ts };
    }
    case "message":
      return { scope: HISTORY.messages, key: String(s.message), seq: s.seq, version: s.version };
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
