/**
 * @module agent-sync-client — a client for the agent-sync HTTP API in one file, built on `fetch` alone, so
 * it runs in Deno, Node ≥ 20 and browsers. Type annotations only (no enums, namespaces or parameter
 * properties): stripping the types leaves the JavaScript that runs.
 */

// ---------------------------------------------------------------- wire types (snake_case, as the server sends)

/** A room as `GET /rooms/:id` shows it. */
export interface Room {
  id: string;
  created_at: string;
  meta: unknown;
}

/** `POST /rooms`: the room and its two tokens, shown only once. */
export interface CreatedRoom extends Room {
  token: string;
  view_token: string;
}

export interface Agent {
  id: string;
  room_id: string;
  name: string;
  role: string;
  meta: unknown;
  grants: string[];
  /** `active`, `idle`, `busy`, `waiting`, `done`, `unknown`, or `gone`: silent for the room's `liveness_ms` */
  status: string;
  waiting_on: string | null;
  last_heartbeat: string | null;
  /** the last sign of life: a call, or an open wait or feed */
  last_seen: string | null;
  joined_at: string;
}

/** A room's settings as `PATCH /rooms/:id` answers them: `liveness_ms` is the window in force. */
export interface RoomSettings extends Room {
  liveness_ms: number;
}

/** A live lease of an entry: its holder, the key's epoch (the fencing token), when it lapses unless renewed. */
export interface Lease {
  holder: string;
  epoch: number;
  expires_at: string;
}

/** `POST /rooms/:id/agents`: the agent and its token, shown only once. */
export interface JoinedAgent extends Agent {
  token: string;
}

/** Fields of a join besides the id: `name`, `role`, `meta`, inline `state`, `public_keys`, `views`. */
export interface JoinFields {
  name?: string;
  role?: string;
  meta?: unknown;
  state?: Record<string, unknown>;
  public_keys?: string[];
  views?: Record<string, unknown>[];
}

export interface Write {
  scope: string;
  key: string;
  value: unknown;
  version: number;
  /** a `delete: true` write: whether there was an entry */
  deleted?: boolean;
  /** the entry's lease, when this write took or renewed it (`lease` on the write) */
  lease?: Lease;
}

/** One entry that changed after a cursor (`deleted` when it is gone or hidden now). */
export interface Change {
  scope: string;
  key: string;
  version: number;
  value?: unknown;
  deleted?: boolean;
}

export interface Message {
  seq: number;
  from: string;
  kind: string;
  body: unknown;
  to: string | string[] | null;
  reply_to: number | null;
  claimed_by: string | null;
  claimed_at: string | null;
  ts: string;
}

/** `GET /rooms/:id/context` (sections missing when `only` left them out). */
export interface Context {
  state?: Record<string, Record<string, unknown>>;
  views?: Record<string, unknown>;
  agents?: Record<string, Record<string, unknown>>;
  actions?: Record<string, Record<string, unknown>>;
  messages?: { count: number; unread: number; directed_unread: number; recent: Message[] };
  self: string;
  cursor: number;
  [section: string]: unknown;
}

/**
 * A `/wait` answer (and the `wait` of an invoke-and-wait): `triggered` with the condition's `value` and what
 * `include` asked for, or `triggered: false, timeout: true`. `cursor` is the state it describes.
 */
export interface WaitResult {
  triggered: boolean;
  timeout?: boolean;
  condition?: string;
  value?: unknown;
  cursor: number;
  elapsed_ms: number;
  context?: Context;
  state?: Record<string, Record<string, unknown>>;
  changes?: Change[];
  messages_since?: number[];
  [field: string]: unknown;
}

export interface InvokeResult {
  ok: true;
  action: string;
  writes: Write[];
  /** the commit of this invocation (absent in a dry run) */
  cursor: number;
  wait?: WaitResult;
  dry_run?: boolean;
  [field: string]: unknown;
}

/** `{condition, timeout?, include?, after?}`; a bare string is the condition. */
export type WaitSpec = string | {
  condition: string;
  timeout?: number;
  include?: string | string[];
  after?: number;
};

