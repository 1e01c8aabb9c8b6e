/**
 * Shared fixtures of the adversarial suite (issue 12): error assertions, MCP calls, raw TCP requests for
 * clients that misbehave, SSE feeds, nested/non-finite JSON builders, process memory, and bounded waits.
 * Every helper talks to a real server over HTTP; nothing here reaches into the engine.
 */
import assert from "node:assert/strict";
import { client, http, type Res } from "../_server.ts";

export { client, FakeClock, http, type Res, startServer } from "../_server.ts";
export { type ServerProc, spawnServer } from "../robust/_proc.ts";

/** fast-check settings: seeded so a failure reproduces (`ADV_SEED=… deno test …`), few runs so files stay fast. */
export const SEED = Number(Deno.env.get("ADV_SEED") ?? 20260112);
export function fcOpts(numRuns: number) {
  return { seed: SEED, numRuns: Number(Deno.env.get("ADV_RUNS") ?? numRuns), endOnFailure: true };
}

// ── assertions ──────────────────────────────────────────────────────────────────────────────────

/** A refusal: the status, the error code, a human message, and the details asked for. */
export function refused(r: Res, status: number, code: string, details: Record<string, unknown> = {}): void {
  const what = `${status} ${code} expected, got ${r.status} ${r.text.slice(0, 400)}`;
  assert.equal(r.status, status, what);
  assert.equal(r.json?.error, code, what);
  assert.equal(typeof r.json?.message, "string", what);
  for (const [k, v] of Object.entries(details)) assert.deepEqual(r.json[k], v, `${k}: ${what}`);
}

/** A 2xx answer (with the body in the failure message). */
export function ok(r: Res, what = "request"): void {
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text.slice(0, 400)}`);
}

/** A client mistake is never a 5xx, and every error is `{error, message}`. */
export function notServerError(r: Res, what = "request"): void {
  assert.ok(r.status < 500, `${what} answered ${r.status}: ${r.text.slice(0, 400)}`);
  if (r.status >= 400) {
    assert.equal(typeof r.json?.error, "string", `${what}: error body ${r.text.slice(0, 200)}`);
    assert.equal(typeof r.json?.message, "string", `${what}: error body ${r.text.slice(0, 200)}`);
  }
}

/** No response text carries the secret. */
export function noLeak(secret: string, ...texts: (string | Res | undefined)[]): void {
  for (const t of texts) {
    const s = typeof t === "string" ? t : t?.text ?? "";
    assert.ok(!s.includes(secret), `leaked ${secret}: ${s.slice(0, 500)}`);
  }
}

// ── bounded waiting ─────────────────────────────────────────────────────────────────────────────

/** Rejects when `p` takes longer than `ms` (a hang detector, not a performance figure). */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request that gives up after `ms`: the fetch is aborted, so nothing is left open. */
export async function httpWithin(
  ms: number,
  base: string,
  method: string,
  path: string,
  o: Parameters<typeof http>[3] = {},
): Promise<Res> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return await http(base, method, path, { ...o, signal: ac.signal });
  } catch (e) {
    if (ac.signal.aborted) throw new Error(`${method} ${path}: no answer within ${ms} ms (server stalled?)`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until `cond` holds (for eventual conditions only), failing after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One Prometheus sample from /metrics (0 when absent). */
export async function metric(base: string, name: string): Promise<number> {
  const m = await http(base, "GET", "/metrics");
  const hit = new RegExp(`^${name} (\\S+)$`, "m").exec(m.text);
  return hit ? Number(hit[1]) : 0;
}

// ── MCP ─────────────────────────────────────────────────────────────────────────────────────────

const MCP_HEADERS = { accept: "application/json, text/event-stream", "content-type": "application/json" };

/** A raw POST /mcp with the given body text (batches, hostile JSON). */
export function mcpRaw(base: string, token: string | undefined, raw: string, signal?: AbortSignal) {
  return http(base, "POST", "/mcp", { token, raw, headers: MCP_HEADERS, signal });
}

export type McpResult = { res: Res; isError: boolean; body: Record<string, unknown> | undefined };

/** One `tools/call` (stateless transport: no initialize needed); the tool's JSON text parsed. */
export async function mcpCall(
  base: string,
  token: string | undefined,
  name: string,
  args: unknown,
  signal?: AbortSignal,
): Promise<McpResult> {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name, arguments: args },
  });
  return mcpResult(await mcpRaw(base, token, body, signal));
}

export function mcpResult(res: Res): McpResult {
  const text = res.json?.result?.content?.[0]?.text;
  let body: Record<string, unknown> | undefined;
  try {
    body = typeof text === "string" ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { res, isError: res.json?.result?.isError === true, body };
}

/** The JSON-RPC text of one tools/call, for hand-built (raw) variants. */
export function mcpCallText(name: string, argsRaw: string): string {
  return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${
    JSON.stringify(name)
  },"arguments":${argsRaw}}}`;
}

