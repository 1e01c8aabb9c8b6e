/**
 * @module wire — the public contract's inputs: the zod schema of every request body and query string of the
 * REST routes, and of every MCP tool's arguments. Routes and tools parse with these and hand the engine
 * typed values; a schema and its type share one name. The params of builtin actions live with the builtins.
 */
import { z } from "zod";
import { ID_PATTERN, LIVENESS_MAX_MS, LIVENESS_MIN_MS, MAX_KEY_LENGTH } from "./config.ts";
import { TimerSpec } from "./timers.ts";

const Id = z.string().regex(ID_PATTERN, "must be 1-128 characters of [A-Za-z0-9._:-]");
/** A non-negative integer in a query string. */
const QueryInt = z.string().regex(/^\d{1,15}$/, "must be a non-negative integer").transform(Number);
const Cursor = z.number().int().min(0);
/** Section names, as a comma list or an array (checked against the known sections by the engine). */
const Sections = z.union([z.string(), z.array(z.string())]);
export const AgentStatus = z.enum(["active", "idle", "busy", "waiting", "done", "unknown"]);

// ── invoke and wait ─────────────────────────────────────────────────────────────────────────────

/** Invoke-and-wait: block after the write until a condition holds for a later commit. */
export const WaitSpec = z.strictObject({
  condition: z.string().describe("CEL condition"),
  timeout: z.number().int().min(0).optional().describe("ms"),
  include: Sections.optional().describe(
    "context, changes, or sections: state, views, agents, actions, messages",
  ),
  after: Cursor.optional().describe("your last cursor: changes are listed from it"),
});
export type WaitSpec = z.infer<typeof WaitSpec>;

/** `POST /rooms/:id/actions/:action/invoke` */
export const InvokeBody = z.strictObject({
  params: z.record(z.string(), z.unknown()).default({}),
  agent: z.string().optional().describe("the room token acting as this agent"),
  wait: WaitSpec.optional(),
  dry_run: z.boolean().optional(),
});
export const InvokeQuery = z.strictObject({ dry_run: z.enum(["true", "false", "1", "0"]).optional() });

/** `GET /rooms/:id/wait` */
export const WaitQuery = z.strictObject({
  condition: z.string({ error: "required: a CEL condition" }),
  timeout: QueryInt.optional(),
  include: z.string().optional(),
  agent: z.string().optional(),
  after: QueryInt.optional(),
});

/** `GET /rooms/:id/events` (the cursor may also come as `Last-Event-ID`) */
export const EventsQuery = z.strictObject({ after: QueryInt.optional(), agent: z.string().optional() });

// ── reads ───────────────────────────────────────────────────────────────────────────────────────

/** `actions=brief`: builtins as `{id, description, builtin}` (full params from `GET /actions` and `help`) */
export const ActionsForm = z.enum(["full", "brief"]);
export type ActionsForm = z.infer<typeof ActionsForm>;

