/**
 * @module config — the environment turned into one typed, validated Config.
 * Nothing else reads Deno.env.
 */
import { z } from "zod";

const int = (def: number) => z.coerce.number().int().positive().default(def);
/** `SYNC_PEER_POLL_MS` unless set (and for a remote database, where 0 cannot promise a single process) */
const PEER_POLL_DEFAULT_MS = 100;
/** A comma-separated list; empty entries dropped. */
const list = z.string().default("").transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().default("127.0.0.1"),
  SYNC_DB_URL: z.string().default("file:./data/sync.db"),
  SYNC_DB_AUTH_TOKEN: z.string().optional(),
  SYNC_MAX_BODY_BYTES: int(1024 * 1024),
  SYNC_MAX_VALUE_BYTES: int(256 * 1024),
  SYNC_MAX_CEL_LENGTH: int(4096),
  SYNC_CEL_TIMEOUT_MS: int(50),
  SYNC_CEL_REQUEST_MS: int(50),
  SYNC_CEL_VIEWS_MS: int(50),
  SYNC_CEL_COMMIT_MS: int(100),
  SYNC_ROOM_CEL_MS_PER_SEC: z.coerce.number().min(0).default(250),
  SYNC_MAX_WAIT_MS: int(25_000),
  SYNC_MAX_BATCH: int(20),
  SYNC_RATE_LIMIT_PER_SEC: z.coerce.number().min(0).default(10_000),
  SYNC_RATE_LIMIT_BURST: z.coerce.number().min(1).default(20_000),
  SYNC_ROOM_MAX_ENTRIES: int(100_000),
  SYNC_ROOM_MAX_BYTES: int(64 * 1024 * 1024),
  SYNC_ROOM_MAX_ACTIONS: int(1000),
  SYNC_ROOM_MAX_VIEWS: int(1000),
  SYNC_ROOM_MAX_EXPRESSIONS: int(2000),
  SYNC_ROOM_MESSAGES_PER_SEC: z.coerce.number().min(0).default(50_000),
  SYNC_HISTORY_COMMITS: int(100_000),
  SYNC_HISTORY_MAX_AGE_MS: int(30 * 24 * 3600 * 1000),
  SYNC_ROOM_MAX_PENDING_PROPOSALS: int(100),
  SYNC_PEER_POLL_MS: z.coerce.number().int().min(0).default(PEER_POLL_DEFAULT_MS),
  SYNC_ALLOWED_ORIGINS: list,
  SYNC_ALLOWED_HOSTS: list,
  SYNC_MAX_JSON_DEPTH: int(64),
  SYNC_MAX_IMPORT_BYTES: int(32 * 1024 * 1024),
  SYNC_BODY_TIMEOUT_MS: int(10_000),
  SYNC_ROOM_MAX_MESSAGES: int(100_000),
  SYNC_MAX_DEFINITION_BYTES: int(64 * 1024),
  SYNC_ROOM_MAX_AGENTS: int(1000),
  SYNC_MAX_META_BYTES: int(8 * 1024),
  SYNC_ROOM_MAX_WAITERS: int(10_000),
  SYNC_MAX_WAITERS: int(50_000),
  SYNC_LIVENESS_MS: z.coerce.number().int().min(500).max(7 * 24 * 3600 * 1000).default(60_000),
  SYNC_MCP_MAX_SESSIONS: int(10_000),
  SYNC_MCP_SESSION_IDLE_MS: int(24 * 3600 * 1000),
  SYNC_MCP_PROGRESS_MS: int(5000),
  SYNC_ROOM_MAX_WEBHOOKS: int(20),
  SYNC_WEBHOOK_ALLOW_PRIVATE: z.enum(["0", "1", "true", "false"]).default("0"),
  SYNC_WEBHOOK_TIMEOUT_MS: int(10_000),
  SYNC_WEBHOOK_CONCURRENCY: int(16),
  SYNC_WEBHOOK_RETRY_MIN_MS: int(1000),
  SYNC_WEBHOOK_RETRY_MAX_MS: int(600_000),
  SYNC_WEBHOOK_MAX_FAILURES: int(20),
  SYNC_WEBHOOK_MAX_FAILING_MS: int(24 * 3600 * 1000),
  SYNC_WEBHOOK_POLL_MS: int(1000),
  SYNC_WEBHOOK_MAX_PENDING: int(50_000),
  SYNC_LOG: z.enum(["none", "requests"]).default("none"),
});

