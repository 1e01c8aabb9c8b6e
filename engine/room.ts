/**
 * @module engine/room — a room in memory: `Room`, the data (entries, agents, actions, views, messages), and
 * `RoomRuntime`, everything a live room keeps beside its data (pending writes, caches, listeners, its one
 * timer). The registry (registry.ts) creates and disposes both; the rules live in the other engine modules.
 */
import type {
  ActionDef,
  Agent,
  AuditRow,
  CommitRecord,
  Entry,
  HistoryRow,
  IdempotentReply,
  Lease,
  Message,
  Proposal,
  ViewDef,
  WebhookDef,
} from "./model.ts";
import { CelBucket, type CelMap } from "../cel.ts";
import { Scheduler } from "./scheduler.ts";

export class Room {
  readonly id: string;
  meta: unknown;
  created_at: string;
  token_hash: string;
  view_token_hash: string;
  /** commit sequence: +1 for every committed invocation (the cursor). */
  seq: number;
  /** the room's liveness window (null: the server's SYNC_LIVENESS_MS) */
  liveness_ms: number | null;
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
  #leases?: Map<string, Map<string, Lease>>;
  #webhooks?: Map<string, WebhookDef>;
  #proposals?: Map<string, Proposal>;
  viewOrder: string[] = [];
  messages: Message[] = [];
  auditSeq = 0;
  auditCount = 0;
  entryCount = 0;
  /** stored CEL expressions (actions, views, entries' `enabled`): the room_expressions quota */
  expressionCount = 0;
  storedBytes = 0;
  /** the room's own retention and where its history begins (undefined: the server's, from creation) */
  history?: RoomHistory;
  readonly rt: RoomRuntime;

