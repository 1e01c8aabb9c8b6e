/**
 * @module engine/op — what one request brings to the engine besides its arguments. Every entry point's
 * request type extends `Op` (one object per request, nothing more on the hot path), and reads carry it in
 * their ReadCtx: a new per-request concern becomes one more field here.
 */
import type { CelBudget } from "../cel.ts";

export type Op = {
  /** the bearer token the request carried: who the caller is; open waits and feeds were opened with it */
  token?: string;
  /** aborts when the client goes away (read only by blocking calls: touching it costs Deno per request) */
  signal?: AbortSignal;
  /** W3C `traceparent` of the request, for what it causes to carry on */
  traceparent?: string;
  /**
   * the request's CEL budget (SYNC_CEL_REQUEST_MS), made by the rate limiter, which reads back whether the
   * caller's own expression hit `cel_limit` (the penalty); without one, each read or invocation gets its own
   */
  cel?: CelBudget;
  /** a `HEAD` request: answered as its `GET` would be, changing nothing (no presence, read marker, wait) */
  head?: boolean;
};

/** The context of work no request asked for (views computed for a listing, a timer firing). */
export const NO_OP: Op = Object.freeze({});
