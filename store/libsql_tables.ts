/**
 * @module store/libsql_tables — the room tables as the commit batch writes them: each table's columns, key
 * and how a row becomes its column values (libsql_batch.ts builds the statements from these).
 */
import type {
  ActionRow,
  AgentRow,
  AuditRow,
  IdempotencyRow,
  LeaseRow,
  MessageRow,
  ProposalRow,
  PutRows,
  StateRow,
  TickRow,
  ViewRow,
  WebhookRow,
} from "./room_store.ts";
import type { HistoryRow } from "./history_store.ts";

export const j = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/**
 * JSON of values, once per object and batch: a state entry's value and its history row share the string
 * (the history row holds the entry's own value object).
 */
export type JsonOf = (v: unknown) => string;
export function jsonOnce(): JsonOf {
  const seen = new Map<object, string>();
  return (v) => {
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    let s = seen.get(v);
    if (s === undefined) seen.set(v, s = JSON.stringify(v));
    return s;
  };
}

export type Table<R> = {
  name: string;
  cols: string[];
  key: string[];
  /** pushes the row's column values, in `cols` order, onto `args` */
  encode(roomId: string, r: R, args: unknown[], json: JsonOf): void;
  /** rows only ever inserted (never replaced): a plain INSERT, cheaper to prepare and run than an upsert */
  insertOnly?: true;
};

/** The room tables: a new table gets its entry here, its row type in room_store.ts, its DDL in schema.ts. */
export const TABLES: { [K in keyof Required<PutRows>]: Table<NonNullable<PutRows[K]>[number]> } = {
  state: {
    name: "state",
    cols: [
      "room_id",
      "scope",
      "key",
      "value",
      "version",
      "updated_at",
      "timer",
      "enabled",
      "sort_key",
      "seq",
    ],
    key: ["room_id", "scope", "key"],
    encode: (id, e: StateRow, a, json) =>
      a.push(
        id,
        e.scope,
        e.key,
        json(e.value),
        e.version,
        e.updated_at,
        j(e.timer),
        e.enabled,
        e.sort_key,
        e.seq,
      ),
  },
  agents: {
    name: "agents",
    cols: [
      "room_id",
      "id",
      "name",
      "role",
      "meta",
      "grants",
      "token_hash",
      "joined_at",
      "status",
      "last_heartbeat",
      "last_seen_seq",
      "last_seen",
    ],
    key: ["room_id", "id"],
    encode: (id, x: AgentRow, a) =>
      a.push(
        id,
        x.id,
        x.name,
        x.role,
        j(x.meta),
        j(x.grants),
        x.token_hash,
        x.joined_at,
        x.status,
        x.last_heartbeat,
        x.last_seen_seq,
        x.last_seen,
      ),
  },
  messages: {
    name: "messages",
    cols: [
      "room_id",
      "seq",
      "from_agent",
      "kind",
      "body",
      "to_agents",
      "reply_to",
      "claimed_by",
      "claimed_at",
      "ts",
      "extra",
      "commit_seq",
      "claim_seq",
    ],
    key: ["room_id", "seq"],
    encode: (id, m: MessageRow, a) =>
      a.push(
        id,
        m.seq,
        m.from,
        m.kind,
        j(m.body),
        j(m.to),
        m.reply_to,
        m.claimed_by,
        m.claimed_at,
        m.ts,
        j(m.extra),
        m.commit_seq ?? null,
        m.claim_seq ?? null,
      ),
  },
  audit: {
    name: "audit",
    cols: [
      "room_id",
      "seq",
      "ts",
      "agent",
      "action",
      "builtin",
      "params",
      "ok",
      "status",
      "error",
      "message",
      "detail",
      "traceparent",
    ],
    key: ["room_id", "seq"],
    encode: (id, r: AuditRow, a) =>
      a.push(
        id,
        r.seq,
        r.ts,
        r.agent,
        r.action,
        r.builtin ? 1 : 0,
        j(r.params),
        r.ok ? 1 : 0,
        r.status,
        r.error,
        r.message ?? null,
        j(r.detail ?? undefined),
        r.traceparent ?? null,
      ),
  },
  idempotency: {
    name: "idempotency",
    cols: ["room_id", "identity", "key", "status", "response", "created_at", "fingerprint"],
    key: ["room_id", "identity", "key"],
    encode: (id, r: IdempotencyRow, a) =>
      a.push(id, r.identity, r.key, r.status, JSON.stringify(r.response), r.created_at, r.fingerprint),
  },
  actions: {
    name: "actions",
    cols: ["room_id", "id", "def"],
    key: ["room_id", "id"],
    encode: (id, r: ActionRow, a) => a.push(id, r.id, JSON.stringify(r.def)),
  },
  views: {
    name: "views",
    cols: ["room_id", "id", "def", "position"],
    key: ["room_id", "id"],
    encode: (id, r: ViewRow, a) => a.push(id, r.id, JSON.stringify(r.def), r.position),
  },
  ticks: {
    name: "ticks",
    cols: ["room_id", "target", "count"],
    key: ["room_id", "target"],
    encode: (id, r: TickRow, a) => a.push(id, r.target, r.count),
  },
  leases: {
    name: "leases",
    cols: ["room_id", "scope", "key", "epoch", "holder", "ttl_ms", "renewed_at", "on_expire"],
    key: ["room_id", "scope", "key"],
    encode: (id, r: LeaseRow, a) =>
      a.push(id, r.scope, r.key, r.epoch, r.holder, r.ttl_ms, r.renewed_at, JSON.stringify(r.on_expire)),
  },
  proposals: {
    name: "proposals",
    cols: ["room_id", "id", "status", "created_at", "data"],
    key: ["room_id", "id"],
    encode: (id, r: ProposalRow, a) => a.push(id, r.id, r.status, r.created_at, JSON.stringify(r.data)),
  },
  history: {
    name: "history",
    cols: [
      "room_id",
      "scope",
      "key",
      "seq",
      "version",
      "value",
      "updated_at",
      "timer",
      "enabled",
      "sort_key",
      "writes",
      "hooks",
      "hook_meta",
    ],
    key: ["room_id", "scope", "key", "seq"],
    encode: (id, h: HistoryRow, a, json) =>
      a.push(
        id,
        h.scope,
        h.key,
        h.seq,
        h.version,
        h.value === undefined ? null : json(h.value),
        h.updated_at ?? null,
        j(h.timer ?? undefined),
        h.enabled ?? null,
        h.sort_key ?? null,
        j(h.writes),
        h.hooks ?? null,
        h.hook_meta ?? null,
      ),
  },
  webhooks: {
    name: "webhooks",
    cols: ["room_id", "id", "url", "secret", "events", "created_at", "seq", "disabled_at", "disabled_reason"],
    key: ["room_id", "id"],
    encode: (id, w: WebhookRow, a) =>
      a.push(id, w.id, w.url, w.secret, j(w.events), w.created_at, w.seq, w.disabled_at, w.disabled_reason),
  },
};
