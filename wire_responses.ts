/**
 * @module wire_responses — the public contract's outputs: zod schemas of the main success bodies and of the
 * error body, for the OpenAPI document (and its tests). Nothing parses with them at run time; a response may
 * carry more fields than an open (`looseObject`) schema lists, never fewer than it requires.
 */
import { z } from "zod";
import { ERROR_DETAILS, ERROR_STATUS, type ErrorCode, IssueSummary } from "./errors.ts";
import { AgentStatus, ImportBody, ProposalStatus, SnapshotMessage } from "./wire.ts";

const Iso = z.string().describe("ISO-8601 UTC timestamp");
const Cursor = z.number().int().min(0).describe("the room's commit sequence");

// ── rooms and agents ────────────────────────────────────────────────────────────────────────────

export const RoomInfo = z.object({ id: z.string(), created_at: Iso, meta: z.unknown() });
/** What a room's history keeps: its own limits or the server's, and the oldest commit it can show. */
export const Retention = z.object({
  commits: z.number().int().describe("the newest commits kept"),
  max_age_ms: z.number().int().describe("no commit older than this is kept"),
  oldest_seq: z.number().int().min(0).describe("the oldest commit the history shows"),
});
export const CreatedRoom = RoomInfo.extend({
  token: z.string().describe("room_…: full authority, shown only here"),
  view_token: z.string().describe("view_…: read-only, shown only here"),
  history: Retention.optional().describe("with a `history` setting: what the room keeps"),
});
export const RoomSettings = RoomInfo.extend({
  liveness_ms: z.number().int().describe("the window in force: the room's, or the server's default"),
});
/** `PATCH /rooms/:id`: every setting in force. */
export const PatchedRoom = RoomSettings.extend({ history: Retention });
export const RotatedViewToken = z.object({ id: z.string(), view_token: z.string() });
/** A lease as readers see it. */
export const LeaseInfo = z.object({
  holder: z.string(),
  epoch: z.number().int().min(1),
  expires_at: Iso.describe("when it lapses unless its holder shows a sign of life"),
});
export const AgentInfo = z.object({
  id: z.string(),
  room_id: z.string(),
  name: z.string(),
  role: z.string(),
  meta: z.unknown(),
  grants: z.array(z.string()),
  status: z.union([AgentStatus, z.literal("gone")])
    .describe("gone: silent (no call, no wait or feed open) for the room's liveness_ms"),
  waiting_on: z.string().nullable().describe("the condition while the agent blocks in /wait"),
  last_heartbeat: Iso.nullable(),
  last_seen: Iso.nullable().describe("the last sign of life: a call, or an open wait or feed"),
  joined_at: Iso,
});
export const JoinedAgent = AgentInfo.extend({
  token: z.string().describe("as_…: the agent's token, shown once"),
});
export const Heartbeat = z.object({
  ok: z.literal(true),
  agent: z.string(),
  status: AgentStatus,
  heartbeat: Iso,
});

// ── invoke and wait ─────────────────────────────────────────────────────────────────────────────

export const Write = z.object({
  scope: z.string(),
  key: z.string(),
  value: z.unknown(),
  version: z.number().int(),
  deleted: z.boolean().optional().describe("a `delete: true` write: whether there was an entry to remove"),
  lease: LeaseInfo.optional().describe("the entry's lease when this write took or renewed it"),
});
export const Change = z.looseObject({
  scope: z.string(),
  key: z.string(),
  version: z.number().int(),
  value: z.unknown().optional(),
  deleted: z.literal(true).optional().describe("the entry is gone or hidden now"),
});
/** A message as readers get it: as stored, its `extra` fields beside the usual ones. */
export const Message = SnapshotMessage.omit({ extra: true }).loose();

/** In any object answer whose listings a CEL budget cut short (actions unavailable, entries hidden). */
const CelBudgetExhausted = z.literal(true).optional()
  .describe("a CEL budget ran out while listing: some actions show unavailable, some entries are hidden");