/** `GET /rooms/:id/context` (`at`: as the room stood right after that commit) */
export const ContextQuery = z.strictObject({
  only: z.string().optional(),
  actions: ActionsForm.optional(),
  messages_after: QueryInt.optional(),
  messages_limit: QueryInt.optional(),
  agent: z.string().optional(),
  at: QueryInt.optional(),
});
/** `GET /rooms/:id/state` */
export const StateQuery = z.strictObject({
  scope: z.string().optional(),
  key: z.string().optional(),
  resolve: z.string().optional(),
  agent: z.string().optional(),
});
/** `GET /rooms/:id/poll` */
export const PollQuery = z.strictObject({
  messages_limit: QueryInt.optional(),
  audit_limit: QueryInt.optional(),
  agent: z.string().optional(),
});
/** `GET /rooms/:id/views`, `/views/:view`: the room token may read as one agent */
export const AgentQuery = z.strictObject({ agent: z.string().optional() });
/** `GET /rooms/:id/actions` and `/actions/:action` */
export const ActionsQuery = z.strictObject({ agent: z.string().optional(), actions: ActionsForm.optional() });
/** `POST /rooms/:id/eval` (`expression` is the older name of `expr`) */
export const EvalBody = z.strictObject({
  expr: z.string().optional(),
  expression: z.string().optional(),
  agent: z.string().optional(),
  at: Cursor.optional().describe("evaluate as the room stood right after this commit"),
});
/** `GET /rooms/:id/history` */
export const HistoryQuery = z.strictObject({
  after: QueryInt.optional(),
  before: QueryInt.optional(),
  limit: QueryInt.optional(),
  agent: z.string().optional(),
  action: z.string().optional(),
  scope: z.string().optional(),
  key: z.string().optional(),
  order: z.enum(["asc", "desc"]).optional(),
  as: z.string().optional().describe("the room token reading as this agent (`agent` filters)"),
});
/** `GET /rooms/:id/state/history` (`agent`: the room token reading as one agent) */
export const VersionsQuery = z.strictObject({
  scope: z.string().optional(),
  key: z.string().optional(),
  before: QueryInt.optional(),
  limit: QueryInt.optional(),
  agent: z.string().optional(),
});
/** `GET /rooms/:id/proposals` */
export const ProposalStatus = z.enum(["pending", "executed", "failed", "rejected", "expired"]);
export const ProposalsQuery = z.strictObject({
  status: ProposalStatus.optional().describe("only proposals with this status now"),
  agent: z.string().optional(),
});
/** `GET /rooms/:id/messages` (seed 000) */
export const MessagesQuery = z.strictObject({
  after: QueryInt.optional(),
  kind: z.string().optional(),
  thread: QueryInt.optional(),
  unclaimed: z.enum(["true", "false"]).optional(),
  limit: QueryInt.optional(),
});
export type MessagesQuery = z.infer<typeof MessagesQuery>;

// ── rooms and agents ────────────────────────────────────────────────────────────────────────────

/** A room's history retention (at most the server's; null: back to the server's). */
export const HistorySettings = z.strictObject({
  commits: z.number().int().min(1).nullable().optional().describe("keep the newest N commits"),
  max_age_ms: z.number().int().min(1).nullable().optional().describe("keep no commit older than this"),
});

/** A room's liveness window: an agent silent this long is `gone`; `lease: true` lasts this long. */
const LivenessMs = z.number().int().min(LIVENESS_MIN_MS).max(LIVENESS_MAX_MS)
  .describe("ms of silence after which an agent is gone (default SYNC_LIVENESS_MS)");

/** `POST /rooms` and the MCP `create_room` tool */
export const CreateRoom = z.strictObject({
  id: Id.optional().describe("room id (generated if omitted)"),
  meta: z.unknown().optional(),
  history: HistorySettings.optional(),
  liveness_ms: LivenessMs.optional(),
});
export type CreateRoom = z.infer<typeof CreateRoom>;

/** `PATCH /rooms/:id` (room token): the room's settings; each field present changes one of them */
export const PatchRoom = z.strictObject({
  liveness_ms: LivenessMs.nullable().optional().describe("null: the server's default again"),
  history: HistorySettings.optional(),
});
export type PatchRoom = z.infer<typeof PatchRoom>;
/** `POST /rooms/:id/agents`: join, or re-join with the agent's or the room's token */
export const JoinAgent = z.strictObject({
  id: Id.optional().describe("agent id"),
  name: z.string().max(256).optional(),
  role: z.string().max(128).optional(),
  meta: z.unknown().optional(),
  state: z.record(z.string(), z.unknown()).optional().describe("initial private state"),
  public_keys: z.array(z.string()).max(1000).optional().describe("keys of state published as views"),
  views: z.array(z.record(z.string(), z.unknown())).max(100).optional(),
});
export type JoinAgent = z.infer<typeof JoinAgent>;

/** `PATCH /rooms/:id/agents/:agent` (room token) */
export const PatchAgent = z.strictObject({
  grants: z.array(z.string().min(1).max(129)).max(1000).optional(),
  role: z.string().max(128).optional(),
  name: z.string().max(256).optional(),
  meta: z.unknown().optional(),
  status: AgentStatus.optional(),
});
export type PatchAgent = z.infer<typeof PatchAgent>;

// ── webhooks ────────────────────────────────────────────────────────────────────────────────────

/** `GET /rooms/:id/webhooks` */
export const WebhooksQuery = z.strictObject({});
/** `GET /rooms/:id/webhooks/:webhook/deliveries` (newest first; default 50, max 100) */
export const DeliveriesQuery = z.strictObject({ limit: QueryInt.optional() });

// ── export and import ───────────────────────────────────────────────────────────────────────────

