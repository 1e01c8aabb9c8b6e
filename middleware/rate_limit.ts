/**
 * @module middleware/rate_limit — a token bucket per bearer token (per client address without one):
 * `rateLimitPerSec` refill, `rateLimitBurst` capacity; over it, `429 rate_limited` with `Retry-After`.
 * Time comes from the engine's clock so tests can move it. Operational endpoints are never limited.
 * Each request gets its CEL budget here; the penalty reads it back.
 */
import type { Context, MiddlewareHandler, Next } from "hono";
import { bearer, hashToken } from "../auth.ts";
import { CelBudget } from "../cel.ts";
import { CEL_PENALTY_MS } from "../config.ts";
import { ApiError, toErrorResponse } from "../errors.ts";
import type { Engine } from "../engine/engine.ts";

type Bucket = { tokens: number; at: number };

const EXEMPT = new Set(["/healthz", "/metrics"]);
/** buckets kept before full ones are swept */
const SWEEP_EVERY = 10_000;

export function rateLimit(eng: Engine): MiddlewareHandler {
  const buckets = new Map<string, Bucket>();
  const celPenalty = new Map<string, { hits: number[]; until: number }>();
  let lastSweep = 0;
  // not async (penalized is): each async level keeps a suspended frame per request in flight (idle /wait)
  return (c, next) => {
    const { rateLimitPerSec: rate, rateLimitBurst: burst } = eng.limits;
    if (EXEMPT.has(c.req.path)) return next();
    const now = eng.now();
    if (buckets.size > SWEEP_EVERY && now - lastSweep > 1000) {
      lastSweep = now;
      sweep(buckets, now, rate, burst);
      for (const [k, p] of celPenalty) {
        if (p.until <= now && p.hits.every((t) => now - t >= CEL_PENALTY_MS)) celPenalty.delete(k);
      }
    }
    const key = clientKey(c.req.header("authorization"), c.env);
    if (!rate) return penalized(key, now, c, next);
    let b = buckets.get(key);
    if (!b) buckets.set(key, b = { tokens: burst, at: now });
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - b.tokens) / rate) * 1000);
      const e = new ApiError(
        "rate_limited",
        `too many requests for this token; retry in ${retryAfterMs} ms`,
        {
          retry_after_ms: retryAfterMs,
          limit_per_sec: rate,
          burst,
        },
      );
      // c.res is set too: app.ts calls this middleware inside another one, which does not read the return
      return Promise.resolve(c.res = toErrorResponse(e));
    }
    b.tokens -= 1;
    return penalized(key, now, c, next);
  };

  /**
   * A token whose own expressions were answered `cel_limit` twice within a second waits out a penalty
   * second, so a few clients cannot starve every other room (even with the request rate limit off). The
   * request's CEL budget (made here, carried by its Op through REST, MCP, waits and invocations) says
   * whether that happened: the CEL layer decides it from measured evaluation time (per expression, per
   * request, a waiter's round, the room's CEL time), so instant refusals (too long, invalid) and the time a
   * body takes to arrive never count.
   */
  async function penalized(key: string, now: number, c: Context, next: Next) {
    const p = celPenalty.get(key);
    if (p && now < p.until) {
      const retryAfterMs = p.until - now;
      return c.res = toErrorResponse(
        new ApiError(
          "rate_limited",
          `this token's expressions keep hitting the CEL evaluation limit; retry in ${retryAfterMs} ms`,
          { retry_after_ms: retryAfterMs },
        ),
      );
    }
    const cel = new CelBudget(eng.limits);
    c.set("cel", cel);
    await next();
    if (!cel.struck) return;
    const at = eng.now(); // a wait can end with cel_limit long after it began
    const hits = (celPenalty.get(key)?.hits ?? []).filter((t) => at - t < CEL_PENALTY_MS);
    hits.push(at);
    celPenalty.set(key, { hits, until: hits.length >= 2 ? at + CEL_PENALTY_MS : 0 });
  }
}

/** Tokens are keyed by their hash (the raw secret is not kept); anonymous calls by client address. */
function clientKey(authorization: string | undefined, env: unknown): string {
  const t = bearer(authorization);
  if (t) return `t:${hashToken(t)}`;
  const addr = (env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname;
  return `a:${addr ?? "unknown"}`;
}

/** Drops buckets that have refilled completely: they hold no information. */
function sweep(buckets: Map<string, Bucket>, now: number, rate: number, burst: number): void {
  for (const [k, b] of buckets) {
    if (b.tokens + ((now - b.at) / 1000) * rate >= burst) buckets.delete(k);
  }
}
