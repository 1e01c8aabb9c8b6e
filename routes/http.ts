/**
 * @module routes/http — the HTTP plumbing every route shares: the one JSON body reader (size, time,
 * nesting and shape limits), body and query validation with the schemas of wire.ts, the request's
 * Op for the engine, `compact=true`, and JSON responses.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { bearer } from "../auth.ts";
import type { CelBudget } from "../cel.ts";
import { COMPACT_MAX_DEPTH } from "../config.ts";
import { ApiError, fromZod, JSON_TYPE, jsonText } from "../errors.ts";
import { checkJsonValue, checkTextDepth } from "../json_shape.ts";
import type { Engine } from "../engine/engine.ts";
import type { Op } from "../engine/op.ts";

/** `cel`: the request's CEL budget (middleware/rate_limit.ts makes it and reads it back). */
export type AppEnv = { Variables: { eng: Engine; requestId: string; cel?: CelBudget } };
export type Ctx = Context<AppEnv>;

/**
 * The one reader of JSON bodies (REST, MCP, import): read as text whatever the Content-Type (curl -d sends
 * form-encoded headers with a JSON body), counted while it streams (413) and within the body timeout (408),
 * its nesting measured before it is parsed (too_deep), then finite numbers and no `__proto__` keys.
 */
export async function readJson(
  c: Ctx,
  opts: { optional?: boolean; max?: number; array?: string } = {},
): Promise<unknown> {
  const limits = c.get("eng").limits;
  const max = opts.max ?? limits.maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > max) throw tooLarge(max);
  const text = (await readCapped(c.req.raw, max, limits.bodyTimeoutMs)).trim();
  if (text === "") {
    if (opts.optional) return {};
    throw new ApiError("invalid_json", "the request body is empty; send a JSON object");
  }
  checkTextDepth(text, limits.maxJsonDepth);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError("invalid_json", `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(v) && opts.array) throw new ApiError("invalid_body", opts.array, { field: "body" });
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new ApiError(
      "invalid_body",
      `the request body must be a JSON object, got ${
        v === null ? "null" : Array.isArray(v) ? "an array" : typeof v
      }`,
    );
  }
  checkJsonValue(v, "", limits.maxJsonDepth);
  return v;
}

/**
 * Reads at most `max` bytes within `timeoutMs`: a longer body (chunked or lying about its length) is refused
 * mid-stream (413), a body that stops arriving is answered 408 and the request released. (The connection
 * itself stays Deno.serve's: it offers no way to close it; see reference/security.md.)
 */
async function readCapped(req: Request, max: number, timeoutMs: number): Promise<string> {
  if (!req.body) return "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(timeoutMs)), timeoutMs);
  });
  try {
    // a declared length (already checked against max; HTTP/1.1 framing holds the body to it) is read in one
    // op, without a stream reader: a few µs less on every request with a body
    if (req.headers.has("content-length")) {
      const text = req.text();
      text.catch(() => {}); // still pending when the timeout answered: it fails once the request is dropped
      return await Promise.race([text, expired]).catch((e) => {
        throw e instanceof ApiError ? e : unreadable(e);
      });
    }
    return await readChunks(req.body.getReader(), max, expired);
  } finally {
    clearTimeout(timer);
  }
}

async function readChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  max: number,
  expired: Promise<never>,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]).catch((e) => {
        // the client went away before sending the whole body: not a server error
        throw e instanceof ApiError ? e : unreadable(e);
      });
      if (done) break;
      n += value.byteLength;
      if (n > max) throw tooLarge(max);
      chunks.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  const buf = new Uint8Array(n);
  let o = 0;
  for (const ch of chunks) buf.set(ch, o), o += ch.byteLength;
  return new TextDecoder().decode(buf);
}

function tooLarge(max: number) {
  return new ApiError("payload_too_large", `the request body exceeds ${max} bytes`, { limit: max });
}

function timedOut(ms: number) {
  // the rest of the body may still come: the connection cannot carry another request
  return new ApiError("request_timeout", `the request body did not arrive within ${ms} ms`, { limit: ms }, {
    headers: { connection: "close" },
  });
}

function unreadable(e: unknown) {
  return new ApiError("bad_request", `the request body could not be read: ${(e as Error).message}`);
}

/** Validates a body against a strict schema; errors name the field. */
export function parseBody<T extends z.ZodType>(schema: T, v: unknown): z.infer<T> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  throw fromZod(r.error, "invalid_body");
}

/** Validates the query string (the last value of a repeated name; `compact` is the response's). */
export function parseQuery<T extends z.ZodType>(c: Ctx, schema: T): z.infer<T> {
  const q: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.req.queries())) q[k] = v[v.length - 1];
  delete q.compact;
  const r = schema.safeParse(q);
  if (r.success) return r.data;
  throw fromZod(r.error, "invalid_query");
}

export function token(c: Ctx): string | undefined {
  return bearer(c.req.header("authorization"));
}

/**
 * The request as the engine sees it. Only blocking calls get the abort signal: touching request.signal
 * makes Deno abort it (a DOMException with a stack) after every response, ~6 % of a plain invocation's CPU.
 */
export function opOf(c: Ctx, blocking = false): Op {
  const cel = c.get("cel");
  const op: Op = blocking ? { token: token(c), signal: c.req.raw.signal, cel } : { token: token(c), cel };
  if (c.req.method === "HEAD") op.head = true; // Hono answers HEAD with the GET route
  const tp = traceparent(c);
  if (tp) op.traceparent = tp;
  return op;
}

/** W3C trace context: `version-traceid-parentid-flags`, lower-case hex, ids not all zeros. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The request's `traceparent` header when it is valid (version 00 exactly; a later version's first four
 * fields, as the W3C spec says to read it); a malformed one is ignored, as the spec asks.
 */
export function traceparent(c: Ctx): string | undefined {
  const h = c.req.header("traceparent")?.trim();
  if (!h) return undefined;
  const m = TRACEPARENT.exec(h);
  if (!m || m[1] === "ff" || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  if (m[1] === "00" && m[5] !== undefined) return undefined;
  return h.slice(0, 55);
}

/**
 * Fields whose value is user data: whatever a participant stored or sent — state values (`value`, the
 * `state` and `views` maps of a context, `resolved_value`, `changed_views`), an action's `params` and
 * `writes` (templates, as registered, and the writes of an invocation), `merge`, message `body`, `meta`,
 * a view's `render`, a refusal's `detail` and `current`. `compact` sends them exactly as they are: a task's
 * `"claimed_by": null` is what an action's `if` tests.
 */
export const USER_DATA_FIELDS: ReadonlySet<string> = new Set([
  "value",
  "resolved_value",
  "state",
  "views",
  "changed_views",
  "params",
  "writes",
  "merge",
  "body",
  "meta",
  "render",
  "detail",
  "current",
]);

/**
 * `compact=true` (and every MCP result): strips null, undefined and empty strings, arrays and objects from
 * the envelope — the objects and lists the server builds around user data — and never inside user data
 * (USER_DATA_FIELDS), which goes as stored. Below COMPACT_MAX_DEPTH a value is sent as it is stored, so no
 * stored value can exhaust the stack.
 */
export function compact(v: unknown, depth = 0): unknown {
  if (depth > COMPACT_MAX_DEPTH) return v;
  if (Array.isArray(v)) return v.map((x) => compact(x, depth + 1));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (USER_DATA_FIELDS.has(k)) {
        if (x !== undefined) out[k] = x;
        continue;
      }
      const y = compact(x, depth + 1);
      if (y === null || y === undefined || y === "") continue;
      if (Array.isArray(y) && y.length === 0) continue;
      if (typeof y === "object" && !Array.isArray(y) && Object.keys(y as object).length === 0) continue;
      out[k] = y;
    }
    return out;
  }
  return v;
}

/**
 * The JSON response. When a CEL limit cut a listing short while serving the request (entries hidden,
 * actions unavailable), it says so: `_cel_budget_exhausted: true` in an object body and, for any body,
 * the header `x-cel-budget-exhausted: true`.
 */
export function send(c: Ctx, body: unknown, status = 200): Response {
  const headers: Record<string, string> = { "content-type": JSON_TYPE };
  if (c.get("cel")?.exhausted) {
    headers["x-cel-budget-exhausted"] = "true";
    body = withBudgetFlag(body);
  }
  const out = c.req.query("compact") === "true" ? compact(body) : body;
  return new Response(jsonText(out), { status, headers });
}

/** `_cel_budget_exhausted: true` added to an object body (arrays carry the header only). */
export function withBudgetFlag(body: unknown): unknown {
  return body !== null && typeof body === "object" && !Array.isArray(body)
    ? { ...body, _cel_budget_exhausted: true }
    : body;
}
