/**
 * @module store/room_store — the one door to storage: the `RoomStore` interface and the plain rows it takes
 * and returns (a row's fields are its table's columns, JSON columns as values). Nothing here knows the
 * engine; a second backend is a new class implementing this interface.
 */
import type { HistoryRow, HistoryStore } from "./history_store.ts";
import type { OutboxStore } from "./outbox_store.ts";

export type RoomRow = {
  id: string;
  meta: unknown;
  created_at: string;
  token_hash: string;
  view_token_hash: string;
  seq: number;
  /** the room's liveness window; null or absent: the server's default */
  liveness_ms?: number | null;
};

export type AgentRow = {
  id: string;
  name: string;
  role: string;
  meta: unknown;
  grants: string[];
  token_hash: string;
  joined_at: string;
  status: string;
  last_heartbeat: string | null;
  last_seen_seq: number;
  /** the last sign of life: a call, or an open wait or feed (null in rows written before it existed) */
  last_seen: string | null;
};

/** Presence and read markers, written without a commit: they never move a room's seq. */
export type PresenceRow = Pick<AgentRow, "id" | "status" | "last_heartbeat" | "last_seen_seq" | "last_seen">;
/** What another process needs to know of an agent's signs of life. */
export type SeenRow = Pick<AgentRow, "id" | "last_heartbeat" | "last_seen">;

export type StateRow = {
  scope: string;
  key: string;
  value: unknown;
  version: number;
  updated_at: string;
  timer: unknown;
  enabled: string | null;
  sort_key: number | null;
  /** room seq of the commit that last wrote the entry */
  seq: number;
};

/** `from`/`to` are stored in the columns `from_agent`/`to_agents`. */
export type MessageRow = {
  seq: number;
  from: string | null;
  kind: string;
  body: unknown;
  to: string | string[] | null;
  reply_to: number | null;
  claimed_by: string | null;
  claimed_at: string | null;
  ts: string;
  extra?: Record<string, unknown> | null;
  /** the commit that sent it (null: before history began) */
  commit_seq?: number | null;
  /** the commit that claimed it (null: unclaimed, or claimed before history began) */
  claim_seq?: number | null;
};

export type AuditRow = {
  seq: number;
  ts: string;
  agent: string;
  action: string;
  builtin: boolean;
  params: unknown;
  ok: boolean;
  status: number;
  error: string | null;
  /** a refusal's message and details (the error body beside `error` and `message`), as its invoker saw them */
  message?: string | null;
  detail?: Record<string, unknown> | null;
  traceparent?: string;
};

/** A room's retention (null: the server's) and where its history begins. */
export type HistorySettingsRow = {
  commits: number | null;
  max_age_ms: number | null;
  /** the oldest commit the history shows, and the time the room stood there */
  from_seq: number;
  from_ts: string | null;
};

/** A webhook as stored (`events` a JSON column); `secret` is read back only by the delivery loop. */
export type WebhookRow = {
  id: string;
  url: string;
  secret: string;
  events: unknown;
  created_at: string;
  seq: number;
  disabled_at: string | null;
  disabled_reason: string | null;
};

/** A stored reply for `Idempotency-Key` retries; `fingerprint` is what was asked. */
export type IdempotencyRow = {
  identity: string;
  key: string;
  status: number;
  response: unknown;
  created_at: string;
  fingerprint: string;
};

/**
 * A server process on the database: when it arrived (`joined`), what it had seen at its last beat and
 * when that was, and where it runs (`proc`, opaque to storage).
 */
export type PeerRow = {
  id: string;
  joined: number;
  seen: number;
  beat_at: number;
  proc: string;
  /** since when the service has run without a break, as this process knows it (0: not known) */
  up_since: number;
};

/** A key's lease: `holder` null is none now (the epoch stays); `on_expire` as JSON. */
export type LeaseRow = {
  scope: string;
  key: string;
  epoch: number;
  holder: string | null;
  ttl_ms: number;
  renewed_at: string;
  on_expire: unknown;
};

export type ActionRow = { id: string; def: unknown };
export type ViewRow = { id: string; def: unknown; position: number };
export type TickRow = { target: string; count: number };
/** A proposal of an action with `approval`: the whole record as `data`, its status and age as columns. */
export type ProposalRow = { id: string; status: string; created_at: string; data: unknown };
export type StateKey = { scope: string; key: string };

/** A room as storage holds it: every row but the audit log, which is only counted. */
export type StoredRoom = {
  room: RoomRow;
  agents: AgentRow[];
  /** with `bytes`, the length of the stored value's JSON */
  state: (StateRow & { bytes: number })[];
  actions: ActionRow[];
  /** in position order */
  views: ViewRow[];
  /** in seq order */
  messages: MessageRow[];
  ticks: TickRow[];
  leases: LeaseRow[];
  audit: { max_seq: number; count: number };
  /** in the order they were made */
  proposals: ProposalRow[];
  /** absent: the server's retention, history from the room's creation */
  history?: HistorySettingsRow;
  webhooks: WebhookRow[];
};

