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
};

/** One row of a room's history: a commit's header or one thing it wrote (history_rows.ts). */
export type HistoryRow = {
  scope: string;
  key: string;
  seq: number;
  version: number;
  /** undefined: a deletion */
  value?: unknown;
  updated_at?: string | null;
  timer?: unknown;
  enabled?: string | null;
  sort_key?: number | null;
  /** a header's list of what its commit wrote: [scope, key] (["_messages", seq] for a message) */
  writes?: [string, string][];
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