/** `/context`: the sections asked for (`only`), each open: what the caller may see. */
export const Context = z.looseObject({
  state: z.record(z.string(), z.record(z.string(), z.unknown())).optional()
    .describe("scope → key → value; your own scope as `self`"),
  views: z.record(z.string(), z.unknown()).optional(),
  agents: z.record(z.string(), z.looseObject({})).optional(),
  actions: z.record(z.string(), z.looseObject({ available: z.boolean(), enabled: z.boolean() })).optional(),
  proposals: z.record(z.string(), z.looseObject({ status: z.string() })).optional()
    .describe("pending proposals you proposed or may decide (room and view tokens: all), by id"),
  messages: z.looseObject({
    count: z.number().int(),
    unread: z.number().int(),
    directed_unread: z.number().int(),
    recent: z.array(Message),
  }).optional(),
  leases: z.record(z.string(), z.record(z.string(), LeaseInfo)).optional()
    .describe("scope → key → live lease (only when something is leased, or asked for with only=leases)"),
  self: z.string(),
  cursor: Cursor,
  _elided: z.record(z.string(), z.number().int()).optional().describe("items left out, per section"),
  _cel_budget_exhausted: CelBudgetExhausted,
  at: z.object({ seq: Cursor, ts: Iso }).optional().describe("with `at`: the commit it was read at"),
});

/** `/wait` and the `wait` of an invoke-and-wait: triggered (with what `include` asked for) or timed out. */
export const WaitResult = z.looseObject({
  triggered: z.boolean(),
  timeout: z.literal(true).optional(),
  condition: z.string().optional(),
  value: z.unknown().optional(),
  cursor: Cursor,
  elapsed_ms: z.number().int().min(0),
  context: Context.optional().describe("include=context (the default)"),
  changes: z.array(Change).optional(),
  messages_since: z.array(z.number().int()).optional(),
  changes_complete: z.boolean().optional(),
  woke_by: z.object({
    seq: Cursor.describe("the commit that woke the wait"),
    traceparent: z.string().optional().describe(
      "that commit's invocation's, when the waiter can see its change",
    ),
  }).optional().describe("a wait that blocked and a commit woke"),
}).describe("with a section list in include, those sections (state, views, …) are top-level fields");

/** A proposal of an action with `approval`, as the reader sees it. */
export const ProposalInfo = z.looseObject({
  id: z.string(),
  action: z.string(),
  params: z.record(z.string(), z.unknown()).describe("shown to whoever sees the proposal"),
  proposer: z.string(),
  count: z.number().int().describe("approvals needed"),
  from: z.string().describe("CEL: who may approve (`approver`)"),
  proposer_counts: z.boolean(),
  approvals: z.array(z.object({ by: z.string(), at: Iso })),
  status: ProposalStatus,
  created_at: Iso,
  expires_at: Iso.nullable(),
  decided_at: Iso.nullable(),
  may_decide: z.boolean().describe("whether the reader may approve or reject it now"),
  rejected_by: z.string().optional(),
  reason: z.string().nullable().optional(),
  writes: z.array(z.object({ scope: z.string(), key: z.string(), version: z.number().int() })).optional()
    .describe("executed: what it wrote"),
  error: z.looseObject({ error: z.string(), message: z.string() }).optional()
    .describe("failed: the refusal (whole for its proposer and the room and view tokens, else its code)"),
});

export const InvokeResult = z.looseObject({
  ok: z.literal(true),
  action: z.string(),
  writes: z.array(Write),
  cursor: Cursor.optional().describe("the commit of this invocation (absent in a dry run)"),
  dry_run: z.literal(true).optional(),
  wait: WaitResult.optional(),
}).describe(
  "builtins add their own fields (count, message, deleted, …; `_approve`/`_reject`: proposal, counted)",
);
/** `202`: the action waits for approval; nothing ran, its proposal was recorded. */
export const Proposed = InvokeResult.extend({
  pending: z.literal(true),
  proposal: ProposalInfo,
});

// ── reads ───────────────────────────────────────────────────────────────────────────────────────

export const StateRow = z.looseObject({
  scope: z.string(),
  key: z.string(),
  value: z.unknown(),
  version: z.number().int().optional(),
  updated_at: Iso.optional(),
  lease: LeaseInfo.nullable().optional().describe("the entry's live lease (null: none)"),
});
export const StateRead = z.union([StateRow, z.array(StateRow)]).describe("one row with `key`, else a list");
export const EvalResult = z.looseObject({
  expression: z.string(),
  value: z.unknown(),
  error: z.string().optional().describe("a run-time error: not an HTTP error"),
  context_keys: z.looseObject({}),
  at: z.object({ seq: Cursor, ts: Iso }).optional().describe("with `at`: the commit it was evaluated at"),
});

// ── history ─────────────────────────────────────────────────────────────────────────────────────

