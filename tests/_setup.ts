/**
 * Shared fixtures beside _server.ts: a server with one room and its agents joined (`setupRoom`), `until`
 * for eventual conditions (state observed, never time measured), `/metrics` samples, and a commit barrier
 * that proves every listener of a room has seen a commit (for "this must not wake" checks).
 */
import { client, http, type Res, startServer } from "./_server.ts";

/**
 * Re-checks `cond` until it is truthy and returns that value. `timeoutMs` only stops a hung test (it is a
 * generous bound, not an expectation); `what` names the condition in the failure.
 */
export async function until<T>(
  cond: () => T | Promise<T>,
  o: { timeoutMs?: number; what?: string } = {},
): Promise<Exclude<T, false | 0 | "" | null | undefined>> {
  const deadline = performance.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    const v = await cond();
    if (v) return v as Exclude<T, false | 0 | "" | null | undefined>;
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${o.what ?? String(cond)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One sample of `/metrics` (`labels` as Prometheus writes them, e.g. `{outcome="ok"}`); NaN when absent. */
export async function metric(base: string, name: string, labels = ""): Promise<number> {
  const text = (await http(base, "GET", "/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.slice(name.length + labels.length + 1)) : NaN;
}

type ServerOptions = Parameters<typeof startServer>[0];
type Client = ReturnType<typeof client>;

export type RoomFixture<A extends string> = {
  s: Awaited<ReturnType<typeof startServer>>;
  c: Client;
  room: { id: string; token: string; view: string };
  /** each agent's token by id (also spread onto the fixture: `const { alice } = await setupRoom()`) */
  tokens: Record<A, string>;
  /** a request to a path under the room: `req("GET", "/context", alice)` */
  req(method: string, path: string, token?: string, body?: unknown): Promise<Res>;
  /** one agent as `GET /agents` shows it to the room token (JSON, as `Res.json`) */
  // deno-lint-ignore no-explicit-any
  agent(id: string): Promise<any>;
  /**
   * Opens a room-token wait that fires on the room's next commit; the returned function resolves once it
   * has. Listeners are woken in the order they registered, so every waiter registered before the barrier
   * has then evaluated that commit: a waiter still blocked was not woken by it.
   */
  barrier(): Promise<() => Promise<void>>;
} & Record<A, string>;

/**
 * A server (options as `startServer`'s) with one room (`room` id, generated if omitted) and `agents` joined
 * in order (default alice and bob), `join` giving an agent's join body. Release it with `await using _ = fx.s`.
 */
export async function setupRoom<const A extends string = "alice" | "bob">(
  o: {
    room?: string;
    agents?: readonly A[];
    join?: Partial<Record<NoInfer<A>, Record<string, unknown>>>;
    server?: ServerOptions;
  } = {},
): Promise<RoomFixture<A>> {
  const s = await startServer(o.server);
  const c = client(s.base);
  const room = await c.createRoom(o.room);
  const tokens = {} as Record<A, string>;
  for (const id of o.agents ?? (["alice", "bob"] as A[])) {
    tokens[id] = await c.join(room.id, id, o.join?.[id]);
  }
  const req = (method: string, path: string, token?: string, body?: unknown) =>
    c.http(method, `/rooms/${room.id}${path}`, { token, body });
  return {
    ...tokens,
    s,
    c,
    room,
    tokens,
    req,
    async agent(id) {
      const r = await req("GET", "/agents", room.token);
      return (r.json as { id: string }[]).find((a) => a.id === id);
    },
    async barrier() {
      const cursor = (await c.context(room.id, room.token, "?only=state")).cursor as number;
      const before = s.eng.metrics.waiters;
      const fired = req(
        "GET",
        `/wait?condition=true&after=${cursor}&include=state&timeout=60000`,
        room.token,
      );
      await until(() => s.eng.metrics.waiters > before, { what: "the barrier to block" });
      return async () => {
        const r = await fired;
        if (r.status !== 200 || r.json.triggered !== true) throw new Error(`barrier: ${r.status} ${r.text}`);
      };
    },
  };
}