export type Config = {
  port: number;
  host: string;
  dbUrl: string;
  dbAuthToken?: string;
  limits: Limits;
  /** how other processes on the database are found (engine/peers.ts) */
  peers: PeerMode;
  /** how often rooms with waiters or feeds are compared with storage while other processes are alive */
  peerPollMs: number;
  http: HttpPolicy;
  logRequests: boolean;
};

/**
 * `detect`: a local file, other processes found through the `peers` table (freshness checks on while
 * one is alive); `shared`: a remote libSQL server, always treated as shared; `single`: `SYNC_PEER_POLL_MS=0`
 * on a local file, the operator's promise that no other process uses it.
 */
export type PeerMode = "detect" | "shared" | "single";

/** Which browsers and Host names the server answers (middleware/origin.ts). */
export type HttpPolicy = {
  /** origins (`scheme://host[:port]`) whose pages may mutate, besides the server's own */
  allowedOrigins: readonly string[];
  /** bound to loopback: Host names answered besides loopback ones; `null` when bound to other interfaces */
  allowedHosts: readonly string[] | null;
};

/** Every client-facing limit in one place (reference/api.md#limits has each with its default). */
export type Limits = {
  maxBodyBytes: number;
  maxValueBytes: number;
  maxCelLength: number;
  /** CEL evaluation time: one expression, one request, one view computation, one wake round of waiters */
  celTimeoutMs: number;
  celRequestMs: number;
  celViewsMs: number;
  celCommitMs: number;
  /** CEL time a room may spend per second (0: unbounded) */
  roomCelMsPerSec: number;
  maxWaitMs: number;
  maxBatch: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  roomMaxEntries: number;
  roomMaxBytes: number;
  roomMaxActions: number;
  roomMaxViews: number;
  roomMaxExpressions: number;
  roomMessagesPerSec: number;
  /** nesting of arrays and objects in any JSON the server takes or stores */
  maxJsonDepth: number;
  /** `POST /rooms/import` bodies (room snapshots are bigger than ordinary requests) */
  maxImportBytes: number;
  /** a request body must arrive whole within this (408 request_timeout) */
  bodyTimeoutMs: number;
  roomMaxMessages: number;
  /** one action or view definition, as JSON */
  maxDefinitionBytes: number;
  roomMaxAgents: number;
  /** a room's or an agent's `meta`, as JSON */
  maxMetaBytes: number;
  /** blocked waiters and open change feeds: per room, and in the whole process */
  roomMaxWaiters: number;
  maxWaiters: number;
  /** an agent silent this long is `gone`, and `lease: true` lasts this long past its holder's last sign of
   * life, unless the room sets its own `liveness_ms` */
  livenessMs: number;
  /** MCP sessions held in memory (connections opened without a token, which may join or create) */
  mcpMaxSessions: number;
  /** an MCP session unused for this long is forgotten */
  mcpSessionIdleMs: number;
  /** a blocking MCP tool call with a `progressToken` sends a progress notification this often */
  mcpProgressMs: number;
  /** proposals of actions with `approval` waiting for a decision, per room */
  roomMaxPendingProposals: number;
  /** history kept per room: the newest commits, and none older than this (a room may keep less) */
  historyCommits: number;
  historyMaxAgeMs: number;
  /** webhooks (reference/api.md "Webhooks"): per room, and how the delivery loop treats a target */
  roomMaxWebhooks: number;
  /** private, loopback and link-local targets are allowed (tests, a trusted network) */
  webhookAllowPrivate: boolean;
  webhookTimeoutMs: number;
  /** deliveries in flight at once, per process */
  webhookConcurrency: number;
  webhookRetryMinMs: number;
  webhookRetryMaxMs: number;
  /** a webhook is disabled after this many consecutive failures, or after failing this long */
  webhookMaxFailures: number;
  webhookMaxFailingMs: number;
  /** how often storage is asked for deliveries this process was not told of (other processes, restarts) */
  webhookPollMs: number;
  /** a webhook with this many undelivered deliveries is disabled (its receiver is down or too slow) */
  webhookMaxPending: number;
};