/** v2 adds the retained history (`history`) and refusal reasons; v1 snapshots still import. */
export const EXPORT_FORMAT = "agent-sync.room/v2";
export const EXPORT_FORMATS = ["agent-sync.room/v1", EXPORT_FORMAT] as const;

const Iso = z.string().max(64);
const Scope = z.string().regex(/^_?[A-Za-z0-9._:-]{1,128}$/, "must be a scope name");
/** A timer as stored: its spec plus the moment or tick count at which it fires. */
export const StoredTimer = TimerSpec.extend({
  expires_at: Iso.optional(),
  expires_tick: z.number().int().optional(),
  started_at: Iso.optional(),
}).nullable().optional();

const SnapshotAgent = z.strictObject({
  id: Id,
  name: z.string().max(256),
  role: z.string().max(128),
  meta: z.unknown().optional(),
  grants: z.array(z.string().min(1).max(129)).max(1000),
  joined_at: Iso,
  status: AgentStatus,
  last_heartbeat: Iso.nullable(),
  last_seen_seq: z.number().int().min(0),
  last_seen: Iso.nullable().optional(),
});
const SnapshotEntry = z.strictObject({
  scope: Scope,
  key: z.string().min(1).max(MAX_KEY_LENGTH),
  value: z.unknown(),
  version: z.number().int().min(1),
  updated_at: Iso,
  timer: StoredTimer,
  enabled: z.string().nullable().optional(),
  sort_key: z.number().int().nullable().optional(),
  seq: z.number().int().min(0),
});
/** A message as stored (`extra`: fields a custom action appended beside the usual ones). */
export const SnapshotMessage = z.strictObject({
  seq: z.number().int().min(1),
  from: z.string().max(129).nullable(),
  kind: z.string().max(128),
  body: z.unknown(),
  to: z.union([z.string(), z.array(z.string())]).nullable(),
  reply_to: z.number().int().nullable(),
  claimed_by: z.string().nullable(),
  claimed_at: Iso.nullable(),
  ts: Iso,
  extra: z.record(z.string(), z.unknown()).nullable().optional(),
  commit_seq: z.number().int().min(0).nullable().optional(),
  claim_seq: z.number().int().min(0).nullable().optional(),
});
const SnapshotAudit = z.strictObject({
  seq: z.number().int().min(1),
  ts: Iso,
  agent: z.string().max(129),
  action: z.string().max(256),
  builtin: z.boolean(),
  params: z.unknown(),
  ok: z.boolean(),
  status: z.number().int(),
  error: z.string().nullable(),
  message: z.string().nullable().optional(),
  detail: z.record(z.string(), z.unknown()).nullable().optional(),
  traceparent: z.string().max(64).optional(),
});
const HistorySeq = z.number().int().min(0);
/** One retained history row of a snapshot, by kind (engine/history_export.ts). */
export const SnapshotHistoryRow = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("commit"),
    seq: HistorySeq,
    ts: Iso,
    agent: z.string().max(129),
    action: z.string().max(256),
    ok: z.boolean(),
    error: z.string().optional(),
    message: z.string().optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
    runs: z.array(z.strictObject({
      agent: z.string().max(129),
      action: z.string().max(256),
      ok: z.boolean(),
      error: z.string().optional(),
    })).max(20).optional(),
    writes: z.array(z.tuple([z.string().max(400), z.string().max(400)])).max(100_000).optional(),
  }),
  z.strictObject({
    kind: z.literal("entry"),
    seq: HistorySeq,
    scope: Scope,
    key: z.string().min(1).max(MAX_KEY_LENGTH),
    version: z.number().int().min(0),
    value: z.unknown().optional(),
    deleted: z.literal(true).optional(),
    updated_at: Iso.nullable().optional(),
    timer: StoredTimer,
    enabled: z.string().nullable().optional(),
    sort_key: z.number().int().nullable().optional(),
  }),
  z.strictObject({
    kind: z.enum(["action", "view", "agent", "tick", "lease", "proposal"]),
    seq: HistorySeq,
    id: z.string().min(1).max(400),
    value: z.unknown().optional(),
    deleted: z.literal(true).optional(),
  }),
]);
export type SnapshotHistoryRow = z.infer<typeof SnapshotHistoryRow>;
const SnapshotHistory = z.strictObject({
  oldest_seq: HistorySeq,
  oldest_ts: Iso.nullable().optional(),
  settings: HistorySettings.optional(),
  rows: z.array(SnapshotHistoryRow),
});
/** A key's lease as stored: live (`holder`) or ended (`holder` null: only its epoch is kept). */
export const SnapshotLease = z.strictObject({
  scope: Scope,
  key: z.string().min(1).max(MAX_KEY_LENGTH),
  epoch: z.number().int().min(1),
  holder: z.string().max(129).nullable(),
  ttl_ms: z.number().int().min(0).max(LIVENESS_MAX_MS),
  renewed_at: Iso,
  on_expire: z.union([
    z.literal("delete"),
    z.literal("release"),
    z.strictObject({
      writes: z.array(z.record(z.string(), z.unknown())).max(20),
      by: z.string().max(129),
      owner: z.string().max(129).optional(),
    }),
  ]),
});