  constructor(init: {
    id: string;
    meta: unknown;
    created_at: string;
    token_hash: string;
    view_token_hash: string;
    seq: number;
    liveness_ms?: number | null;
  }) {
    this.id = init.id;
    this.meta = init.meta;
    this.created_at = init.created_at;
    this.token_hash = init.token_hash;
    this.view_token_hash = init.view_token_hash;
    this.seq = init.seq;
    this.liveness_ms = init.liveness_ms ?? null;
    this.rt = new RoomRuntime(init.seq);
  }

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
  /** scope → key → lease (every key ever leased: a lease without holder keeps its epoch) */
  get leases(): Map<string, Map<string, Lease>> {
    return this.#leases ??= new Map();
  }
  /** whether any key was ever leased (allocates nothing) */
  get hasLeases(): boolean {
    return (this.#leases?.size ?? 0) > 0;
  }

  getLease(scope: string, key: string): Lease | undefined {
    return this.#leases?.get(scope)?.get(key);
  }
  get webhooks(): Map<string, WebhookDef> {
    return this.#webhooks ??= new Map();
  }
  /** whether any webhook is registered (allocates nothing: every commit asks) */
  get hasWebhooks(): boolean {
    return (this.#webhooks?.size ?? 0) > 0;
  }
  /** proposals of actions with `approval`, in the order they were made (pending and recently decided) */
  get proposals(): Map<string, Proposal> {
    return this.#proposals ??= new Map();
  }
  /** whether the room has any proposal (allocates nothing) */
  get hasProposals(): boolean {
    return (this.#proposals?.size ?? 0) > 0;
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
}

/** A room's retention (undefined: the server's) and the oldest commit its history holds (retention.ts). */
export type RoomHistory = {
  commits?: number;
  max_age_ms?: number;
  /** the oldest commit the history shows and `at` reads */
  from: number;
  /** when the room stood at `from` (its commit's time) */
  from_ts?: string;
};

/** One scope as live at a moment (snapshot.ts builds it). */
export type ScopeCache = {
  builtSeq: number;
  scopeSeq: number;
  volatile: boolean;
  validUntil: number;
  json: Record<string, unknown>;
  cel: CelMap;
  rawCel: CelMap;
  entries: Entry[];
};

export type ViewValue = { value: unknown; error?: string };

/** The views' values at one commit, and the same values converted for CEL. */
export type ViewCache = {
  seq: number;
  validUntil: number;
  values: Map<string, ViewValue>;
  cel: Record<string, unknown>;
  /** the room's CEL time ran out during the computation: computed again once it refills */
  starved: boolean;
};

/** View values and action availability as one caller saw them at a cursor (changes.ts). */
export type Observation = { seq: number; views: Map<string, string>; actions: Map<string, boolean> };

/** What the snapshot keeps between reads; a write touches the scopes it changed. */
export class SnapshotCaches {
  scopes = new Map<string, ScopeCache>();
  /** per scope: the value of `writes` at its last write */
  scopeSeq = new Map<string, number>();
  /** counts writes into any scope of the room */
  writes = 0;
  /** counts presence and agent edits, which change `agents` in CEL without a commit */
  agentsVersion = 0;
  views?: ViewCache;
  agentsCel?: { seq: number; version: number; value: CelMap; validUntil: number };
}

/**
 * Everything touched since the last flush; the flush writes the current memory of each (registry_rows.ts).
 * The sets are allocated on first use: every room holds one, and six empty Sets per room were ~1 KB of heap
 * each for 10,000 idle rooms. Read the fields; mark with the methods.
 */
export class Dirty {
  entries?: Set<string>;
  agents?: Set<string>;
  actions?: Set<string>;
  views?: Set<string>;
  messages?: Set<number>;
  ticks?: Set<string>;
  leases?: Set<string>;
  proposals?: Set<string>;
  /** rows a commit adds (rather than current memory written back) */
  audit?: AuditRow[];
  idempotency?: IdempotentReply[];
  /** history rows of the commits since the last flush (history_rows.ts) */
  history?: HistoryRow[];
  /** the room's retention changed (room.history) */
  historySettings = false;
  /** a retention step: history before commit `to` goes (retention.ts) */
  historyTrim?: { from: number; to: number; to_ts: string };
  /** webhooks registered, disabled or deleted (engine/webhooks.ts); those the commits are due to (outbox.ts) */
  webhooks?: Set<string>;
  hooked?: Set<string>;
  /** webhooks deleted (their stored deliveries go), and registered again (their pending ones are due now) */
  purged?: Set<string>;
  rearmed?: Set<string>;
  /** the room row's meta or view token changed */
  room = false;

  entry(id: string): void {
    (this.entries ??= new Set()).add(id);
  }
  agent(id: string): void {
    (this.agents ??= new Set()).add(id);
  }
  action(id: string): void {
    (this.actions ??= new Set()).add(id);
  }
  view(id: string): void {
    (this.views ??= new Set()).add(id);
  }
  message(seq: number): void {
    (this.messages ??= new Set()).add(seq);
  }
  tick(target: string): void {
    (this.ticks ??= new Set()).add(target);
  }
  lease(id: string): void {
    (this.leases ??= new Set()).add(id);
  }
  proposal(id: string): void {
    (this.proposals ??= new Set()).add(id);
  }
  addAudit(row: AuditRow): void {
    (this.audit ??= []).push(row);
  }
  addReply(r: IdempotentReply): void {
    (this.idempotency ??= []).push(r);
  }
  addHistory(row: HistoryRow): void {
    (this.history ??= []).push(row);
  }
  webhook(id: string): void {
    (this.webhooks ??= new Set()).add(id);
  }
  hook(id: string): void {
    (this.hooked ??= new Set()).add(id);
  }

  /** Nothing touched (allocates nothing). */
  isEmpty(): boolean {
    return !this.room && !this.entries?.size && !this.agents?.size && !this.actions?.size &&
      !this.views?.size && !this.messages?.size && !this.ticks?.size && !this.leases?.size &&
      !this.audit?.length && !this.idempotency?.length && !this.proposals?.size && !this.webhooks?.size &&
      !this.history?.length && !this.historySettings && !this.historyTrim;
  }
}

/** A live room's runtime: one per Room, owned by the registry, lost when the room leaves memory. */
export class RoomRuntime {
  /** false once evicted or invalidated; pending work against it must fail. */
  alive = true;
  lastUsed = 0;
  /** the seq storage holds (the flush's compare-and-set base). */
  persistedSeq: number;
  /** seq of the newest commit known durable; reads and wake-ups never run ahead of it. */
  committedSeq: number;
  /** recent commits for cursors and the change feed (bounded ring, config.ts LOG_RING). */
  log: CommitRecord[] = [];
  /** messages-per-second token bucket (invoke.ts) */
  messageBucket?: { tokens: number; at: number };
  /** retention (retention.ts): a trim is running; the time of the oldest retained commit; the last age check */
  trim?: { running: boolean; oldestTs?: string; checkedAt?: number };
  #dirty?: Dirty;
  #listeners?: Set<() => void>;
  #presenceWatchers?: Set<(agentId: string) => void>;
  #replies?: Map<string, IdempotentReply>;
  #caches?: SnapshotCaches;
  #observations?: Map<string, Observation[]>;
  #waiting?: Map<string, number>;
  #connected?: Map<string, number>;
  #scheduler?: Scheduler;
  /**
   * Since when silence counts (ms, engine clock): the service's start (registry.ts sets it). An agent's
   * or a lease holder's last sign of life is never taken as earlier, so time the server was down does not
   * count against anyone.
   */
  floor = -Infinity;
  /**
   * No lease can lapse before this (a lower bound: a sign of life only moves a lapse later, so nothing is
   * re-armed per call; the check at that moment finds the true next one). -Infinity: not computed yet.
   */
  leaseDue = -Infinity;
  /** a lease is held here: its expiry is timed work (the room stays in memory for it) */
  get holdsLeases(): boolean {
    return Number.isFinite(this.leaseDue);
  }
  /** the expiring of lapsed leases in progress, if one is, and the lapsed leases it has still to do */
  settling?: Promise<void>;
  lapsed?: Lease[];
  /** the shortest ttl of the leases held (a holder whose wait ends can lapse this soon at the earliest) */
  minTtl = Infinity;
  /** when the presence rows were last merged from storage (several processes, presence.ts) */
  seenReadAt = -Infinity;
  #celTime?: CelBucket;
  /** `state._messages` as CEL sees it: built on first read, then kept up to date message by message */
  messagesCel?: Record<string, unknown>;

  constructor(seq: number) {
    this.persistedSeq = seq;
    this.committedSeq = seq;
  }

  /** what changed since the last flush; created on first touch (most rooms are clean) */
  get dirty(): Dirty {
    return this.#dirty ??= new Dirty();
  }
  /** Hands the changes to a flush and starts afresh. */
  takeDirty(): Dirty | undefined {
    const d = this.#dirty;
    this.#dirty = undefined;
    return d;
  }
  /** nothing waiting for the next flush (allocates nothing). */
  get clean(): boolean {
    return this.#dirty?.isEmpty() ?? true;
  }
  /** audit rows waiting for the next flush (allocates nothing): the audit log is read from storage. */
  get auditPending(): boolean {
    return !!this.#dirty?.audit?.length;
  }
  /** listeners notified after each durable commit or liveness change (waiters, change feeds). */
  get listeners(): Set<() => void> {
    return this.#listeners ??= new Set();
  }
  /** whether anyone listens (allocates nothing). */
  get hasListeners(): boolean {
    return (this.#listeners?.size ?? 0) > 0;
  }
  /**
   * listeners of presence changes, which are not commits (waiters whose condition reads `agents`, change
   * feeds), told which agent changed.
   */
  get presenceWatchers(): Set<(agentId: string) => void> {
    return this.#presenceWatchers ??= new Set();
  }
  get hasPresenceWatchers(): boolean {
    return (this.#presenceWatchers?.size ?? 0) > 0;
  }
  /** idempotent replies seen by this process: "identity\0key" → reply. */
  get replies(): Map<string, IdempotentReply> {
    return this.#replies ??= new Map();
  }
  get caches(): SnapshotCaches {
    return this.#caches ??= new SnapshotCaches();
  }
  /** per caller id: the last few observations, oldest first (changes.ts). */
  get observations(): Map<string, Observation[]> {
    return this.#observations ??= new Map();
  }
  /** per agent id: how many of its waits are blocked now (waiters.ts). */
  get waiting(): Map<string, number> {
    return this.#waiting ??= new Map();
  }
  /**
   * per agent id: its open waits and feeds (opened with its own token), each a sign of life as long as it
   * is open (presence.ts)
   */
  get connected(): Map<string, number> {
    return this.#connected ??= new Map();
  }
  isConnected(agentId: string): boolean {
    return (this.#connected?.get(agentId) ?? 0) > 0;
  }
  /** the room's one timer: "wake me at T" for whoever needs it. */
  get scheduler(): Scheduler {
    return this.#scheduler ??= new Scheduler();
  }

  /** Brings job `key` forward to `at` if it is set for later (allocates nothing when the room has none). */
  earlier(key: string, at: number, now: number): void {
    this.#scheduler?.earlier(key, at, now);
  }
  /** the room's CEL time per second (cel.ts): every evaluation in the room spends it */
  get celTime(): CelBucket {
    return this.#celTime ??= new CelBucket();
  }
  /** Spends another room's CEL time (a past room rebuilt by room_at.ts spends its live room's). */
  useCelTime(bucket: CelBucket): void {
    this.#celTime = bucket;
  }

  /** Stops the room's timer (the room leaves memory). */
  dispose(): void {
    this.#scheduler?.dispose();
  }
}