// ── hostile JSON ────────────────────────────────────────────────────────────────────────────────

/** Nesting depth of a JSON text: `0` is 0, `[]` and `{}` are 1, `[[0]]` is 2 (brackets inside strings ignored). */
export function jsonDepth(text: string): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "[" || ch === "{") max = Math.max(max, ++depth);
    else if (ch === "]" || ch === "}") depth--;
  }
  return max;
}

/** A JSON text of nested arrays with depth `d` (`nested(1)` is `[0]`). */
export function nested(d: number, leaf = "0"): string {
  return "[".repeat(d) + leaf + "]".repeat(d);
}

/** A JSON text of nested objects with depth `d` (`{"a":{"a":…0}}`). */
export function nestedObj(d: number, leaf = "0"): string {
  return '{"a":'.repeat(d) + leaf + "}".repeat(d);
}

/**
 * Fills `@V@` in a JSON template with a nested value so that the whole text has nesting depth `total`.
 * The template must hold `@V@` exactly once, in a value position.
 */
export function atDepth(template: string, total: number, make: (d: number) => string = nested): string {
  const at = template.indexOf("@V@");
  assert.ok(at >= 0, "template without @V@");
  const around = jsonDepth(template.slice(0, at) + "0" + closers(template.slice(0, at)));
  const text = template.replace("@V@", make(total - around));
  assert.equal(jsonDepth(text), Math.max(total, jsonDepth(template.replace("@V@", "0"))));
  return text;
}

/** The closing brackets that complete a JSON prefix (to measure the depth around a placeholder). */
function closers(prefix: string): string {
  const stack: string[] = [];
  let inString = false;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "[") stack.push("]");
    else if (ch === "{") stack.push("}");
    else if (ch === "]" || ch === "}") stack.pop();
  }
  return stack.reverse().join("");
}

/** Number literals that JSON.parse turns into ±Infinity. */
export const NON_FINITE = ["1e400", "-1e999", "1e309", "-2e308", "123456789e301"];

/** Control characters a state key must not hold (U+0000–U+001F and U+007F). */
export const CONTROL_CHARS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  "\u007f",
];

/** Names every JS object inherits (own-property lookups must never see them). */
export const INHERITED = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"];

// ── raw TCP ─────────────────────────────────────────────────────────────────────────────────────

export type RawResponse = { status: number; headers: Record<string, string>; body: string; closed: boolean };

const enc = new TextEncoder();

/** A connection to the server's port, for requests a well-behaved client would never send. */
export async function connect(base: string): Promise<Deno.TcpConn> {
  const u = new URL(base);
  return await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
}

export async function send(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}

/**
 * Reads one HTTP/1.1 response (content-length or chunked body; otherwise until close) within `ms`.
 * `closed` tells whether the server closed the connection after it.
 */