// ── fixed limits and constants (not configurable; each names what it bounds) ──────────────────────

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const MAX_KEY_LENGTH = 256;
/** agents one message may be addressed to (`to`) */
export const MESSAGE_MAX_RECIPIENTS = 1000;
/** `/context` messages section, and `include=changes` message objects */
export const CONTEXT_MESSAGES_DEFAULT = 50;
export const CONTEXT_MESSAGES_MAX = 200;
/** `/poll` messages and audit rows; `/state?scope=_audit` */
export const POLL_LIMIT_DEFAULT = 500;
export const POLL_LIMIT_MAX = 2000;
/** `GET /messages` (seed 000) */
export const MESSAGES_LIST_DEFAULT = 50;
export const MESSAGES_LIST_MAX = 500;
/** CEL evaluation: AST node visits and characters built by `+`, per expression */
export const CEL_MAX_STEPS = 1_000_000;
export const CEL_MAX_BUILT = 4_000_000;
/** compiled expressions kept */
export const CEL_CACHE_MAX = 10_000;
/** `matches`: pattern length, and compiled RE2 patterns kept (each with a lazily built DFA of at most
 * CEL_PATTERN_DFA_BYTES, so the cache stays bounded in memory too) */
export const CEL_MAX_PATTERN_LENGTH = 1024;
export const CEL_PATTERN_CACHE_MAX = 128;
export const CEL_PATTERN_DFA_BYTES = 1024 * 1024;
/** a waiter whose last evaluation took longer than this is expensive: re-evaluated only within the
 * wake round's budget (SYNC_CEL_COMMIT_MS), otherwise answered `cel_limit` */
export const WAITER_EXPENSIVE_MS = 5;
/** a token whose expressions hit the CEL limit twice within this window waits it out (429) */
export const CEL_PENALTY_MS = 1000;
/** stored `Idempotency-Key` replies are answered for this long */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/** `GET /history` commits per page; headers read per page at most (a reader who may see little gets a short
 * page and a `next` to go on from) */
export const HISTORY_LIMIT_DEFAULT = 50;
export const HISTORY_LIMIT_MAX = 500;
export const HISTORY_SCAN_MAX = 5000;
/** `GET /state/history` versions per page */
export const VERSIONS_LIMIT_DEFAULT = 50;
export const VERSIONS_LIMIT_MAX = 500;
/** retention trims at most this many commits per step (one small batch of deletes), and starts once a room
 * is over its limit by this many (or a tenth of the limit, if smaller) */
export const HISTORY_TRIM_STEP = 500;
/** age-based retention looks at a room's oldest commit at most this often */
export const HISTORY_AGE_CHECK_MS = 1000;
/** runs of a write whose commit lost a race with another process on the same database */
export const MAX_COMMIT_ATTEMPTS = 20;
/** rooms held in memory before the idle ones are evicted */
export const MAX_ROOMS_IN_MEMORY = 20_000;
/** recent commits a room keeps in memory for cursors and the change feed */
export const LOG_RING = 4096;
/** per room and caller: observations of views and actions kept for `include=changes` */
export const OBSERVATIONS_KEPT = 8;
/** presence and read markers (no commit of their own) reach storage with the next batch, or this late */
export const PRESENCE_WRITE_MS = 1000;
/**
 * a tool call returns well within the common 60 s MCP client timeout, whatever SYNC_MAX_WAIT_MS says (a call
 * that asked for progress notifications may wait up to SYNC_MAX_WAIT_MS)
 */
