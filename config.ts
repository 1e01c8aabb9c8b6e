/**
 * @module config — the environment turned into one typed, validated Config.
 * Nothing else reads Deno.env.
 */
import { z } from "zod";

const int = (def: number) => z.coerce.number().int().positive().default(def);

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().default("0.0.0.0"),
  SYNC_DB_URL: z.string().default("file:./data/sync.db"),
  SYNC_DB_AUTH_TOKEN: z.string().optional(),
  SYNC_MAX_BODY_BYTES: int(1024 * 1024),
  SYNC_MAX_VALUE_BYTES: int(256 * 1024),
  SYNC_MAX_CEL_LENGTH: int(4096),
  SYNC_CEL_TIMEOUT_MS: int(50),
  SYNC_MAX_WAIT_MS: int(25_000),
  SYNC_MAX_BATCH: int(20),
  SYNC_RATE_LIMIT_PER_SEC: z.coerce.number().min(0).default(10_000),
  SYNC_RATE_LIMIT_BURST: z.coerce.number().min(1).default(20_000),
  SYNC_ROOM_MAX_ENTRIES: int(100_000),
  SYNC_ROOM_MAX_BYTES: int(64 * 1024 * 1024),
  SYNC_ROOM_MAX_ACTIONS: int(1000),
  SYNC_ROOM_MAX_VIEWS: int(1000),
  SYNC_ROOM_MESSAGES_PER_SEC: z.coerce.number().min(0).default(50_000),
  SYNC_PEER_POLL_MS: z.coerce.number().int().min(0).default(0),
  SYNC_LOG: z.enum(["none", "requests"]).default("none"),
});

export type Config = {
  port: number;
  host: string;
  dbUrl: string;
  dbAuthToken?: string;
  limits: Limits;
  peerPollMs: number;
  logRequests: boolean;
};

/** Every client-facing limit in one place (SPEC §13); defaults are the spec's. */
export type Limits = {
  maxBodyBytes: number;
  maxValueBytes: number;
  maxCelLength: number;
  celTimeoutMs: number;
  maxWaitMs: number;
  maxBatch: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  roomMaxEntries: number;
  roomMaxBytes: number;
  roomMaxActions: number;
  roomMaxViews: number;
  roomMessagesPerSec: number;
};

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const MAX_KEY_LENGTH = 256;
export const CONTEXT_MESSAGES_DEFAULT = 50;
export const CONTEXT_MESSAGES_MAX = 200;
export const POLL_LIMIT_DEFAULT = 500;
export const POLL_LIMIT_MAX = 2000;

export function loadConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  const e = Env.parse(env);
  return {
    port: e.PORT,
    host: e.HOST,
    dbUrl: e.SYNC_DB_URL,
    dbAuthToken: e.SYNC_DB_AUTH_TOKEN,
    peerPollMs: e.SYNC_PEER_POLL_MS,
    logRequests: e.SYNC_LOG === "requests",
    limits: {
      maxBodyBytes: e.SYNC_MAX_BODY_BYTES,
      maxValueBytes: e.SYNC_MAX_VALUE_BYTES,
      maxCelLength: e.SYNC_MAX_CEL_LENGTH,
      celTimeoutMs: e.SYNC_CEL_TIMEOUT_MS,
      maxWaitMs: e.SYNC_MAX_WAIT_MS,
      maxBatch: e.SYNC_MAX_BATCH,
      rateLimitPerSec: e.SYNC_RATE_LIMIT_PER_SEC,
      rateLimitBurst: e.SYNC_RATE_LIMIT_BURST,
      roomMaxEntries: e.SYNC_ROOM_MAX_ENTRIES,
      roomMaxBytes: e.SYNC_ROOM_MAX_BYTES,
      roomMaxActions: e.SYNC_ROOM_MAX_ACTIONS,
      roomMaxViews: e.SYNC_ROOM_MAX_VIEWS,
      roomMessagesPerSec: e.SYNC_ROOM_MESSAGES_PER_SEC,
    },
  };
}

export const DEFAULT_LIMITS: Limits = loadConfig({}).limits;