export interface ChangeEvent {
  type: "change";
  cursor: number;
  changes: Change[];
  messages: Message[];
  audit: Record<string, unknown> | null;
}

/** The cursor asked for is older than the room's in-memory log: re-read `/context`, go on from `cursor`. */
export interface ResetEvent {
  type: "reset";
  cursor: number;
}

export type FeedEvent = ChangeEvent | ResetEvent;

/** A room by id, or anything carrying one (a created room). */
export type RoomRef = string | { id: string };

// ---------------------------------------------------------------- options

export interface ClientOptions {
  baseUrl: string;
  /** bearer token: a room (`room_…`), view (`view_…`) or agent (`as_…`) token */
  token?: string;
  /** retries of a call that may be repeated safely, after a network error or a 502/503/504 (default 3) */
  retries?: number;
  /** first retry delay in ms, doubled each time up to 2 s (default 100) */
  retryDelayMs?: number;
  /** the fetch to use (default the global one) */
  fetch?: typeof fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface InvokeOptions extends CallOptions {
  /** invoke-and-wait: after committing, block until this holds for a later state */
  wait?: WaitSpec;
  dryRun?: boolean;
  /**
   * default: a fresh random key per call, reused by its retries. `false` sends none (the server then skips
   * looking the key up and storing the answer, ~0.15 ms per call; such a call is not retried).
   */
  idempotencyKey?: string | false;
  /** room token only: act as this agent */
  agent?: string;
}

export interface WaitOptions extends CallOptions {
  /** a cursor you have seen: fire only for a change after it (edge-triggered) */
  after?: number;
  /** ms, default and max 25000 on the server */
  timeout?: number;
  include?: string | string[];
  agent?: string;
}

export interface EventsOptions extends CallOptions {
  /** start after this cursor (default: from now) */
  after?: number;
  agent?: string;
  /** reconnect delay in ms (default: the server's `retry:`, else 1000) */
  reconnectDelayMs?: number;
  /** consecutive failed reconnections before giving up (default 10) */
  maxReconnects?: number;
  /** a connection silent this long (ms) is dropped and re-opened; the server sends a comment every 15 s (default 45000) */
  idleTimeoutMs?: number;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

// ---------------------------------------------------------------- errors

/**
 * Every failure of a call: the server's `{error, message, …details}` as `code`, `message`, `details`, with
 * the HTTP `status`; `status` 0 and code `network_error` when no answer came (after the retries).
 */
export class SyncError extends Error {
  code: string;
  status: number;
  details: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "SyncError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The error a response carries; a body that is not our JSON error still gives a code from its status. */
  static fromResponse(status: number, text: string): SyncError {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch { /* not JSON: a proxy's page, say */ }
    if (body && typeof body === "object" && typeof (body as { error?: unknown }).error === "string") {
      const { error, message, ...details } = body as Record<string, unknown>;
      return new SyncError(status, error as string, String(message ?? error), details);
    }
    return new SyncError(status, `http_${status}`, `HTTP ${status}: ${text.slice(0, 200)}`);
  }
}

const RETRY_STATUS = new Set([502, 503, 504]);
const MAX_DELAY_MS = 2000;

// ---------------------------------------------------------------- the client

export class Client {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly #opts: ClientOptions;
  readonly #fetch: typeof fetch;