const HistoryWrite = z.object({
  scope: z.string(),
  key: z.string(),
  version: z.number().int(),
  value: z.unknown().optional(),
  deleted: z.literal(true).optional(),
});
/** One commit as the reader may see it. */
export const HistoryCommit = z.object({
  seq: Cursor,
  ts: Iso,
  agent: z.string(),
  action: z.string().describe("the action invoked, or what the commit was (`_join`, `_patch_room`, …)"),
  ok: z.boolean(),
  writes: z.array(HistoryWrite).describe("the writes to scopes you may read, in the order they were made"),
  actions: z.array(z.looseObject({ id: z.string() })).optional().describe("actions registered or deleted"),
  views: z.array(z.looseObject({ id: z.string() })).optional().describe("views registered or deleted"),
  agents: z.array(z.looseObject({ id: z.string() })).optional().describe("members as the commit left them"),
  leases: z.array(z.object({
    scope: z.string(),
    key: z.string(),
    holder: z.string().nullable().describe("null: the lease ended"),
    epoch: z.number().int(),
  })).optional().describe("leases taken, renewed or ended, in scopes you may read"),
  proposals: z.array(z.looseObject({ id: z.string(), status: z.string() })).optional()
    .describe("proposals made or decided that you may see"),
  runs: z.array(z.object({
    agent: z.string(),
    action: z.string(),
    ok: z.boolean(),
    error: z.string().optional(),
  })).optional().describe("an approved action run in this commit, as its proposer"),
  error: z.string().nullable().optional().describe("a refusal's code (refusals: only your own)"),
  message: z.string().nullable().optional(),
  detail: z.record(z.string(), z.unknown()).optional().describe("a refusal's detail, with your privacy"),
});
export const HistoryPage = z.object({
  commits: z.array(HistoryCommit),
  next: z.number().int().nullable().describe("continue with before=next (after=next with order=asc)"),
  oldest_seq: z.number().int().min(0),
  cursor: Cursor,
});
export const KeyVersions = z.object({
  scope: z.string(),
  key: z.string(),
  versions: z.array(z.object({
    seq: Cursor,
    version: z.number().int(),
    value: z.unknown().optional(),
    deleted: z.literal(true).optional(),
    ts: Iso.nullable(),
    agent: z.string().nullable(),
    action: z.string().nullable(),
  })),
  next: z.number().int().nullable(),
  oldest_seq: z.number().int().min(0),
});
export const ActionInfo = z.looseObject({
  id: z.string(),
  available: z.boolean().optional().describe("absent only on a builtin listed with `actions=brief`"),
  enabled: z.boolean().optional().describe("absent only on a builtin listed with `actions=brief`"),
  description: z.string().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  builtin: z.literal(true).optional(),
});
export const ViewInfo = z.looseObject({ id: z.string(), value: z.unknown(), error: z.string().optional() });
export const Poll = z.looseObject({
  room: RoomSettings,
  self: z.string(),
  cursor: Cursor,
  agents: z.array(AgentInfo),
  state: StateRead,
  messages: z.array(Message),
  message_count: z.number().int(),
  actions: z.array(ActionInfo),
  views: z.array(ViewInfo),
  audit: z.array(z.looseObject({})),
  audit_count: z.number().int(),
  _cel_budget_exhausted: CelBudgetExhausted,
  proposals: z.array(ProposalInfo).optional().describe("the proposals you see, pending and recently decided"),
});

/** One SSE `change` event's data (event `reset` carries only `{cursor}`). */
export const FeedChange = z.object({
  cursor: Cursor,
  changes: z.array(Change),
  messages: z.array(Message),
  audit: z.looseObject({}).nullable().describe("the commit's audit row, if you may read it"),
  proposals: z.array(z.string()).optional().describe("ids of proposals it made or decided that you see"),
  agents: z.array(AgentInfo).optional().describe("the agents a join, re-join, PATCH or `_heartbeat` changed"),
});
export const FeedReset = z.object({ cursor: Cursor });
/** An SSE `presence` event's data (no `id:` line: presence is not a commit). */
export const FeedPresence = z.object({
  cursor: Cursor,
  agents: z.array(AgentInfo.pick({ id: true, status: true, waiting_on: true, last_heartbeat: true })),
});

// ── compatibility routes ────────────────────────────────────────────────────────────────────────

