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

export const entryId = (scope: string, key: string) => `${scope}\u0000${key}`;

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

/** A delivery a commit adds to the outbox: what the delivery loop will sign and send. */
export type WebhookDelivery = {
  webhook_id: string;
  seq: number;
  delivery_id: string;
  /** the exact JSON text that is signed and sent */
  body: string;
  traceparent: string | null;
  created_at: string;
  /** epoch ms: due from then */
  next_at: number;
};

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
export type CommitRecord = { seq: number; changes: Change[]; messages: number[]; audit: AuditRow | null };