export async function readResponse(conn: Deno.Conn, ms: number): Promise<RawResponse> {
  const dec = new TextDecoder();
  let buf = new Uint8Array(0);
  let eof = false;
  const end = Date.now() + ms;
  const more = async () => {
    const chunk = new Uint8Array(65536);
    const left = end - Date.now();
    if (left <= 0) throw new Error(`no complete response within ${ms} ms`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(chunk),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
    ]).finally(() => clearTimeout(timer));
    if (n === "timeout") throw new Error(`no complete response within ${ms} ms`);
    if (n === null) {
      eof = true;
      return;
    }
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  };
  const headEnd = () => dec.decode(buf).indexOf("\r\n\r\n");
  while (headEnd() < 0) {
    if (eof) throw new Error(`connection closed before a response: ${JSON.stringify(dec.decode(buf))}`);
    await more();
  }
  const text0 = dec.decode(buf);
  const he = text0.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = text0.slice(0, he).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const headBytes = enc.encode(text0.slice(0, he + 4)).length;
  const bodyBytes = () => buf.subarray(headBytes);
  let body: string;
  if (headers["content-length"] !== undefined) {
    const len = Number(headers["content-length"]);
    while (bodyBytes().length < len && !eof) await more();
    body = dec.decode(bodyBytes().subarray(0, len));
  } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    while (!/(^|\r\n)0\r\n\r\n/.test(dec.decode(bodyBytes())) && !eof) await more();
    body = dechunk(dec.decode(bodyBytes()));
  } else {
    while (!eof) await more();
    body = dec.decode(bodyBytes());
  }
  // did the server close the connection after answering? (a short, bounded look)
  let closed = eof;
  if (!closed) {
    try {
      const probe = new Uint8Array(1);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        conn.read(probe),
        new Promise<"open">((res) => timer = setTimeout(() => res("open"), Math.min(1000, ms))),
      ]).finally(() => clearTimeout(timer));
      closed = r === null;
    } catch {
      closed = true;
    }
  }
  return { status, headers, body, closed };
}

