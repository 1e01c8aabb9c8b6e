/**
 * @module bench/history — `deno task bench --only history` (issue 17): invoke throughput with history on,
 * a room filled with N commits (100,000; 20,000 with --quick) over HTTP, the storage each commit costs
 * (database file before and after, the server stopped so the WAL is folded in; the history tables' share
 * from `dbstat`), then on a restarted server `GET /history?limit=100`, `GET /state/history` and
 * `/context?at=` at random retained commits, as the room token and as an agent. Its own servers and file.
 */
import { createClient } from "@libsql/client";
import { Client, closedLoop, type LoopResult, pool, type Res } from "./_load.ts";

type Proc = { port: number; pid: number; stop(signal?: Deno.Signal): Promise<void> };

export type HistoryBenchDeps = {
  spawn(env: Record<string, string>): Promise<Proc>;
  fig(name: string, value: number, unit: string): void;
  note(msg: string): void;
  fail(msg: string): void;
  loopFigs(prefix: string, r: LoopResult, unit: string): void;
  /** the invoke section's action (counter and message), so its figures compare with `invoke_c16` */
  bump: Record<string, unknown>;
  cfg: { warm: number; windows: number; windowMs: number; commits: number };
};

const enc = encodeURIComponent;
const ok = (r: Res) => r.status >= 200 && r.status < 300;
const AGENTS = 16;

/** One step of the filled room: a counter, one of 500 shared keys, the agent's own key, a message. */
const STEP = {
  id: "step",
  params: { n: { type: "integer", required: true }, k: { type: "integer", required: true } },
  if: "state._shared.open == true",
  writes: [
    { scope: "_shared", key: "counter", increment: true },
    { scope: "_shared", key: "k${params.k}", value: { n: "${params.n}", by: "${self}" } },
    { scope: "${self}", key: "last", value: "${params.n}" },
    { scope: "_messages", append: true, value: { kind: "step", body: "${params.n}" } },
  ],
};

async function fileBytes(path: string): Promise<number> {
  let n = 0;
  for (const p of [path, `${path}-wal`]) n += await Deno.stat(p).then((s) => s.size, () => 0);
  return n;
}

/** Bytes the history tables hold now (the server stopped). */
async function historyBytes(path: string): Promise<number> {
  const db = createClient({ url: `file:${path}` });
  try {
    const st = await db.execute(
      "SELECT SUM(pgsize) AS bytes FROM dbstat WHERE name IN ('history', 'history_rooms')",
    );
    return Number(st.rows[0].bytes ?? 0);
  } finally {
    db.close();
  }
}

