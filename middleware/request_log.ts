/**
 * @module middleware/request_log — gives every request an id (the client's `X-Request-Id` if it is sane,
 * else a fresh one), echoes it in the response, and writes one structured JSON line per request when
 * `SYNC_LOG=requests`. Tokens and bodies are never logged.
 */
import type { MiddlewareHandler } from "hono";
import { routeLabel } from "./metrics.ts";

export type LogLine = Record<string, unknown>;
export type Logger = (line: LogLine) => void;

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const PROCESS_TAG = crypto.randomUUID().slice(0, 8);

export const jsonLogger: Logger = (line) => console.log(JSON.stringify(line));

export function requestLog(opts: { log?: Logger } = {}): MiddlewareHandler {
  let n = 0;
  return async (c, next) => {
    const given = c.req.header("x-request-id");
    const id = given && CLIENT_ID.test(given) ? given : `${PROCESS_TAG}-${(++n).toString(36)}`;
    c.set("requestId", id);
    const t0 = performance.now();
    try {
      await next();
    } finally {
      c.res.headers.set("x-request-id", id);
      opts.log?.({
        ts: new Date().toISOString(),
        level: c.res.status >= 500 ? "error" : "info",
        msg: "request",
        request_id: id,
        method: c.req.method,
        route: routeLabel(c),
        path: c.req.path.length > 300 ? c.req.path.slice(0, 300) + "…" : c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - t0) * 100) / 100,
      });
    }
  };
}