  constructor(opts: ClientOptions) {
    this.#opts = opts;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.token = opts.token;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The same client acting with another token. */
  withToken(token: string | undefined): Client {
    return new Client({ ...this.#opts, token });
  }

  // ---- rooms and agents

  /**
   * `POST /rooms` (`liveness_ms`: ms of silence after which an agent is gone; default the server's).
   * Not retried: a lost answer cannot be replayed (its tokens are shown once).
   */
  createRoom(
    room: { id?: string; meta?: unknown; liveness_ms?: number } = {},
    o: CallOptions = {},
  ): Promise<CreatedRoom> {
    return this.request("POST", "/rooms", { body: room, signal: o.signal }) as Promise<CreatedRoom>;
  }

  /** `PATCH /rooms/:id` (room token): `liveness_ms` (null: the server's default again). */
  updateRoom(
    room: RoomRef,
    patch: { liveness_ms?: number | null },
    o: CallOptions = {},
  ): Promise<RoomSettings> {
    return this.request("PATCH", `/rooms/${roomId(room)}`, {
      body: patch,
      signal: o.signal,
      retry: true,
    }) as Promise<RoomSettings>;
  }

  getRoom(room: RoomRef, o: CallOptions = {}): Promise<Room> {
    return this.#get(`/rooms/${roomId(room)}`, {}, o) as Promise<Room>;
  }

  /** The rooms this client's token belongs to. */
  rooms(o: CallOptions = {}): Promise<Room[]> {
    return this.#get("/rooms", {}, o) as Promise<Room[]>;
  }

  /**
   * `POST /rooms/:id/agents`: joins (no token needed) and returns the agent with its token. A re-join needs
   * the agent's current token or the room token as this client's token, and rotates it. Not retried.
   */
  join(room: RoomRef, id?: string, fields: JoinFields = {}, o: CallOptions = {}): Promise<JoinedAgent> {
    const body = id === undefined ? fields : { id, ...fields };
    return this.request("POST", `/rooms/${roomId(room)}/agents`, { body, signal: o.signal }) as Promise<
      JoinedAgent
    >;
  }

  agents(room: RoomRef, o: CallOptions = {}): Promise<Agent[]> {
    return this.#get(`/rooms/${roomId(room)}/agents`, {}, o) as Promise<Agent[]>;
  }

  /** `PATCH /rooms/:id/agents/:agent` (room token): `grants`, `role`, `name`, `meta`, `status`. */
  updateAgent(
    room: RoomRef,
    agent: string,
    patch: Record<string, unknown>,
    o: CallOptions = {},
  ): Promise<Agent> {
    return this.request("PATCH", `/rooms/${roomId(room)}/agents/${enc(agent)}`, {
      body: patch,
      signal: o.signal,
      retry: true,
    }) as Promise<Agent>;
  }

  // ---- reads

  /** `GET /rooms/:id/context`; query `only`, `messages_after`, `messages_limit`, `agent`, `compact`. */
  context(room: RoomRef, query: Query = {}, o: CallOptions = {}): Promise<Context> {
    return this.#get(`/rooms/${roomId(room)}/context`, query, o) as Promise<Context>;
  }

  /** `GET /rooms/:id/state`; query `scope`, `key`, `agent`. One row with `key`, else a list of rows. */
  state(room: RoomRef, query: Query = {}, o: CallOptions = {}): Promise<unknown> {
    return this.#get(`/rooms/${roomId(room)}/state`, query, o);
  }

  /** `POST /rooms/:id/eval`: `{expression, value, context_keys}` (a runtime error is `value: null, error`). */
  eval(
    room: RoomRef,
    expr: string,
    o: CallOptions & { agent?: string } = {},
  ): Promise<Record<string, unknown>> {
    return this.request("POST", `/rooms/${roomId(room)}/eval`, {
      body: o.agent === undefined ? { expr } : { expr, agent: o.agent },
      signal: o.signal,
      retry: true,
    }) as Promise<Record<string, unknown>>;
  }

  /** `GET /rooms/:id/actions`, every action with `available` for the caller. */
  actions(room: RoomRef, o: CallOptions = {}): Promise<Record<string, unknown>[]> {
    return this.#get(`/rooms/${roomId(room)}/actions`, {}, o) as Promise<Record<string, unknown>[]>;
  }

  action(room: RoomRef, action: string, o: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.#get(`/rooms/${roomId(room)}/actions/${enc(action)}`, {}, o) as Promise<
      Record<string, unknown>
    >;
  }

  views(room: RoomRef, o: CallOptions = {}): Promise<Record<string, unknown>[]> {
    return this.#get(`/rooms/${roomId(room)}/views`, {}, o) as Promise<Record<string, unknown>[]>;
  }

  // ---- invoke and wait

  /**
   * `POST /rooms/:id/actions/:action/invoke`. Sent with an `Idempotency-Key` (fresh per call unless given)
   * that its retries reuse, so a retry after a lost answer gets the first answer instead of applying twice.
   * With `wait`, the answer also carries the wake (`result.wait`) for a state committed after this one.
   */
  async invoke(
    room: RoomRef,
    action: string,
    params: Record<string, unknown> = {},
    o: InvokeOptions = {},
  ): Promise<InvokeResult> {
    const path = `/rooms/${roomId(room)}/actions/${enc(action)}/invoke`;
    const body: Record<string, unknown> = { params };
    if (o.agent !== undefined) body.agent = o.agent;
    if (o.dryRun) body.dry_run = true;
    const key = o.idempotencyKey === false
      ? undefined
      : o.idempotencyKey ?? (o.dryRun ? undefined : newKey());
    const headers = key === undefined ? undefined : { "idempotency-key": key };
    const retry = key !== undefined || o.dryRun === true;
    const spec = typeof o.wait === "string" ? { condition: o.wait } : o.wait;
    if (spec === undefined || o.dryRun) {
      return await this.request("POST", path, { body, headers, signal: o.signal, retry }) as InvokeResult;
    }
    try {
      return await this.request("POST", path, {
        body: { ...body, wait: spec },
        headers,
        signal: o.signal,
      }) as InvokeResult;
    } catch (err) {
      if (!retry || !isTransient(err) || o.signal?.aborted) throw err;
    }
    // The answer was lost, and with it the wake. Replay the invocation alone (same key: it applies at most
    // once and answers with its own commit's cursor), then wait for a state committed after that cursor.
    await sleep(jitter(this.#opts.retryDelayMs ?? 100), o.signal);
    const res = await this.request("POST", path, { body, headers, signal: o.signal, retry }) as InvokeResult;
    res.wait = await this.wait(room, spec.condition, {
      after: res.cursor,
      timeout: spec.timeout,
      include: spec.include ?? "changes",
      agent: o.agent,
      signal: o.signal,
    });
    return res;
  }

  /**
   * `GET /rooms/:id/wait`: blocks until `condition` holds (at once if it already does, unless `after` is
   * given: then only for a change after that cursor) or the timeout passes (`triggered: false`).
   */
  wait(room: RoomRef, condition: string, o: WaitOptions = {}): Promise<WaitResult> {
    return this.#get(`/rooms/${roomId(room)}/wait`, {
      condition,
      after: o.after,
      timeout: o.timeout,
      include: o.include,
      agent: o.agent,
    }, o) as Promise<WaitResult>;
  }

  /**
   * Runs `work` while this client's agent holds a `/wait` open: an open wait is a sign of life, so the
   * agent's leases (and its presence) last however long `work` takes — a model call, a build — without it
   * calling in between. The wait is let go as soon as `work` settles.
   */
  async keepAlive<T>(room: RoomRef, work: () => Promise<T>, o: CallOptions = {}): Promise<T> {
    const stop = new AbortController();
    const quit = () => stop.abort();
    o.signal?.addEventListener("abort", quit);
    const hold = (async () => {
      while (!stop.signal.aborted) {
        try {
          await this.wait(room, "false", { signal: stop.signal });
        } catch {
          // refused or unreachable: try again in a moment (until `work` is done)
          await sleep(1000, stop.signal);
        }
      }
    })();
    try {
      return await work();
    } finally {
      stop.abort();
      o.signal?.removeEventListener("abort", quit);
      await hold;
    }
  }

  /** `wait` until it triggers: asks again after each timeout and returns the wake. */
  async waitUntil(room: RoomRef, condition: string, o: WaitOptions = {}): Promise<WaitResult> {
    for (;;) {
      const w = await this.wait(room, condition, o);
      if (w.triggered) return w;
    }
  }

  /**
   * Each time `condition` holds for a change not yet seen: the first wait is level-triggered (unless `after`
   * is given), each next one is issued after the last wake's cursor; timeouts are re-issued, not yielded.
   * Set `loop.cursor` to move the cursor on (e.g. to your own invocation's). Ends when `signal` aborts.
   */
  waitLoop(room: RoomRef, condition: string, o: WaitOptions = {}): WaitLoop {
    return new WaitLoop(this, room, condition, o);
  }

  /**
   * `GET /rooms/:id/events` as an async iterator of commits you may see. A dropped or silent connection is
   * re-opened with `Last-Event-ID`, so no event is lost or repeated across the gap. Ends when `signal`
   * aborts or the loop is left; throws a `SyncError` for a refusal (401, 404, …) or after `maxReconnects`
   * failed reconnections in a row.
   */
  async *events(room: RoomRef, o: EventsOptions = {}): AsyncGenerator<FeedEvent, void, undefined> {
    const path = `/rooms/${roomId(room)}/events`;
    let last: number | undefined = o.after;
    let delay = o.reconnectDelayMs ?? 1000;
    let failures = 0;
    const maxReconnects = o.maxReconnects ?? 10;
    const idleMs = o.idleTimeoutMs ?? 45_000;
    while (!o.signal?.aborted) {
      const conn = new AbortController();
      const stop = () => conn.abort();
      o.signal?.addEventListener("abort", stop);
      let idle: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(stop, idleMs);
      };
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      try {
        const headers: Record<string, string> = { accept: "text/event-stream" };
        if (last !== undefined) headers["last-event-id"] = String(last);
        arm();
        const res = await this.#fetch(this.#url(path, { agent: o.agent }), {
          headers: this.#headers(headers),
          signal: conn.signal,
        });
        if (!res.ok) {
          const err = SyncError.fromResponse(res.status, await res.text());
          if (!RETRY_STATUS.has(res.status)) throw err;
          if (++failures > maxReconnects) throw err;
        } else {
          failures = 0;
          reader = res.body!.getReader();
          const parser = new SseParser();
          const decoder = new TextDecoder();
          for (;;) {
            arm();
            const { value, done } = await reader.read();
            if (done) break;
            for (const m of parser.push(decoder.decode(value, { stream: true }))) {
              if (m.retry !== undefined && o.reconnectDelayMs === undefined) delay = m.retry;
              if (last === undefined && m.comment) {
                // the stream opens with ": connected to ROOM at cursor N": resume from there if it drops
                const at = /at cursor (\d+)/.exec(m.comment);
                if (at) last = Number(at[1]);
              }
              if (m.event === undefined || m.data === undefined) continue;
              if (m.id !== undefined && /^\d+$/.test(m.id)) last = Number(m.id);
              if (m.event === "change" || m.event === "reset") {
                yield { type: m.event, ...JSON.parse(m.data) } as FeedEvent;
              }
            }
          }
        }
      } catch (err) {
        if (o.signal?.aborted) return;
        if (err instanceof SyncError) throw err;
        // a network error, or the idle timer: reconnect
        if (!reader && ++failures > maxReconnects) {
          throw new SyncError(0, "network_error", `events: ${errorText(err)}`, {}, err);
        }
      } finally {
        clearTimeout(idle);
        o.signal?.removeEventListener("abort", stop);
        if (reader) await reader.cancel().catch(() => {});
      }
      if (o.signal?.aborted) return;
      await sleep(delay, o.signal);
    }
  }