export async function benchHistory(d: HistoryBenchDeps): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-bench-history-" });
  const dbPath = `${dir}/history.db`;
  const env = { SYNC_DB_URL: `file:${dbPath}` };
  let server = await d.spawn(env);
  let cl = new Client(server.port);
  // one request at a time per connection (worker)
  const must = async (method: string, path: string, token?: string, body?: unknown, worker = 0) => {
    const r = await cl.request(worker, method, path, { token, body });
    if (!ok(r)) throw new Error(`${method} ${path} -> ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body);
  };
  const invoke = (room: { id: string; token: string }, action: string, params: unknown, token = room.token) =>
    must("POST", `/rooms/${enc(room.id)}/actions/${action}/invoke`, token, { params });
  const makeRoom = async (
    id: string,
    history?: { commits: number },
    action: Record<string, unknown> = STEP,
  ) => {
    const room = { id, token: (await must("POST", "/rooms", undefined, { id, history })).token as string };
    await invoke(room, "_batch_set_state", {
      writes: [{ scope: "_shared", key: "open", value: true }, {
        scope: "_shared",
        key: "phase",
        value: "run",
      }],
    });
    const agents = await pool(Array.from({ length: AGENTS }, (_, i) => i), 8, async (i, w) => {
      const b = await must("POST", `/rooms/${enc(id)}/agents`, undefined, { id: `a${i}` }, w);
      return { id: `a${i}`, token: b.token as string };
    });
    await invoke(room, "_register_action", action);
    return { room, agents };
  };
  const stepPath = (id: string, action = "step") => `/rooms/${enc(id)}/actions/${action}/invoke`;
  try {
    // invoke throughput with history on: the invoke section's bump at c16 in a fresh room, and in a room
    // trimmed all along (it keeps 1,000 commits, so every 100 commits a trim step rides in a group commit)
    for (
      const [name, history] of [["history_invoke_c16", undefined], ["history_invoke_trimming_c16", {
        commits: 1000,
      }]] as const
    ) {
      const live = await makeRoom(name.replaceAll("_", "-"), history, d.bump);
      const lc = new Client(server.port);
      const r = await closedLoop({
        conc: 16,
        warm: d.cfg.warm,
        windows: d.cfg.windows,
        windowMs: d.cfg.windowMs,
        pid: server.pid,
        fn: (w, s) =>
          lc.request(w, "POST", stepPath(live.room.id, String(d.bump.id)), {
            token: live.agents[w % AGENTS].token,
            body: { params: { note: `n${s}` } },
          }),
      });
      lc.close();
      d.loopFigs(name, r, "inv/s");
      if (history) {
        const h = await must("GET", `/rooms/${enc(live.room.id)}/history?limit=1`, live.room.token);
        d.note(`${name}: ${h.cursor} commits, history from ${h.oldest_seq} (keeps ${history.commits})`);
      }
    }

    // the room of N commits, and the storage they took
    const { room, agents } = await makeRoom("hist-big");
    cl.close();
    await server.stop("SIGTERM");
    const before = await fileBytes(dbPath);
    const historyBefore = await historyBytes(dbPath);
    server = await d.spawn(env);
    cl = new Client(server.port);
    const fill = new Client(server.port);
    const N = d.cfg.commits;
    let next = 0;
    let errors = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: AGENTS }, async (_, w) => {
      while (next < N) {
        const n = next++;
        const res = await fill.request(w, "POST", stepPath(room.id), {
          token: agents[w].token,
          body: { params: { n, k: n % 500 } },
        });
        if (!ok(res)) errors++;
      }
    }));
    fill.close();
    d.fig("history_fill_rps", (N / (performance.now() - t0)) * 1000, "inv/s");
    d.fig("history_fill_errors", errors, "requests");
    if (errors) d.fail(`history: ${errors} of ${N} step invocations failed`);
    cl.close();
    await server.stop("SIGTERM");
    const after = await fileBytes(dbPath);
    d.fig("history_commits", N, "commits");
    d.fig("history_file_bytes_per_commit", (after - before) / N, "bytes");
    d.fig("history_table_bytes_per_commit", (await historyBytes(dbPath) - historyBefore) / N, "bytes");
    const db = createClient({ url: `file:${dbPath}` });
    try {
      const rows = await db.execute({
        sql: "SELECT COUNT(*) AS n FROM history WHERE room_id = ?",
        args: [room.id],
      });
      d.fig("history_rows_per_commit", Number(rows.rows[0].n) / N, "rows");
    } finally {
      db.close();
    }

    // reads on a restarted server (the room is loaded from storage; its history is read from it)
    server = await d.spawn(env);
    cl = new Client(server.port);
    const head = await must("GET", `/rooms/${enc(room.id)}/history?limit=1`, room.token);
    const oldest = head.oldest_seq as number;
    const cursor = head.cursor as number;
    d.note(`history: room ${room.id} at commit ${cursor}, history from ${oldest}`);
    const rc = new Client(server.port);
    const loop = async (name: string, fn: (s: number) => [string, string?]) => {
      const res = await closedLoop({
        conc: 1,
        warm: Math.min(d.cfg.warm, 200),
        windows: d.cfg.windows,
        windowMs: d.cfg.windowMs,
        pid: server.pid,
        fn: (w, s) => {
          const [path, token] = fn(s);
          return rc.request(w, "GET", path, { token: token ?? room.token });
        },
      });
      d.loopFigs(name, res, "req/s");
      if (res.errors) d.fail(`${name}: ${res.errors} errors`);
    };
    const base = `/rooms/${enc(room.id)}`;
    const randomAt = () => oldest + Math.floor(Math.random() * (cursor - oldest + 1));
    await loop("history_page100_c1", () => [`${base}/history?limit=100`]);
    await loop("history_page100_agent_c1", () => [`${base}/history?limit=100`, agents[3].token]);
    await loop("history_versions100_c1", () => [`${base}/state/history?scope=_shared&key=counter&limit=100`]);
    await loop("history_context_at_c1", () => [`${base}/context?at=${randomAt()}`]);
    await loop("history_context_at_agent_c1", () => [`${base}/context?at=${randomAt()}`, agents[5].token]);
    const sample = await must("GET", `${base}/context?at=${randomAt()}`, agents[5].token);
    d.note(
      `history: /context?at= as a0005 holds ${Object.keys(sample.state._shared ?? {}).length} shared keys, ` +
        `${sample.messages.count} messages`,
    );
    rc.close();
  } finally {
    cl.close();
    await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
