/**
 * @module engine/model — the data a room is made of: entries, agents, action and view definitions,
 * messages, audit rows, and what one commit changed. Plain types; the Room that holds them is in room.ts.
 */
import type { Timer } from "../timers.ts";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type Entry = {
  scope: string;
  key: string;
  value: unknown;
  version: number;
  updated_at: string;
  timer: Timer | null;
  enabled: string | null;
  sort_key: number | null;
  /** room seq of the commit that last wrote this entry (for cursors). */
  seq: number;
  /** the value converted for CEL, built on first use. */
  cel?: unknown;
  /** length of the value's JSON, measured once (size limit, room quota, stored-bytes accounting). */
  bytes?: number;
};

export function entryBytes(e: Entry): number {
  return e.bytes ??= JSON.stringify(e.value).length;
}

// What else a room holds counts toward its bytes (`room_bytes`) as well: messages, action and view
// definitions, agents' meta. Each is measured once per object: rows are replaced, never edited in place
// (a claim, a cooldown, a PATCH make new objects; presence edits an agent but never its meta).
const measured = new WeakMap<object, number>();
function jsonLength(v: unknown): number {
  if (v === null || typeof v !== "object") return v === undefined ? 0 : JSON.stringify(v).length;
  let n = measured.get(v);
  if (n === undefined) measured.set(v, n = JSON.stringify(v).length);
  return n;
}

export const messageBytes = (m: Message): number => jsonLength(m);
export const definitionBytes = (d: ActionDef | ViewDef): number => jsonLength(d);
export const agentBytes = (a: Agent): number => jsonLength(a.meta);

/**
 * An entry's id in memory maps: scope, NUL, key. Collision-proof because a scope never holds a NUL
 * (ID_PATTERN), so the first NUL ends it whatever the key holds (even a key stored before keys were
 * checked for control characters).
 */
export const entryId = (scope: string, key: string) => `${scope}\u0000${key}`;

/** The scope and key of an entry id (split at the first NUL only). */
export function splitEntryId(id: string): [scope: string, key: string] {
  const at = id.indexOf("\u0000");
  return [id.slice(0, at), id.slice(at + 1)];
}

export type Agent = {
  id: string;
  name: string;
  role: string;
  meta: unknown;
  grants: string[];
  token_hash: string;
  joined_at: string;
  status: string;
  waiting_on: string | null;
  last_heartbeat: string | null;
  last_seen_seq: number;
  /** the last sign of life: a call, or the last beat or the end of an open wait or feed */
  last_seen: string | null;
};

/**
 * What happens when a lease lapses: the entry is deleted, a message claim is given back (`release`), or
 * write templates run with the authority of whoever set them (`by`: the room token `admin` or an agent;
 * `owner`: the owner scope of the action whose template set them).
 */
export type OnExpire = "delete" | "release" | { writes: WriteTemplate[]; by: string; owner?: string };

/**
 * A key's lease (engine/leases.ts): held by `holder` until its last sign of life (or its last write to the
 * entry, `renewed_at`) is `ttl_ms` old. `holder` null: no lease now; `epoch` is kept so it never goes back.
 */
export type Lease = {
  scope: string;
  key: string;
  epoch: number;
  holder: string | null;
  ttl_ms: number;
  renewed_at: string;
  on_expire: OnExpire;
};

export type ParamSpec = {
  type?: "string" | "number" | "integer" | "boolean" | "object" | "array" | "any";
  enum?: unknown[];
  required?: boolean;
  description?: string;
  default?: unknown;
};

export type WriteTemplate = Record<string, unknown> & { scope?: string; key?: string };

export type ActionDef = {
  id: string;
  description?: string;
  params?: Record<string, ParamSpec>;
  writes?: WriteTemplate[];
  if?: string;
  enabled?: string;
  scope: string;
  timer?: Timer | null;
  on_invoke?: { timer: Record<string, unknown> };
  registrar: string;
  created_at: string;
  /** the running cooldown after the last invocation (on_invoke.timer started). */
  cooldown?: Timer | null;
  /** invoking records a proposal; the action runs once enough approvers agree (proposals.ts) */
  approval?: ApprovalSpec;
};

/** Who must agree before an action runs: `count` distinct approvers for whom `from` holds. */
export type ApprovalSpec = {
  count: number;
  /** CEL with `approver` (the candidate's id, `admin` for the room token) and the proposal's `params` */
  from: string;
  expires_ms?: number;
  /** whether the proposer's own approval counts (default false) */
  proposer_counts?: boolean;
};

export type ProposalStatus = "pending" | "executed" | "failed" | "rejected" | "expired";