  // ---- the transport

  /**
   * One call: JSON in, JSON out, a `SyncError` for any error answer. `retry` repeats it after a network error
   * or a 502/503/504 (only for calls that are safe to repeat), with a doubling, bounded delay.
   */
  async request(
    method: string,
    path: string,
    r: {
      query?: Query;
      body?: unknown;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      retry?: boolean;
    } = {},
  ): Promise<unknown> {
    const url = this.#url(path, r.query ?? {});
    const headers = this.#headers(r.headers ?? {});
    let body: string | undefined;
    if (r.body !== undefined) {
      body = JSON.stringify(r.body);
      headers["content-type"] = "application/json";
    }
    const retries = r.retry ? this.#opts.retries ?? 3 : 0;
    let delay = this.#opts.retryDelayMs ?? 100;
    for (let attempt = 0;; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, { method, headers, body, signal: r.signal });
      } catch (err) {
        if (r.signal?.aborted) throw err;
        if (attempt >= retries) {
          throw new SyncError(0, "network_error", `${method} ${path}: ${errorText(err)}`, {}, err);
        }
        await sleep(jitter(delay), r.signal);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
        continue;
      }
      const text = await res.text();
      if (res.ok) return text === "" ? undefined : JSON.parse(text);
      if (attempt < retries && RETRY_STATUS.has(res.status)) {
        const after = Number(res.headers.get("retry-after"));
        await sleep(after > 0 ? Math.min(after * 1000, MAX_DELAY_MS) : jitter(delay), r.signal);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
        continue;
      }
      throw SyncError.fromResponse(res.status, text);
    }
  }

