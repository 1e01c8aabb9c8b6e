/**
 * @module routes/http — the HTTP plumbing every route shares: body parsing (JSON whatever the
 * Content-Type, with the size limit), body and query validation with the schemas of wire.ts, the request's
 * Op for the engine, `compact=true`, and JSON responses.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { bearer } from "../auth.ts";
import { ApiError, fromZod, JSON_TYPE, jsonText } from "../errors.ts";
import type { Engine } from "../engine/engine.ts";
import type { Op } from "../engine/op.ts";

export type AppEnv = { Variables: { eng: Engine; requestId: string } };
export type Ctx = Context<AppEnv>;

/** Reads the body as text and parses JSON (curl -d sends form-encoded headers with a JSON body). */
export async function readJson(c: Ctx, opts: { optional?: boolean; max?: number } = {}): Promise<unknown> {
  const max = opts.max ?? c.get("eng").limits.maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > max) throw tooLarge(max);
  const text = (await readCapped(c.req.raw, max)).trim();
  if (text === "") {
    if (opts.optional) return {};
    throw new ApiError("invalid_json", "the request body is empty; send a JSON object");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError("invalid_json", `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new ApiError(
      "invalid_body",
      `the request body must be a JSON object, got ${
        v === null ? "null" : Array.isArray(v) ? "an array" : typeof v
      }`,
    );
  }
  return v;
}

/** Reads at most `max` bytes; a longer body (chunked or lying about its length) is refused mid-stream. */
async function readCapped(req: Request, max: number): Promise<string> {
  if (!req.body) return "";
  // a declared length (already checked against max; HTTP/1.1 framing holds the body to it) is read in one
  // op, without a stream reader: a few µs less on every request with a body
  if (req.headers.has("content-length")) {
    return await req.text().catch((e) => {
      throw new ApiError("bad_request", `the request body could not be read: ${(e as Error).message}`);
    });
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read().catch((e) => {
      // the client went away before sending the whole body: not a server error
      throw new ApiError("bad_request", `the request body could not be read: ${(e as Error).message}`);
    });
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  const buf = new Uint8Array(n);
  let o = 0;
  for (const ch of chunks) buf.set(ch, o), o += ch.byteLength;
  return new TextDecoder().decode(buf);
}

function tooLarge(max: number) {
  return new ApiError("payload_too_large", `the request body exceeds ${max} bytes`, { limit: max });
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
  const op: Op = blocking ? { token: token(c), signal: c.req.raw.signal } : { token: token(c) };
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

/** Strips null, undefined and empty strings, arrays and objects (the `compact=true` query). */
export function compact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(compact);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const y = compact(x);
      if (y === null || y === undefined || y === "") continue;
      if (Array.isArray(y) && y.length === 0) continue;
      if (typeof y === "object" && !Array.isArray(y) && Object.keys(y as object).length === 0) continue;
      out[k] = y;
    }
    return out;
  }
  return v;
}

export function send(c: Ctx, body: unknown, status = 200): Response {
  const out = c.req.query("compact") === "true" ? compact(body) : body;
  return new Response(jsonText(out), { status, headers: { "content-type": JSON_TYPE } });
}
