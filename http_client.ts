/**
 * @module http_client — a small HTTP/1.1 client for the server's own POSTs (webhook deliveries): it connects
 * to the address it is handed (the one egress.ts checked, so the name is never resolved twice) and speaks
 * TLS to the URL's name; keep-alive connections are pooled per origin. Answers the status only; bounded
 * reads, one deadline per request. (fetch cannot be told which address to connect to for https.)
 */
import type { Target } from "./egress.ts";

export type PostRequest = { path: string; headers: Record<string, string>; body: Uint8Array };
export type PostResult = { status: number; reason: string };

/** A response body beyond this is not read: the connection is closed instead of reused. */
const MAX_DISCARD = 1 << 20;
/** Idle connections older than this are closed rather than reused (servers drop idle ones after ~5 s). */
const IDLE_MS = 4000;
const MAX_IDLE = 64;

type Idle = { conn: Deno.Conn; since: number };

export class HttpClient {
  readonly #caCerts?: string[];
  readonly #idle = new Map<string, Idle[]>();
  #idleCount = 0;
  #open = new Set<Deno.Conn>();

  constructor(o: { caCerts?: string[] } = {}) {
    this.#caCerts = o.caCerts;
  }

  /**
   * POSTs `req` to `origin` (`scheme://host:port`) over an idle connection, or a new one to the target
   * `connectTo()` gives (called only then). Rejects on a network error or when `timeoutMs` passes.
   */
  async post(
    origin: string,
    connectTo: () => Promise<Target>,
    req: PostRequest,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<PostResult> {
    const deadline = performance.now() + timeoutMs;
    let timedOut = false;
    let current: Deno.Conn | undefined;
    const abort = () => current?.close();
    const timer = setTimeout(() => (timedOut = true, abort()), timeoutMs);
    signal?.addEventListener("abort", abort);
    try {
      const bytes = request(req);
      // an idle connection the server closed meanwhile fails before any answer: try a fresh one once
      for (let reused = this.#take(origin); reused; reused = this.#take(origin)) {
        current = reused;
        try {
          return await this.#exchange(origin, reused, bytes);
        } catch (e) {
          this.#drop(reused);
          if (!(e instanceof Unanswered) || timedOut || signal?.aborted) throw e;
        }
      }
      const t = await connectTo();
      if (timedOut || signal?.aborted) throw new Error("aborted");
      const conn = await this.#connect(t, deadline, signal);
      current = conn;
      if (timedOut || signal?.aborted) throw new Error("aborted");
      try {
        return await this.#exchange(origin, conn, bytes);
      } catch (e) {
        this.#drop(conn);
        throw e;
      }
    } catch (e) {
      if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
      if (signal?.aborted) throw new Error("the server is shutting down");
      throw e instanceof Unanswered ? new Error(e.message) : e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    }
  }

  /** Closes every connection, idle or in use. */
  close(): void {
    for (const c of this.#open) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    this.#open.clear();
    this.#idle.clear();
    this.#idleCount = 0;
  }

  async #connect(t: Target, deadline: number, signal?: AbortSignal): Promise<Deno.Conn> {
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal?.addEventListener("abort", stop);
    const timer = setTimeout(stop, Math.max(0, deadline - performance.now()));
    try {
      const tcp = await Deno.connect({ hostname: t.address, port: t.port, signal: ac.signal });
      tcp.setNoDelay(true);
      this.#open.add(tcp);
      if (!t.tls) return tcp;
      this.#open.delete(tcp);
      const tls = await Deno.startTls(tcp, { hostname: t.servername, caCerts: this.#caCerts });
      this.#open.add(tls);
      return tls;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
    }
  }

  async #exchange(origin: string, conn: Deno.Conn, bytes: Uint8Array): Promise<PostResult> {
    let off = 0;
    try {
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } catch (e) {
      throw new Unanswered(`the connection failed while sending: ${(e as Error).message}`);
    }
    const r = await readResponse(conn);
    if (r.reusable) this.#put(origin, conn);
    else this.#drop(conn);
    return { status: r.status, reason: r.reason };
  }

  #take(origin: string): Deno.Conn | undefined {
    const list = this.#idle.get(origin);
    const now = performance.now();
    while (list?.length) {
      const it = list.pop()!;
      this.#idleCount--;
      if (now - it.since < IDLE_MS) return it.conn;
      this.#drop(it.conn);
    }
    return undefined;
  }

  #put(origin: string, conn: Deno.Conn): void {
    if (this.#idleCount >= MAX_IDLE) return this.#drop(conn);
    let list = this.#idle.get(origin);
    if (!list) this.#idle.set(origin, list = []);
    list.push({ conn, since: performance.now() });
    this.#idleCount++;
  }

  #drop(conn: Deno.Conn): void {
    this.#open.delete(conn);
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

/** The connection ended before any byte of an answer (a reused one the server had closed). */
class Unanswered extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder();

function request(req: PostRequest): Uint8Array {
  let head = `POST ${req.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${req.body.length}\r\n\r\n`;
  const h = enc.encode(head);
  const out = new Uint8Array(h.length + req.body.length);
  out.set(h);
  out.set(req.body, h.length);
  return out;
}

/** Bytes read from a connection, consumed from the front. */
class Input {
  buf = new Uint8Array(0);
  total = 0;
  constructor(readonly conn: Deno.Conn) {}

  /** Reads more; false at the end of the stream. */
  async more(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.total += n;
    const next = new Uint8Array(this.buf.length + n);
    next.set(this.buf);
    next.set(chunk.subarray(0, n), this.buf.length);
    this.buf = next;
    return true;
  }

  /** The bytes up to `sep` (removed with it), reading as needed; undefined at the end of the stream. */
  async until(sep: string, max: number): Promise<string | undefined> {
    const s = enc.encode(sep);
    for (let from = 0;;) {
      const at = indexOf(this.buf, s, from);
      if (at >= 0) {
        const text = dec.decode(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + s.length);
        return text;
      }
      if (this.buf.length > max) throw new Error("the answer's header is too long");
      from = Math.max(0, this.buf.length - s.length + 1);
      if (!(await this.more())) return undefined;
    }
  }

  /** Drops `n` bytes, reading as needed; false when the stream ended first. */
  async skip(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      n -= this.buf.length;
      this.buf = new Uint8Array(0);
      if (!(await this.more())) return false;
    }
    this.buf = this.buf.subarray(n);
    return true;
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Reads one response: its status, and whether the connection may carry another request. */
async function readResponse(conn: Deno.Conn): Promise<PostResult & { reusable: boolean }> {
  const input = new Input(conn);
  for (;;) {
    let head: string | undefined;
    try {
      head = await input.until("\r\n\r\n", 64 * 1024);
    } catch (e) {
      if (input.total === 0) throw new Unanswered(`the connection failed: ${(e as Error).message}`);
      throw e;
    }
    if (head === undefined) {
      if (input.total === 0) throw new Unanswered("the connection closed without an answer");
      throw new Error("the connection closed in the middle of the answer");
    }
    const [line, ...fields] = head.split("\r\n");
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(line);
    if (!m) throw new Error("the answer is not HTTP/1.x");
    const status = Number(m[2]);
    if (status >= 100 && status < 200) continue; // 100 Continue, 103 Early Hints: the answer follows
    const headers = new Map<string, string>();
    for (const f of fields) {
      const i = f.indexOf(":");
      if (i > 0) headers.set(f.slice(0, i).trim().toLowerCase(), f.slice(i + 1).trim());
    }
    const result = { status, reason: (m[3] ?? "").slice(0, 120) };
    let reusable = m[1] === "1" && !/\bclose\b/i.test(headers.get("connection") ?? "");
    if (status === 204 || status === 304) return { ...result, reusable };
    if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
      reusable = reusable && await skipChunked(input);
    } else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length"));
      reusable = reusable && Number.isSafeInteger(n) && n <= MAX_DISCARD && await input.skip(n);
    } else reusable = false; // the body runs to the end of the connection
    return { ...result, reusable };
  }
}

/** Consumes a chunked body; false when it was too long or broken (the connection is then not reused). */
async function skipChunked(input: Input): Promise<boolean> {
  let seen = 0;
  for (;;) {
    const line = await input.until("\r\n", 1024);
    if (line === undefined) return false;
    const size = parseInt(line.split(";")[0], 16);
    if (!Number.isFinite(size) || size < 0) return false;
    seen += size;
    if (seen > MAX_DISCARD) return false;
    if (size === 0) {
      for (;;) { // trailers, then the empty line
        const t = await input.until("\r\n", 8 * 1024);
        if (t === undefined) return false;
        if (t === "") return true;
      }
    }
    if (!(await input.skip(size + 2))) return false;
  }
}