/** One invocation of an action with `approval`, waiting for (or decided by) its approvers. */
export type Proposal = {
  id: string;
  action: string;
  /** the params as validated at proposing (defaults applied); shown to whoever sees the proposal */
  params: Record<string, unknown>;
  proposer: string;
  /** the action's approval rule when it was proposed */
  count: number;
  from: string;
  proposer_counts: boolean;
  /** whose authority `from` reads with, and the action's owner scope (its registrar's, action_ctx.ts) */
  registrar: string;
  scope: string;
  approvals: { by: string; at: string }[];
  status: ProposalStatus;
  created_at: string;
  expires_at: string | null;
  decided_at: string | null;
  /** rejected: who and why */
  rejected_by?: string | null;
  reason?: string | null;
  /** executed: what it wrote (values are read from state, with the reader's privacy) */
  writes?: { scope: string; key: string; version: number }[];
  /** failed: the refusal the proposer would have seen (`{error, message, …details}`) */
  error?: Record<string, unknown> | null;
};

export type ViewDef = {
  id: string;
  expr: string;
  scope: string;
  description?: string;
  enabled?: string;
  timer?: Timer | null;
  render?: unknown;
  registrar: string;
  created_at: string;
};

/**
 * Stored CEL expressions of a definition or entry (the room_expressions quota): an action's `if`,
 * `enabled` and each write's `if`, `enabled` and `expr` value; a view's `expr` and `enabled`; an entry's
 * `enabled`.
 */
export function actionExpressions(
  a: Pick<ActionDef, "if" | "enabled" | "writes"> | null | undefined,
): number {
  if (!a) return 0;
  let n = (typeof a.if === "string" ? 1 : 0) + (typeof a.enabled === "string" ? 1 : 0);
  for (const w of a.writes ?? []) {
    n += (typeof w.if === "string" ? 1 : 0) + (typeof w.enabled === "string" ? 1 : 0) + (w.expr ? 1 : 0);
  }
  return n;
}

export function viewExpressions(v: Pick<ViewDef, "enabled"> | null | undefined): number {
  return v ? 1 + (typeof v.enabled === "string" ? 1 : 0) : 0;
}

export function entryExpressions(e: { enabled?: string | null } | null | undefined): number {
  return typeof e?.enabled === "string" ? 1 : 0;
}

export type Message = {
  seq: number;
  from: string | null;
  kind: string;
  body: unknown;
  to: string | string[] | null;
  reply_to: number | null;
  claimed_by: string | null;
  claimed_at: string | null;
  ts: string;
  /** any other fields an appended value carried, kept as they were. */
  extra?: Record<string, unknown> | null;
  /** the commit that sent it / claimed it (null: before the room's history began), for the room at a commit */
  commit_seq?: number | null;
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
  /** a refusal's message and the rest of its error body, as the invoker was answered */
  message?: string | null;
  detail?: Record<string, unknown> | null;
  /** the W3C `traceparent` the invocation arrived with (present only when it had a valid one) */
  traceparent?: string;
};

/** What a webhook is told about (reference/api.md "Webhooks"): every listed filter must match. */
export type WebhookEvents = { scopes?: string[]; kinds?: CommitKind[]; actions?: string[] };
export type CommitKind = "state" | "message" | "agent" | "definition";

/** A webhook of the room (room token only). `secret` never leaves the server. */
export type WebhookDef = {
  id: string;
  url: string;
  secret: string;
  events: WebhookEvents | null;
  created_at: string;
  /** the commit that registered it, stamped by applyTx (unset until then): a re-registration is a new one */
  seq?: number;
  /** set by the delivery loop after repeated failure; registering again clears it */
  disabled: { at: string; reason: string } | null;
};

/** One row of a room's history: a commit's header or one thing it wrote (history_rows.ts); stored as is. */
export type { HistoryRow } from "../store/history_store.ts";

/** A delivery copied into a webhook's outbox, and a delivered one's mark (outbox_copy.ts, webhook_delivery.ts). */
export type { DeliveredMark, OutboxRow } from "../store/outbox_store.ts";

/** A stored reply for `Idempotency-Key` retries (24 h). */
export type IdempotentReply = {
  identity: string;
  key: string;
  status: number;
  response: unknown;
  created_at: string;
  /** what was asked (action, params, acting agent): a reused key with another request is a conflict. */
  fingerprint: string;
};

/** What one commit changed, as cursors and the change feed report it. */
export type Change = { scope: string; key: string; version: number; deleted?: boolean };
export type CommitRecord = {
  seq: number;
  changes: Change[];
  messages: number[];
  audit: AuditRow | null;
  /** agents the commit created or changed (join, re-join, PATCH, `_heartbeat`); absent when none */
  agents?: string[];
  /** ids of the proposals this commit created or decided */
  proposals?: string[];
};