function dechunk(s: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const nl = s.indexOf("\r\n", i);
    if (nl < 0) return out;
    const n = parseInt(s.slice(i, nl), 16);
    if (!n) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

/** The head of a request with a body (`content-length` given, or chunked when it is undefined). */
export function requestHead(
  base: string,
  method: string,
  path: string,
  o: { length?: number; headers?: Record<string, string>; host?: string } = {},
): string {
  const u = new URL(base);
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${o.host ?? u.host}`];
  for (const [k, v] of Object.entries(o.headers ?? {})) lines.push(`${k}: ${v}`);
  lines.push(o.length === undefined ? "transfer-encoding: chunked" : `content-length: ${o.length}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/** One chunk of a chunked body. */
export function chunk(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  const head = enc.encode(bytes.length.toString(16) + "\r\n");
  const out = new Uint8Array(head.length + bytes.length + 2);
  out.set(head);
  out.set(bytes, head.length);
  out.set(enc.encode("\r\n"), head.length + bytes.length);
  return out;
}

export const MiB = 1024 * 1024;

/**
 * Streams `total` bytes as a chunked body (a JSON string that never ends) until the server answers, and
 * returns that answer with how much had been sent by then.
 */
export async function chunkedFlood(
  base: string,
  path: string,
  total: number,
  headers: Record<string, string> = {},
) {
  const conn = await connect(base);
  let sent = 0;
  let answered = false;
  try {
    await send(
      conn,
      requestHead(base, "POST", path, { headers: { "content-type": "application/json", ...headers } }),
    );
    const block = chunk(new Uint8Array(MiB).fill(0x61));
    const writer = (async () => {
      await send(conn, chunk('{"id":"flood","x":"'));
      while (sent < total && !answered) {
        await send(conn, block);
        sent += MiB;
      }
      if (!answered) await send(conn, chunk('"}')), await send(conn, "0\r\n\r\n");
    })().catch(() => {/* the server stopped reading: expected once it refused */});
    try {
      const res = await readResponse(conn, 60_000);
      return { res, sentWhenAnswered: sent };
    } finally {
      answered = true;
      conn.close(); // a write blocked on a server that stopped reading fails now
      await writer;
    }
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** A complete request over raw TCP (any Host header, any framing) and its response. */
export async function rawRequest(
  base: string,
  method: string,
  path: string,
  o: { body?: string; headers?: Record<string, string>; host?: string; ms?: number } = {},
): Promise<RawResponse & { json: Record<string, unknown> | undefined }> {
  const conn = await connect(base);
  try {
    const body = o.body ?? "";
    const head = requestHead(base, method, path, {
      length: enc.encode(body).length,
      host: o.host,
      headers: { connection: "close", ...o.headers },
    });
    await send(conn, head + body);
    const r = await readResponse(conn, o.ms ?? 10_000);
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(r.body);
    } catch {
      json = undefined;
    }
    return { ...r, json };
  } finally {
    conn.close();
  }
}

// ── server-sent events ──────────────────────────────────────────────────────────────────────────

export type SseFrame = { id?: string; event?: string; data?: string };

/** An open `/events` feed: frames as they arrive, and whether the server ended the stream. */
export async function openFeed(base: string, path: string, token: string) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  const frames: SseFrame[] = [];
  let ended = false;
  let failed: unknown;
  if (!res.body) throw new Error(`feed ${path}: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
          const frame: SseFrame = {};
          for (const line of buf.slice(0, end).split("\n")) {
            if (line.startsWith(":")) continue;
            const i = line.indexOf(":");
            const field = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, "");
            if (field === "id" || field === "event" || field === "data") frame[field] = v;
          }
          buf = buf.slice(end + 2);
          if (frame.event || frame.data) frames.push(frame);
        }
      }
    } catch (e) {
      failed = e;
    } finally {
      ended = true;
    }
  })();
  return {
    status: res.status,
    frames,
    get ended() {
      return ended;
    },
    get failed() {
      return failed;
    },
    /** Every data payload received so far, as one string (for leak checks). */
    text: () => frames.map((f) => `${f.event ?? ""} ${f.data ?? ""}`).join("\n"),
    /** Waits (bounded) until a frame matches. */
    async waitFor(pred: (f: SseFrame) => boolean, ms: number, what: string): Promise<SseFrame> {
      await until(() => frames.some(pred) || ended, ms, what);
      const f = frames.find(pred);
      if (!f) throw new Error(`${what}: the feed ended first; frames: ${JSON.stringify(frames)}`);
      return f;
    },
    async waitEnded(ms: number, what: string): Promise<void> {
      await until(() => ended, ms, what);
    },
    async close(): Promise<void> {
      await reader.cancel().catch(() => {});
      await pump;
    },
  };
}

// ── processes ───────────────────────────────────────────────────────────────────────────────────

/** Resident memory of a process from /proc/<pid>/status, in MiB: `VmRSS` now, `VmHWM` its peak. */
export async function memoryMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/** A temp directory for a spawned server's database, removed by `await using`. */
export async function tempDir(prefix = "agent-sync-adv-") {
  const dir = await Deno.makeTempDir({ prefix });
  return {
    dir,
    db: `${dir}/sync.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * `main.ts` as a process with the environment it would get from a user: none of HOST, PORT or the SYNC_*
 * settings are inherited; `env` adds some (PORT=0 so tests pick a free port). Resolves once it listens,
 * with the host it says it listens on.
 */
export async function spawnPlain(dbPath: string, env: Record<string, string> = {}) {
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      k !== "HOST" && k !== "PORT" && !k.startsWith("SYNC_")
    ),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    clearEnv: true,
    env: { ...inherited, PORT: "0", SYNC_DB_URL: `file:${dbPath}`, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const pumps = Promise.all([child.stdout, child.stderr].map(async (s) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) out += c;
  }));
  const status = child.status.then(async (s) => (await pumps, s));
  let exited = false;
  status.then(() => exited = true);
  const kill = async () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await status;
  };
  try {
    await until(() => /listening on http:\/\/\S+:\d+/.test(out) || exited, 30_000, "server start");
  } catch (e) {
    await kill();
    throw e;
  }
  const m = /listening on http:\/\/(\S+):(\d+)/.exec(out);
  if (!m) {
    await kill();
    throw new Error(`server exited before listening:\n${out}`);
  }
  return {
    host: m[1],
    port: Number(m[2]),
    base: `http://127.0.0.1:${m[2]}`,
    pid: child.pid,
    output: () => out,
    kill,
    [Symbol.asyncDispose]: kill,
  };
}

// ── rooms ───────────────────────────────────────────────────────────────────────────────────────

/**
 * A list of integers for `_shared.<key>` that makes `heavy(key)` cost about 10 ms of CEL on this machine kind
 * (250² comprehension steps, well under the step limit): above the 5 ms at which a waiter counts as
 * expensive, and far enough under the 50 ms per-expression budget that a loaded machine rarely cuts one
 * off — so only a bound on the *total* work stops many of them.
 */
export function heavyList(n = 250): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** An expression over `_shared.<key>` (see heavyList); true unless `tail` says otherwise. */
export function heavy(key = "l", tail = "true"): string {
  return `state._shared.${key}.all(a, state._shared.${key}.all(b, a + b >= 0)) && ${tail}`;
}

/** A minimal importable snapshot (`POST /rooms/import`); `extra` replaces whole sections. */
export function snapshot(o: { id?: string; agents?: string[] } & Record<string, unknown> = {}) {
  const { agents = [], ...extra } = o;
  const ts = "2026-01-01T00:00:00.000Z";
  return {
    format: "agent-sync.room/v1",
    room: { id: "source", meta: {}, created_at: ts, seq: 1 },
    agents: agents.map((id) => ({
      id,
      name: id,
      role: "agent",
      meta: {},
      grants: [],
      joined_at: ts,
      status: "active",
      last_heartbeat: null,
      last_seen_seq: 0,
    })),
    state: [],
    actions: [],
    views: [],
    messages: [],
    audit: [],
    ticks: {},
    ...extra,
  };
}

/** `n` messages (bodies "m1", "m2", …) as a snapshot holds them, for importing a room with a long log. */
export function snapshotMessages(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    from: "x",
    kind: "chat",
    body: `m${i + 1}`,
    to: null,
    reply_to: null,
    claimed_by: null,
    claimed_at: null,
    ts: "2026-01-01T00:00:00.000Z",
  }));
}

