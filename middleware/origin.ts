/**
 * @module middleware/origin — requests a browser was tricked into sending never act: a mutation from a page
 * of another origin (`Origin` neither this server's nor in `SYNC_ALLOWED_ORIGINS`, or `Sec-Fetch-Site:
 * cross-site`) and, on a loopback-bound server, any request naming a foreign `Host` (DNS rebinding) are
 * `403 forbidden_origin`. Clients that are not browsers send neither header and pass.
 */
import type { MiddlewareHandler } from "hono";
import { type HttpPolicy, isLoopbackHost } from "../config.ts";
import { ApiError, toErrorResponse } from "../errors.ts";

/** As a server bound to loopback with no settings: no foreign origins, loopback Host names only. */
export const DEFAULT_HTTP_POLICY: HttpPolicy = { allowedOrigins: [], allowedHosts: [] };

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** Host headers already accepted (one or two in practice): the check costs a Set lookup per request */
const HOSTS_KEPT = 64;

export function originGuard(policy: HttpPolicy): MiddlewareHandler {
  const origins = new Set(policy.allowedOrigins);
  const hosts = policy.allowedHosts ? new Set(policy.allowedHosts) : null;
  const accepted = new Set<string>();
  const refuse = (c: Parameters<MiddlewareHandler>[0], message: string) =>
    Promise.resolve(c.res = toErrorResponse(new ApiError("forbidden_origin", message)));
  return (c, next) => {
    const host = c.req.header("host");
    if (hosts && host !== undefined && !accepted.has(host)) {
      if (!isKnownHost(host, hosts)) {
        return refuse(
          c,
          `this server listens on loopback and answers only loopback Host names, not ${
            JSON.stringify(host)
          } (SYNC_ALLOWED_HOSTS adds names)`,
        );
      }
      if (accepted.size < HOSTS_KEPT) accepted.add(host);
    }
    if (SAFE.has(c.req.method)) return next();
    if (c.req.header("sec-fetch-site") === "cross-site") {
      return refuse(c, "a page of another site may not change anything here (Sec-Fetch-Site: cross-site)");
    }
    const o = c.req.header("origin");
    if (o !== undefined && !origins.has(o) && !isSameOrigin(o, host)) {
      return refuse(
        c,
        `a page of origin ${
          JSON.stringify(o)
        } may not change anything here (SYNC_ALLOWED_ORIGINS adds origins)`,
      );
    }
    return next();
  };
}

/** `host` or `host:port` with a loopback name or address, or a listed name. */
function isKnownHost(host: string, listed: ReadonlySet<string>): boolean {
  const h = host.toLowerCase();
  const name = h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d*$/, "");
  return isLoopbackHost(name) || listed.has(name) || listed.has(h);
}

/** The page's origin is this server: same host and port as the request's `Host` (any proxy's scheme). */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false; // "null" (sandboxed pages, file:) and other non-URLs
  }
}