/** Rows written as they are now (inserted, or replacing the row with the same key). */
export type PutRows = {
  state?: StateRow[];
  agents?: AgentRow[];
  messages?: MessageRow[];
  actions?: ActionRow[];
  views?: ViewRow[];
  ticks?: TickRow[];
  leases?: LeaseRow[];
  audit?: AuditRow[];
  idempotency?: IdempotencyRow[];
  proposals?: ProposalRow[];
  /** rows a commit adds to its room's history */
  history?: HistoryRow[];
  webhooks?: WebhookRow[];
};

/** What one room's commit changes. */
export type RoomWrite = {
  room_id: string;
  /** compare-and-set on the room's commit counter: it must be `from` in storage, and becomes `to` */
  seq?: { from: number; to: number };
  /** the room row's mutable fields, when they changed */
  room?: Pick<RoomRow, "meta" | "view_token_hash" | "liveness_ms">;
  put: PutRows;
  /** `webhooks` are removed with their outbox rows; `outbox` removes only the rows of those webhook ids */
  remove?: {
    state?: StateKey[];
    actions?: string[];
    views?: string[];
    proposals?: string[];
    webhooks?: string[];
    outbox?: string[];
  };
  presence?: PresenceRow[];
  /** the room's retention changed (written only with a commit: under the seq compare-and-set) */
  history_settings?: HistorySettingsRow;
  /**
   * history before commit `to` is trimmed: the headers of [from, to), the versions that a write of [from, to]
   * supersedes, the deletions of [from, to); `from_seq` becomes `to` (never moves back). No commit of its own.
   */
  history_trim?: { from: number; to: number; to_ts: string };
  /** webhook ids registered again: their pending deliveries are due now, with no failures counted */
  rearm?: string[];
  /** webhook ids this write's commits are due to (their headers name them): not a table, a note to the loop */
  hooked?: string[];
};

/** One atomic batch: all of it is written, or none of it. */
export type CommitBatch = {
  /** rooms removed with every row they own (written first) */
  drop?: string[];
  /** new rooms; an id that exists already is left alone (absent from `CommitOutcome.created`) */
  create?: RoomRow[];
  /** a room restored whole with its `writes`: the batch fails with `exists` when the id is taken */
  restore?: RoomRow;
  writes: RoomWrite[];
};

export type CommitOutcome = {
  created: Set<string>;
  dropped: Set<string>;
  /** how many storage statements the batch took (0: there was nothing to write) */
  statements: number;
};

/**
 * Where a room stands in storage: its commit counter and its incarnation (the room-token hash, which a room
 * keeps for life: a room deleted and re-created under the same id has another).
 */
export type RoomHead = { seq: number; token_hash: string };

/**
 * A batch that was not written. `stale`: a room's seq had moved (another process committed first);
 * `exists`: a restored room's id was taken; `failed`: storage refused or broke.
 */
export class CommitError extends Error {
  constructor(message: string, readonly reason: "stale" | "exists" | "failed") {
    super(message);
  }
  get stale(): boolean {
    return this.reason === "stale";
  }
}

export type AuditQuery = { agent?: string; limit: number; after?: number; max_seq?: number };
export type RoomListing = { id: string; created_at: string; meta: unknown };

export interface RoomStore {
  /** the delivery loop's bookkeeping of webhook_outbox rows (store/outbox_store.ts) */
  readonly outbox: OutboxStore;
  loadRoom(id: string): Promise<StoredRoom | undefined>;
  /** Writes the batch in one transaction; rejects with `CommitError`. */
  commit(batch: CommitBatch): Promise<CommitOutcome>;
  /** The newest `limit` audit rows matching the query, oldest first. */
  readAudit(roomId: string, q: AuditQuery): Promise<AuditRow[]>;
  /** A stored idempotent reply created after `since`. */
  readReply(
    roomId: string,
    identity: string,
    key: string,
    since: string,
  ): Promise<IdempotencyRow | undefined>;
  /** A room's history (migration 6). */
  readonly history: HistoryStore;
  /** Rooms a token hash belongs to (as room, view or agent token), oldest first. */
  roomsForToken(tokenHash: string): Promise<RoomListing[]>;
  /** The stored commit counter and incarnation of each room that exists. */
  roomHeads(ids: string[]): Promise<Map<string, RoomHead>>;
  /** Every agent's signs of life as stored (written by any process), for another process to merge. */
  readSeen(roomId: string): Promise<SeenRow[]>;
  /**
   * One beat of process `id` (running at `proc`, serving since `upSince`) at `now` (its row inserted on the
   * first, numbered after every row there):
   * in one transaction its `seen` becomes the highest `joined` and the other rows beaten since
   * `aliveSince` are read; rows older than `forgetBefore` are removed.
   */
  beatPeer(
    id: string,
    proc: string,
    now: number,
    aliveSince: number,
    forgetBefore: number,
    upSince?: number,
  ): Promise<{
    joined: number;
    peers: PeerRow[];
  }>;
  /** The other processes' rows beaten since `aliveSince`. */
  livePeers(id: string, aliveSince: number): Promise<PeerRow[]>;
  /** Removes process `id`'s row (it stops). */
  leavePeer(id: string): Promise<void>;
  /** Resolves when storage answers. */
  ping(): Promise<void>;
  close(): void;
}