/** A proposal as stored (engine/model.ts `Proposal`). */
export const SnapshotProposal = z.strictObject({
  id: Id,
  action: Id,
  params: z.record(z.string(), z.unknown()),
  proposer: z.string().max(129),
  count: z.number().int().min(1),
  from: z.string(),
  proposer_counts: z.boolean(),
  registrar: z.string().max(129),
  scope: Scope,
  approvals: z.array(z.strictObject({ by: z.string().max(129), at: Iso })),
  status: ProposalStatus,
  created_at: Iso,
  expires_at: Iso.nullable(),
  decided_at: Iso.nullable(),
  rejected_by: z.string().max(129).nullable().optional(),
  reason: z.string().nullable().optional(),
  writes: z.array(z.strictObject({ scope: Scope, key: z.string(), version: z.number().int() })).optional(),
  error: z.looseObject({ error: z.string(), message: z.string() }).nullable().optional(),
});
/** Fields the server stamps on a stored action or view definition. */
export const StampedDef = { registrar: z.string().max(129), created_at: Iso, timer: StoredTimer };

/** `POST /rooms/import`: a `GET /rooms/:id/export` snapshot, restored under `id` (or a fresh one) */
export const ImportBody = z.strictObject({
  id: Id.optional(),
  format: z.enum(EXPORT_FORMATS),
  exported_at: Iso.optional(),
  room: z.strictObject({
    id: Id,
    meta: z.unknown().optional(),
    created_at: Iso,
    seq: z.number().int().min(0),
    liveness_ms: LivenessMs.optional(),
  }),
  agents: z.array(SnapshotAgent),
  state: z.array(SnapshotEntry),
  actions: z.array(z.record(z.string(), z.unknown())),
  views: z.array(z.record(z.string(), z.unknown())),
  messages: z.array(SnapshotMessage),
  audit: z.array(SnapshotAudit),
  ticks: z.record(z.string(), z.number().int().min(0)).default({}),
  history: SnapshotHistory.optional(),
  leases: z.array(SnapshotLease).default([]),
  proposals: z.array(SnapshotProposal).default([]),
});
export type ImportBody = z.infer<typeof ImportBody>;

// ── MCP tool arguments (JSON, not query strings) ──────────────────────────────────────────────────

export const JoinRoomArgs = z.strictObject({
  room: Id.describe("room id"),
  ...JoinAgent.omit({ views: true }).shape,
});
export const ReadContextArgs = z.strictObject({
  only: Sections.optional().describe("sections: state, views, agents, actions, messages, state.<scope>"),
  messages_after: Cursor.optional().describe("message seq"),
  messages_limit: z.number().int().min(1).optional(),
  actions: ActionsForm.optional().describe("builtins brief (default) or full"),
});
export const InvokeActionArgs = z.strictObject({
  action: z.string().min(1).describe("action id"),
  params: z.record(z.string(), z.unknown()).optional(),
  dry_run: z.boolean().optional().describe("check without writing"),
  wait: WaitSpec.optional(),
});
export const WaitForArgs = z.strictObject({
  condition: z.string().describe("CEL, e.g. state._shared.turn == self"),
  after: Cursor.optional().describe("cursor from a previous result"),
  timeout: z.number().int().min(0).optional().describe("ms"),
  include: Sections.optional().describe("context (default), changes, or sections"),
});
export const EvalCelArgs = z.strictObject({ expr: z.string().describe("CEL expression") });
export const NoArgs = z.strictObject({});
