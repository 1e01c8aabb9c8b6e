/**
 * @module engine/model — the in-memory shape of a room: its entries, agents, actions, views and message
 * log, plus what has changed since the last flush. Plain data; the rules live in the other engine files.
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
};

/** What one commit changed, as cursors and the change feed report it. */
export type Change = { scope: string; key: string; version: number; deleted?: boolean };
export type CommitRecord = { seq: number; changes: Change[]; messages: number[]; audit: AuditRow | null };

/**
 * Everything touched since the last flush; the flush writes the current memory of each. The sets are
 * allocated on first use: every room holds one (replaced after each flush), and six empty Sets per room
 * were ~1 KB of heap each for 10,000 idle rooms.
 */
export class Dirty {
  #entries?: Set<string>;
  #agents?: Set<string>;
  #actions?: Set<string>;
  #views?: Set<string>;
  #messages?: Set<number>;
  #ticks?: Set<string>;
  #audit?: AuditRow[];
  #idempotency?: IdempotentReply[];
  room = false;

  get entries(): Set<string> {
    return this.#entries ??= new Set();
  }
  get agents(): Set<string> {
    return this.#agents ??= new Set();
  }
  get actions(): Set<string> {
    return this.#actions ??= new Set();
  }
  get views(): Set<string> {
    return this.#views ??= new Set();
  }
  get messages(): Set<number> {
    return this.#messages ??= new Set();
  }
  get ticks(): Set<string> {
    return this.#ticks ??= new Set();
  }
  get audit(): AuditRow[] {
    return this.#audit ??= [];
  }
  get idempotency(): IdempotentReply[] {
    return this.#idempotency ??= [];
  }

  /** Nothing touched (allocates nothing). */
  isEmpty(): boolean {
    return !this.room && !this.#entries?.size && !this.#agents?.size && !this.#actions?.size &&
      !this.#views?.size && !this.#messages?.size && !this.#ticks?.size && !this.#audit?.length &&
      !this.#idempotency?.length;
  }
}

/** A stored reply for `Idempotency-Key` retries (24 h). */
export type IdempotentReply = {
  identity: string;
  key: string;
  status: number;
  body: unknown;
  created_at: string;
  /** what was asked (action, params, acting agent): a reused key with another request is a conflict. */
  fingerprint: string;
};

export const entryId = (scope: string, key: string) => `${scope}\u0000${key}`;

export function newDirty(): Dirty {
  return new Dirty();
}

export class Room {
  readonly id: string;
  meta: unknown;
  created_at: string;
  token_hash: string;
  view_token_hash: string;
  /** commit sequence: +1 for every committed invocation. */
  seq: number;
  /** the seq the database holds (the flush's compare-and-set base). */
  persistedSeq: number;
  /** seq of the newest commit known durable; reads and wake-ups never run ahead of it. */
  committedSeq: number;
  agents = new Map<string, Agent>();
  /** token hash → agent id, so identifying a caller does not scan the room. */
  agentByToken = new Map<string, string>();
  // The collections below are allocated on first use (an empty Map is ~150 bytes of heap; most rooms never
  // use most of them, and 10,000 idle rooms stay resident).
  #ownSeqs?: Map<string, number[]>;
  #directedSeqs?: Map<string, number[]>;
  #scopes?: Map<string, Map<string, Entry>>;
  #actions?: Map<string, ActionDef>;
  #views?: Map<string, ViewDef>;
  #ticks?: Map<string, number>;
  #listeners?: Set<() => void>;
  #replies?: Map<string, IdempotentReply>;
  /** per agent: seqs of messages it sent / that were addressed to it (sorted), for unread counts. */
  get ownSeqs(): Map<string, number[]> {
    return this.#ownSeqs ??= new Map();
  }
  get directedSeqs(): Map<string, number[]> {
    return this.#directedSeqs ??= new Map();
  }
  get scopes(): Map<string, Map<string, Entry>> {
    return this.#scopes ??= new Map();
  }
  get actions(): Map<string, ActionDef> {
    return this.#actions ??= new Map();
  }
  get views(): Map<string, ViewDef> {
    return this.#views ??= new Map();
  }
  get ticks(): Map<string, number> {
    return this.#ticks ??= new Map();
  }
  /** listeners notified after each durable commit or liveness change (waiters, change feeds). */
  get listeners(): Set<() => void> {
    return this.#listeners ??= new Set();
  }
  /** whether anyone listens (allocates nothing). */
  get hasListeners(): boolean {
    return (this.#listeners?.size ?? 0) > 0;
  }
  /** idempotent replies seen by this process: "identity\0key" → reply. */
  get replies(): Map<string, IdempotentReply> {
    return this.#replies ??= new Map();
  }
  viewOrder: string[] = [];
  messages: Message[] = [];
  auditSeq = 0;
  auditCount = 0;
  entryCount = 0;
  storedBytes = 0;
  /** recent commits for cursors and the change feed (bounded ring). */
  log: CommitRecord[] = [];
  #dirty?: Dirty;
  /** created on first touch; an empty one assigned (after a flush) is dropped: most rooms are clean */
  get dirty(): Dirty {
    return this.#dirty ??= new Dirty();
  }
  set dirty(d: Dirty) {
    this.#dirty = d.isEmpty() ? undefined : d;
  }
  /** nothing waiting for the next flush (allocates nothing; the seq is compared by hasDirty). */
  get clean(): boolean {
    return this.#dirty?.isEmpty() ?? true;
  }
  /** false once evicted or invalidated; pending work against it must fail. */
  alive = true;
  lastUsed = 0;

  constructor(init: {
    id: string;
    meta: unknown;
    created_at: string;
    token_hash: string;
    view_token_hash: string;
    seq: number;
  }) {
    this.id = init.id;
    this.meta = init.meta;
    this.created_at = init.created_at;
    this.token_hash = init.token_hash;
    this.view_token_hash = init.view_token_hash;
    this.seq = init.seq;
    this.persistedSeq = init.seq;
    this.committedSeq = init.seq;
  }

  getEntry(scope: string, key: string): Entry | undefined {
    return this.#scopes?.get(scope)?.get(key);
  }

  scope(scope: string): Map<string, Entry> {
    let m = this.scopes.get(scope);
    if (!m) this.scopes.set(scope, m = new Map());
    return m;
  }

  tick(target: string): number {
    return this.#ticks?.get(target) ?? 0;
  }

  get messageCount(): number {
    return this.messages.length;
  }
}

export const LOG_RING = 4096;