export const CompatRow = z.object({
  room_id: z.string(),
  scope: z.string(),
  key: z.string(),
  value: z.unknown(),
  version: z.number().int(),
  updated_at: Iso.nullable(),
});
export const CompatStateWritten = z.union([
  CompatRow.extend({ ok: z.literal(true), cursor: Cursor }),
  z.object({
    room_id: z.string(),
    scope: z.literal("_view"),
    key: z.string(),
    expr: z.string(),
    value: z.unknown(),
    resolved_value: z.unknown(),
    cursor: Cursor,
  }).describe("scope _view: the view registered"),
]);
export const CompatBatch = z.object({
  ok: z.literal(true),
  count: z.number().int(),
  state: z.array(CompatRow),
  cursor: Cursor,
});
export const CompatDeleted = z.object({
  ok: z.literal(true),
  deleted: z.boolean(),
  scope: z.string(),
  key: z.string(),
});
export const CompatMessage = Message.extend({
  id: z.number().int(),
  room_id: z.string(),
  from_agent: z.string().nullable(),
  to_agent: z.union([z.string(), z.array(z.string())]).nullable(),
  created_at: Iso,
});
export const Claimed = z.object({
  claimed: z.literal(true),
  claimed_by: z.string(),
  claimed_at: Iso,
  message_id: z.number().int(),
});

// ── webhooks ────────────────────────────────────────────────────────────────────────────────────

const WebhookEvents = z.object({
  scopes: z.array(z.string()).nullable(),
  kinds: z.array(z.enum(["state", "message", "agent", "definition"])),
  actions: z.array(z.string()).nullable(),
});
/** A webhook with its delivery state; never its secret. */
export const WebhookInfo = z.object({
  id: z.string(),
  url: z.string(),
  events: WebhookEvents,
  created_at: Iso,
  enabled: z.boolean(),
  disabled: z.object({ at: Iso, reason: z.string() }).nullable()
    .describe("set after repeated failure; registering the webhook again clears it"),
  pending: z.number().int().min(0).describe("deliveries not yet delivered"),
  failures: z.number().int().min(0).describe("failed attempts in a row of the oldest pending delivery"),
  failing_since: Iso.nullable(),
  last_status: z.number().int().nullable().describe("HTTP status of its last attempt (null: no answer)"),
  last_error: z.string().nullable(),
  next_attempt_at: Iso.nullable(),
  last_delivered_at: Iso.nullable(),
});
export const WebhookDeliveries = z.object({
  webhook: z.string(),
  deliveries: z.array(z.object({
    seq: Cursor.describe("the commit delivered"),
    delivery_id: z.string().describe("X-Sync-Delivery: the same on every attempt"),
    state: z.enum(["pending", "delivered"]),
    attempts: z.number().int().min(0),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    last_attempt_at: Iso.nullable(),
    next_attempt_at: Iso.nullable(),
    delivered_at: Iso.nullable(),
    created_at: Iso,
  })).describe("newest first"),
});

// ── operations ──────────────────────────────────────────────────────────────────────────────────

export const Health = z.object({ ok: z.literal(true) });
/** `GET /rooms/:id/export`: what `POST /rooms/import` takes back. */
export const RoomExport = ImportBody.omit({ id: true });
export const ImportedRoom = CreatedRoom.extend({
  agent_tokens: z.record(z.string(), z.string()).describe("agent id → its new as_… token"),
  imported: z.looseObject({ from: z.string() }),
});
export const DeletedRoom = z.object({ ok: z.literal(true), deleted: z.string() });

// ── errors ──────────────────────────────────────────────────────────────────────────────────────

const CODES = Object.keys(ERROR_STATUS) as ErrorCode[];
const detailed = Object.keys(ERROR_DETAILS) as (keyof typeof ERROR_DETAILS)[];
const plain = CODES.filter((c) => !(c in ERROR_DETAILS)) as [ErrorCode, ...ErrorCode[]];

/** `{error, message, …details}`: the closed list of codes; the codes with fixed details each with theirs. */
export const ErrorBody = z.discriminatedUnion("error", [
  z.looseObject({
    error: z.enum(plain),
    message: z.string(),
    field: z.string().optional().describe("the field that failed"),
    issues: z.array(IssueSummary).optional().describe("up to ten validation issues"),
  }),
  ...detailed.map((code) =>
    z.looseObject({ error: z.literal(code), message: z.string(), ...ERROR_DETAILS[code].shape })
  ),
]).describe("X-Error-Code repeats `error`; the status of each code is in reference/api.md#errors");