  #get(path: string, query: Query, o: CallOptions): Promise<unknown> {
    return this.request("GET", path, { query, signal: o.signal, retry: true });
  }

  #url(path: string, query: Query): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) qs.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const s = qs.toString();
    return this.baseUrl + path + (s ? `?${s}` : "");
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.token !== undefined) h.authorization = `Bearer ${this.token}`;
    return h;
  }
}

/** The iterator of `client.waitLoop()`; `cursor` is where the next wait starts. */
export class WaitLoop implements AsyncIterable<WaitResult> {
  cursor: number | undefined;
  readonly #client: Client;
  readonly #room: RoomRef;
  readonly #condition: string;
  readonly #opts: WaitOptions;

  constructor(client: Client, room: RoomRef, condition: string, o: WaitOptions = {}) {
    this.#client = client;
    this.#room = room;
    this.#condition = condition;
    this.#opts = o;
    this.cursor = o.after;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WaitResult, void, undefined> {
    while (!this.#opts.signal?.aborted) {
      let w: WaitResult;
      try {
        // a timeout keeps the cursor: the next wait still fires for anything after the last wake
        w = await this.#client.waitUntil(this.#room, this.#condition, { ...this.#opts, after: this.cursor });
      } catch (err) {
        if (this.#opts.signal?.aborted) return;
        throw err;
      }
      this.cursor = w.cursor;
      yield w;
    }
  }
}

// ---------------------------------------------------------------- Server-Sent Events

interface SseMessage {
  event?: string;
  data?: string;
  id?: string;
  retry?: number;
  comment?: string;
}

/** Incremental `text/event-stream` parsing (lines end in LF, CRLF or CR; a blank line ends a message). */
class SseParser {
  #buf = "";
  #msg: SseMessage = {};
  #data: string[] = [];

  push(chunk: string): SseMessage[] {
    this.#buf += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buf);
      // a lone CR at the end may be the first half of a CRLF: wait for more
      if (!m || (m[0] === "\r" && m.index === this.#buf.length - 1)) break;
      const line = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      if (line === "") {
        const msg = this.#msg;
        if (this.#data.length) msg.data = this.#data.join("\n");
        if (msg.data !== undefined) msg.event ??= "message";
        if (Object.keys(msg).length) out.push(msg);
        this.#msg = {};
        this.#data = [];
        continue;
      }
      const colon = line.indexOf(":");
      if (colon === 0) {
        this.#msg.comment = line.slice(1).trim();
        continue;
      }
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") this.#data.push(value);
      else if (field === "event") this.#msg.event = value;
      else if (field === "id" && !value.includes("\0")) this.#msg.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.#msg.retry = Number(value);
    }
    return out;
  }
}

// ---------------------------------------------------------------- small pieces

function roomId(room: RoomRef): string {
  return enc(typeof room === "string" ? room : room.id);
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** A random UUID v4; `crypto.randomUUID` is missing on plain-http pages, `getRandomValues` is not. */
function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A failure a retry may cure: no answer at all, or a gateway or an unavailable server. */
function isTransient(err: unknown): boolean {
  return err instanceof SyncError && (err.status === 0 || RETRY_STATUS.has(err.status));
}

function jitter(ms: number): number {
  return ms / 2 + Math.random() * ms / 2;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A delay that ends early (resolving) when `signal` aborts, and leaves no timer behind. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}