export const MCP_MAX_WAIT_MS = 45_000;
/** an SSE comment line keeps idle `/events` connections open through proxies */
export const SSE_HEARTBEAT_MS = 15_000;
/** a change feed sends at most one `presence` event per this long (the latest state of each agent) */
export const FEED_PRESENCE_MS = 250;
/** `/healthz` answers 503 when storage does not answer within this */
export const HEALTH_TIMEOUT_MS = 2000;
/** `compact=true` strips empty fields this deep; deeper (values stored before SYNC_MAX_JSON_DEPTH) goes as stored */
export const COMPACT_MAX_DEPTH = 256;
/** in-flight requests get this long to finish at shutdown */
export const SHUTDOWN_GRACE_MS = 10_000;
/** an action's `approval`: at most this many approvers, proposals pending at most this long */
export const APPROVAL_MAX_COUNT = 20;
export const APPROVAL_MAX_EXPIRES_MS = 365 * 24 * 3600 * 1000;
/** decided proposals a room keeps (the oldest beyond this are dropped, from memory and storage) */
export const PROPOSALS_DECIDED_KEPT = 100;
/** a process writes its `peers` row this often */
export const PEER_BEAT_MS = 1000;
/** a `peers` row not written for this long is a process that is gone */
export const PEER_ALIVE_MS = 3000;
/** a starting process re-reads the `peers` table this often until every live peer has seen it */
export const PEER_JOIN_POLL_MS = 50;

/** a room's `liveness_ms` and a lease's `ttl_ms`: at least this (a shorter one would lapse between calls) */
export const LIVENESS_MIN_MS = 500;
/** …and at most a week */
export const LIVENESS_MAX_MS = 7 * 24 * 3600 * 1000;
/** lapsed leases whose expiry one turn of the event loop commits; more wait for the next turn (other rooms
 * run in between: 10,000 leases lapsing at once never stall the server) */
export const EXPIRY_CHUNK = 128;
/** an open wait or feed refreshes its agent's `last_seen` this often (a quarter of the window, within
 * these bounds); while other processes share the database it is written at once, so they see it */
export const CONNECTION_BEAT_MIN_MS = 100;
export const CONNECTION_BEAT_MAX_MS = 15_000;
/** while other processes share the database, a room's presence rows are re-read at most this often */
export const PRESENCE_REFRESH_MS = 1000;

/** Interface names and addresses of the local machine only (`HOST`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** An origin as browsers send it (`new URL(o).origin`), or the text itself if it is not a URL. */
function origin(o: string): string {
  try {
    return new URL(o).origin;
  } catch {
    return o;
  }
}
/** delivered webhook rows kept per webhook, and how many `GET …/deliveries` lists (default, max) */
export const WEBHOOK_DELIVERIES_KEPT = 100;
export const WEBHOOK_DELIVERIES_DEFAULT = 50;
export const WEBHOOK_DELIVERIES_MAX = 100;
/** pending deliveries one claim takes (delivered in order, one at a time): at most this many, and bytes */
export const WEBHOOK_CLAIM_ROWS = 64;
export const WEBHOOK_CLAIM_BYTES = 1024 * 1024;
/**
 * history headers one copy into a webhook's outbox looks at (it stops at WEBHOOK_CLAIM_ROWS commits due to
 * the webhook): bounds the read for a webhook whose events match few of its room's commits
 */
export const WEBHOOK_COPY_SCAN = 5000;
/**
 * delivered rows are marked in storage in groups of at most this many (two statements per group were most of
 * a delivery's cost at 16); a crash re-sends at most these — at least once, as promised
 */
export const WEBHOOK_MARK_EVERY = 64;
/** delivered rows wait at most this long for the webhook's next claim to be marked with it */
export const WEBHOOK_MARK_LINGER_MS = 100;
/**
 * while the thread is busy (a macrotask waits longer than WEBHOOK_BUSY_LAG_MS to run: requests and commits
 * are queued), delivery attempts of all webhooks together start at most every WEBHOOK_BUSY_GAP_MS. A delivery
 * costs ~0.5 ms of the thread (its copy and claim, the signed POST, its mark: two write transactions), so a
 * saturated server gives deliveries ~1 % of it and they catch up when it is idle (bench/README.md, Webhooks)
 */
export const WEBHOOK_BUSY_GAP_MS = 50;
export const WEBHOOK_BUSY_LAG_MS = 0.5;