/**
 * An attacker's room whose `_shared.l` stays empty while expensive expressions are registered (cheap to
 * register), until `makeHeavy()` fills it (see heavyList).
 */
export async function heavyRoom(base: string, id: string) {
  const c = client(base);
  const room = await c.createRoom(id);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: [] });
  const agent = await c.join(room.id, "eve");
  return {
    c,
    room,
    agent,
    makeHeavy: () =>
      c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: heavyList() }),
  };
}

/** An action with 50 `expr` writes of heavy(): one invocation multiplies the per-expression budget by 50. */
export const FIFTY_EXPR_WRITES = {
  id: "fifty",
  writes: Array.from(
    { length: 50 },
    (_, i) => ({ scope: "_shared", key: `e${i}`, expr: true, value: heavy() }),
  ),
};

/** The calm room's set-up: an agent and a `tick` action that increments `_shared.n`. */
export async function createCalmRoom(base: string) {
  const c = client(base);
  const room = await c.createRoom(`calm-${crypto.randomUUID().slice(0, 6)}`);
  const agent = await c.join(room.id, "calm");
  await c.ok(room.id, room.token, "_register_action", {
    id: "tick",
    writes: [{ scope: "_shared", key: "n", increment: 1 }],
  });
  return { id: room.id, agent };
}

/**
 * A calm room beside an attack: an agent increments a counter and reads it back until stopped; a request
 * unanswered after `requestMs` counts as a failure (a stalled server).
 */
export async function calmRoom(base: string, requestMs = 15_000) {
  const room = await createCalmRoom(base);
  const agent = room.agent;
  let stop = false;
  let n = 0;
  const problems: string[] = [];
  const loop = (async () => {
    while (!stop && problems.length === 0) {
      try {
        const r = await httpWithin(requestMs, base, "POST", `/rooms/${room.id}/actions/tick/invoke`, {
          token: agent,
          body: {},
        });
        if (r.status !== 200 || r.json.writes[0].value !== n + 1) {
          problems.push(`tick: ${r.status} ${r.text.slice(0, 200)}`);
          break;
        }
        n++;
        const ctx = await httpWithin(requestMs, base, "GET", `/rooms/${room.id}/context?only=state`, {
          token: agent,
        });
        if (ctx.status !== 200 || ctx.json.state._shared.n !== n) {
          problems.push(`context: ${ctx.status} ${ctx.text.slice(0, 200)}`);
        }
      } catch (e) {
        problems.push(String(e));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    /** Stops the loop; asserts every calm request was answered, correctly. */
    async stop(): Promise<number> {
      stop = true;
      await loop;
      assert.deepEqual(problems, [], "the calm room kept answering correctly");
      assert.ok(n >= 1, "the calm room completed requests during the attack");
      return n;
    },
  };
}
