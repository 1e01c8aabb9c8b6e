/**
 * @module middleware/rate_limit — a token bucket per bearer token (per client address without one):
 * `rateLimitPerSec` refill, `rateLimitBurst` capacity; over it, `429 rate_limited` with `Retry-After`.
 * Time comes from the engine's clock so tests can move it. Operational endpoints are never limited.
 */
import type { Context, MiddlewareHandler, Next } from "hono";
import { bearer, hashToken } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { Engine } from "../engine/engine.ts";

type Bucket = { tokens: number; at: number };

const EXEMPT = new Set(["/healthz", "/metrics"]);
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
      return Promise.resolve(
        c.res = new Response(JSON.stringify(e.toBody()), {
          status: e.status,
          headers: {
            "content-type": "application/json; charset=utf-8",
            "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
          },
        }),
      );
    }
    b.tokens -= 1;
    return penalized(key, now, c, next);
  };

  /**
   * An expression cut off by the CEL limit spent its whole budget on the one JS thread. A token that does
   * it twice within a second waits out a penalty second, so a few clients cannot starve every other room
   * (even with the request rate limit off). Instant refusals (too long, invalid) do not count.
   */
  async function penalized(key: string, now: number, c: Context, next: Next) {
    const p = celPenalty.get(key);
    if (p && now < p.until) {
      return c.res = limited(p.until - now, "this token's expressions keep hitting the CEL evaluation limit");
    }
    const t0 = performance.now();
    await next();
    if (c.res.status !== 400 || c.res.headers.get("x-error-code") !== "cel_limit") return;
    if (performance.now() - t0 < eng.limits.celTimeoutMs / 2) return;
    const hits = (p?.hits ?? []).filter((t) => now - t < CEL_PENALTY_MS);
    hits.push(now);
    celPenalty.set(key, { hits, until: hits.length >= 2 ? now + CEL_PENALTY_MS : 0 });
  }
}

const CEL_PENALTY_MS = 1000;

function limited(retryAfterMs: number, why: string): Response {
  const e = new ApiError("rate_limited", `${why}; retry in ${retryAfterMs} ms`, {
    retry_after_ms: retryAfterMs,
  });
  return new Response(JSON.stringify(e.toBody()), {
    status: e.status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
    },
  });
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