export function loadConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  const e = Env.parse(env);
  return {
    port: e.PORT,
    host: e.HOST,
    dbUrl: e.SYNC_DB_URL,
    dbAuthToken: e.SYNC_DB_AUTH_TOKEN,
    peers: !e.SYNC_DB_URL.startsWith("file:") ? "shared" : e.SYNC_PEER_POLL_MS === 0 ? "single" : "detect",
    peerPollMs: e.SYNC_PEER_POLL_MS || PEER_POLL_DEFAULT_MS,
    http: {
      allowedOrigins: e.SYNC_ALLOWED_ORIGINS.map(origin),
      allowedHosts: isLoopbackHost(e.HOST) ? e.SYNC_ALLOWED_HOSTS.map((h) => h.toLowerCase()) : null,
    },
    logRequests: e.SYNC_LOG === "requests",
    limits: {
      maxBodyBytes: e.SYNC_MAX_BODY_BYTES,
      maxValueBytes: e.SYNC_MAX_VALUE_BYTES,
      maxCelLength: e.SYNC_MAX_CEL_LENGTH,
      celTimeoutMs: e.SYNC_CEL_TIMEOUT_MS,
      celRequestMs: e.SYNC_CEL_REQUEST_MS,
      celViewsMs: e.SYNC_CEL_VIEWS_MS,
      celCommitMs: e.SYNC_CEL_COMMIT_MS,
      roomCelMsPerSec: e.SYNC_ROOM_CEL_MS_PER_SEC,
      maxWaitMs: e.SYNC_MAX_WAIT_MS,
      maxBatch: e.SYNC_MAX_BATCH,
      rateLimitPerSec: e.SYNC_RATE_LIMIT_PER_SEC,
      rateLimitBurst: e.SYNC_RATE_LIMIT_BURST,
      roomMaxEntries: e.SYNC_ROOM_MAX_ENTRIES,
      roomMaxBytes: e.SYNC_ROOM_MAX_BYTES,
      roomMaxActions: e.SYNC_ROOM_MAX_ACTIONS,
      roomMaxViews: e.SYNC_ROOM_MAX_VIEWS,
      roomMaxExpressions: e.SYNC_ROOM_MAX_EXPRESSIONS,
      roomMessagesPerSec: e.SYNC_ROOM_MESSAGES_PER_SEC,
      maxJsonDepth: e.SYNC_MAX_JSON_DEPTH,
      maxImportBytes: e.SYNC_MAX_IMPORT_BYTES,
      bodyTimeoutMs: e.SYNC_BODY_TIMEOUT_MS,
      roomMaxMessages: e.SYNC_ROOM_MAX_MESSAGES,
      maxDefinitionBytes: e.SYNC_MAX_DEFINITION_BYTES,
      roomMaxAgents: e.SYNC_ROOM_MAX_AGENTS,
      maxMetaBytes: e.SYNC_MAX_META_BYTES,
      roomMaxWaiters: e.SYNC_ROOM_MAX_WAITERS,
      maxWaiters: e.SYNC_MAX_WAITERS,
      livenessMs: e.SYNC_LIVENESS_MS,
      mcpMaxSessions: e.SYNC_MCP_MAX_SESSIONS,
      mcpSessionIdleMs: e.SYNC_MCP_SESSION_IDLE_MS,
      mcpProgressMs: e.SYNC_MCP_PROGRESS_MS,
      roomMaxPendingProposals: e.SYNC_ROOM_MAX_PENDING_PROPOSALS,
      historyCommits: e.SYNC_HISTORY_COMMITS,
      historyMaxAgeMs: e.SYNC_HISTORY_MAX_AGE_MS,
      roomMaxWebhooks: e.SYNC_ROOM_MAX_WEBHOOKS,
      webhookAllowPrivate: e.SYNC_WEBHOOK_ALLOW_PRIVATE === "1" || e.SYNC_WEBHOOK_ALLOW_PRIVATE === "true",
      webhookTimeoutMs: e.SYNC_WEBHOOK_TIMEOUT_MS,
      webhookConcurrency: e.SYNC_WEBHOOK_CONCURRENCY,
      webhookRetryMinMs: e.SYNC_WEBHOOK_RETRY_MIN_MS,
      webhookRetryMaxMs: e.SYNC_WEBHOOK_RETRY_MAX_MS,
      webhookMaxFailures: e.SYNC_WEBHOOK_MAX_FAILURES,
      webhookMaxFailingMs: e.SYNC_WEBHOOK_MAX_FAILING_MS,
      webhookPollMs: e.SYNC_WEBHOOK_POLL_MS,
      webhookMaxPending: e.SYNC_WEBHOOK_MAX_PENDING,
    },
  };
}

export const DEFAULT_LIMITS: Limits = loadConfig({}).limits;
