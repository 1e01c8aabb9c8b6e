/**
 * Test fixtures: an in-process server on a free loopback port with a temp database and an injectable
 * clock, released with `await using`. Tests talk to it over real HTTP.
 */
import { createApp } from "../app.ts";
import { DEFAULT_LIMITS, type Limits } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { LibsqlStore } from "../store/libsql_store.ts";
import type { Clock } from "../timers.ts";
import type { DeliveryOptions } from "../engine/webhook_delivery.ts";

/**
 * A clock tests move by hand; advancing it runs what each room's scheduler has due by then (lease expiries,
 * timer boundaries) and re-checks every waiter, as the real moments would.
 */
export class FakeClock implements Clock {
  t: number;
  onAdvance: () => void = () => {};
  constructor(start = Date.parse("2026-01-01T00:00:00Z")) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
    this.onAdvance();
  }
}

export type TestServer = {
  base: string;
  eng: Engine;
  clock: FakeClock | Clock;
  dbPath: string;
  /** the server's storage (tests that break it, or count rows in it) */
  store: LibsqlStore;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

export async function startServer(
  opts: {
    limits?: Partial<Limits>;
    fakeClock?: boolean;
    dbPath?: string;
    clockStart?: number;
    delivery?: DeliveryOptions;
    /** false: the delivery loop is not started (a test starts it with `eng.startDelivery()`) */
    deliver?: boolean;
  } = {},
): Promise<TestServer & { clock: FakeClock }> {
  const dir = opts.dbPath ? undefined : await Deno.makeTempDir({ prefix: "agent-sync-test-" });
  const dbPath = opts.dbPath ?? `${dir}/sync.db`;
  const store = await LibsqlStore.open(`file:${dbPath}`);
  const clock = new FakeClock(opts.fakeClock ? opts.clockStart : Date.now());
  const realClock = { now: () => Date.now() };
  const eng = new Engine({
    store,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    clock: opts.fakeClock ? clock : realClock,
    delivery: opts.delivery,
  });
  if (opts.deliver !== false) eng.startDelivery();
  clock.onAdvance = () => {
    for (const room of eng.rooms.values()) {
      room.rt.scheduler.runDue(clock.now());
      eng.rooms.notify(room);
    }
  };
  const app = createApp({ eng });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
  const base = `http://127.0.0.1:${server.addr.port}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const done = eng.close();
    await server.shutdown();
    await done;
    store.close();
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { base, eng, clock, dbPath, store, close, [Symbol.asyncDispose]: close };
}

// deno-lint-ignore no-explicit-any -- response JSON is whatever the server sent; tests assert on it
export type Res = { status: number; json: any; text: string; headers: Headers };

/** One request; the body is consumed so no resource leaks. */
export async function http(
  base: string,
  method: string,
  path: string,
  o: {
    token?: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(base + path, { method, headers, body, signal: o.signal });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A small client bound to one server, with the calls most tests make. */
export function client(base: string) {
  const c = {
    http: (method: string, path: string, o: Parameters<typeof http>[3] = {}) => http(base, method, path, o),
    async createRoom(id?: string, extra: Record<string, unknown> = {}) {
      const r = await http(base, "POST", "/rooms", { body: { ...(id ? { id } : {}), ...extra } });
      if (r.status !== 201) throw new Error(`create room: ${r.status} ${r.text}`);
      return { id: r.json.id as string, token: r.json.token as string, view: r.json.view_token as string };
    },
    async join(room: string, id: string, extra: Record<string, unknown> = {}, token?: string) {
      const r = await http(base, "POST", `/rooms/${room}/agents`, {
        body: { id, name: id, ...extra },
        token,
      });
      if (r.status !== 201) throw new Error(`join ${id}: ${r.status} ${r.text}`);
      return r.json.token as string;
    },
    invoke(
      room: string,
      token: string | undefined,
      action: string,
      params: unknown = {},
      extra: Record<string, unknown> = {},
    ) {
      return http(base, "POST", `/rooms/${room}/actions/${action}/invoke`, {
        token,
        body: { params, ...extra },
      });
    },
    async ok(room: string, token: string, action: string, params: unknown = {}) {
      const r = await c.invoke(room, token, action, params);
      if (r.status !== 200) throw new Error(`invoke ${action}: ${r.status} ${r.text}`);
      return r.json;
    },
    async context(room: string, token: string, qs = "") {
      const r = await http(base, "GET", `/rooms/${room}/context${qs}`, { token });
      if (r.status !== 200) throw new Error(`context: ${r.status} ${r.text}`);
      return r.json;
    },
  };
  return c;
}
