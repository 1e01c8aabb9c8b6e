/**
 * @module bench/bench — `deno task bench [--quick] [--only a,b] [--json out.json]`: the project's own load
 * generator (issue 6). Starts its own server (`deno run -A main.ts`, loopback, temp database) as a child
 * process so its CPU and RSS can be read from /proc, measures every figure of issue 6 item 1 as medians
 * over repeated windows, measures the machine's ceilings in the same run (a bare `Deno.serve` JSON endpoint
 * and a @libsql/client one-statement commit loop), checks that no acknowledged write was lost (over HTTP,
 * and again in the database file after SIGKILL-ing the server), and prints one `name: value unit` per line,
 * `#` commentary, and finally one JSON object with every figure and the verdict on each target.
 *
 * Sections (for --only): ceiling, invoke, setstate, context, wait, aging, rooms, game, leases, webhooks,
 * history.
 * --quick keeps the whole run under a minute; the full run stays under about six.
 */
import { createClient } from "@libsql/client";
import {
  Client,
  closedLoop,
  Conn,
  type LoopResult,
  median,
  pool,
  procCpuMs,
  procRssMiB,
  type Res,
  sleep,
  summary,
} from "./_load.ts";
import { benchHistory } from "./history.ts";
import { benchLeases } from "./leases.ts";
import { benchWebhooks } from "./webhooks.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const args = Deno.args;
const QUICK = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const ONLY = args.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : null;
const JSON_OUT = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
/** --profile DIR: the server runs with --cpu-prof and writes its .cpuprofile there when stopped. */
const PROFILE = args.includes("--profile") ? args[args.indexOf("--profile") + 1] : undefined;
const want = (s: string) => !ONLY || ONLY.has(s);
const RUN = `b${Date.now().toString(36)}`;

/**
 * The server's abuse limits are policy, not capacity: a per-token/per-address rate limit (2,000 req/s by
 * default; room creation carries no token, so all of it counts against one address) and 5,000 messages per
 * room per second would cap the figures and turn load into 429s. The benchmark measures capacity.
 */
// abuse limits off; the wait section joins 5,000 agents to one room (the default quota is 1,000)
const SERVER_ENV = {
  SYNC_RATE_LIMIT_PER_SEC: "0",
  SYNC_ROOM_MESSAGES_PER_SEC: "0",
  SYNC_ROOM_MAX_AGENTS: "10000",
};

const CFG = QUICK
  ? {
    warm: 300,
    windows: 3,
    windowMs: 700,
    ctxWindows: 3,
    ctxWindowMs: 600,
    libsqlMs: 1000,
    waitRounds: { 1: 8, 100: 2, 500: 1, 5000: 1 } as Record<number, number>,
    idleMs: 1500,
    agingN: 20_000,
    rooms: 2_000,
    roomConc: 16,
    historyCommits: 20_000,
  }
  : {
    warm: 1000,
    windows: 5,
    windowMs: 2000,
    ctxWindows: 5,
    ctxWindowMs: 1500,
    libsqlMs: 3000,
    waitRounds: { 1: 30, 100: 5, 500: 3, 5000: 2 } as Record<number, number>,
    idleMs: 3000,
    agingN: 100_000,
    rooms: 10_000,
    roomConc: 16,
    historyCommits: 100_000,
  };

// ---------------------------------------------------------------- output

type Fig = { value: number; unit: string };
const figures: Record<string, Fig> = {};
const notes: string[] = [];
let failures = 0;

function fig(name: string, value: number, unit: string) {
  const v = Number.isFinite(value) ? +value.toFixed(Math.abs(value) >= 100 ? 1 : 3) : value;
  figures[name] = { value: v, unit };
  console.log(`${name}: ${v} ${unit}`);
}
function note(msg: string) {
  notes.push(msg);
  console.log(`# ${msg}`);
}
function fail(msg: string) {
  failures++;
  notes.push(`FAIL: ${msg}`);
  console.log(`# !!! ${msg}`);
  console.error(`# !!! ${msg}`);
}
const val = (name: string) => figures[name]?.value ?? NaN;

// ---------------------------------------------------------------- processes

type Proc = {
  port: number;
  pid: number;
  child: Deno.ChildProcess;
  stop(signal?: Deno.Signal): Promise<void>;
};

/** Starts a Deno program that prints `listening on http://host:PORT` and waits for that line. */
async function spawn(script: string, env: Record<string, string>, flags: string[] = []): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...flags, script],
    cwd: ROOT,
    env: { ...env, ...SERVER_ENV, HOST: "127.0.0.1", PORT: "0" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (!port) {
    if (Date.now() > deadline) throw new Error(`${script} did not start: ${seen}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${script} exited before listening: ${seen}`);
    seen += value;
    const m = seen.match(/listening on http:\/\/[^:\s]+:(\d+)/);
    if (m) port = Number(m[1]);
  }
  // keep draining stdout so the child never blocks on a full pipe
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  let stopped = false;
  return {
    port,
    pid: child.pid,
    child,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (stopped) return;
      stopped = true;
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

// ---------------------------------------------------------------- API helpers

let server: Proc;
let api: Client; // setup connections (index = worker)
const enc = encodeURIComponent;
const pad = (i: number, w = 4) => String(i).padStart(w, "0");
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const ok = (r: Res) => r.status >= 200 && r.status < 300;

async function must(method: string, path: string, opts: { token?: string; body?: unknown } = {}, worker = 0) {
  const r = await api.request(worker, method, path, opts);
  if (!ok(r)) throw new Error(`${method} ${path} -> ${r.status} ${r.error ?? r.body.slice(0, 300)}`);
  return JSON.parse(r.body);
}
type Room = { id: string; token: string };
type Agent = { id: string; token: string };
async function createRoom(id: string): Promise<Room> {
  const b = await must("POST", "/rooms", { body: { id } });
  return { id, token: b.token };
}
async function join(room: Room, id: string, extra: Record<string, unknown> = {}, worker = 0): Promise<Agent> {
  const b = await must("POST", `/rooms/${enc(room.id)}/agents`, { body: { id, name: id, ...extra } }, worker);
  return { id, token: b.token };
}
function invokeMust(room: Room, action: string, params: unknown, token = room.token) {
  return must("POST", `/rooms/${enc(room.id)}/actions/${enc(action)}/invoke`, { token, body: { params } });
}
async function evalExpr(room: Room, expr: string, token = room.token) {
  return (await must("POST", `/rooms/${enc(room.id)}/eval`, { token, body: { expr } })).value;
}
async function joinMany(
  room: Room,
  n: number,
  prefix: string,
  extra?: (i: number) => Record<string, unknown>,
) {
  return await pool(range(n), 16, (i, w) => join(room, `${prefix}${pad(i)}`, extra?.(i) ?? {}, w));
}

function loopFigs(prefix: string, r: LoopResult, unit: string) {
  fig(`${prefix}_rps`, r.rps, unit);
  fig(`${prefix}_p50`, r.p50, "ms");
  fig(`${prefix}_p99`, r.p99, "ms");
  fig(`${prefix}_errors`, r.errors, "requests");
  fig(`${prefix}_server_cpu`, r.cpu, "%core");
  fig(`${prefix}_client_cpu`, r.clientCpu, "%core");
  fig(`${prefix}_other_cpu`, r.otherCpu, "%core");
  // server CPU per request: independent of how busy the rest of the machine is
  fig(`${prefix}_server_us_per_req`, (r.cpu / 100) * 1e6 / r.rps, "µs");
  if (r.errors) note(`${prefix}: first error: ${r.errorSample}`);
}

// ---------------------------------------------------------------- ceilings

async function benchCeilings() {
  const p = await spawn("bench/_ceiling_http.ts", {});
  try {
    for (const conc of [1, 16, 64]) {
      const cl = new Client(p.port);
      const r = await closedLoop({
        conc,
        warm: CFG.warm,
        windows: CFG.windows,
        windowMs: CFG.windowMs,
        pid: p.pid,
        fn: (w) =>
          cl.request(w, "POST", "/rooms/x/actions/y/invoke", { token: "as_x", body: { params: {} } }),
      });
      cl.close();
      loopFigs(`ceiling_http_c${conc}`, r, "req/s");
    }
  } finally {
    await p.stop();
  }

  const dir = await Deno.makeTempDir({ prefix: "agent-sync-ceiling-" });
  const db = createClient({ url: `file:${dir}/c.db` });
  await db.execute("PRAGMA journal_mode = WAL");
  await db.execute("PRAGMA synchronous = NORMAL");
  await db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)");
  const run = async (ms: number) => {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      await db.batch([{
        sql:
          "INSERT INTO kv (k, v, n) VALUES (?, ?, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = n + 1",
        args: [`k${n % 100}`, `{"i":${n}}`],
      }], "write");
      n++;
    }
    return (n / (performance.now() - t0)) * 1000;
  };
  await run(CFG.warm);
  const rates: number[] = [];
  for (let i = 0; i < CFG.windows; i++) rates.push(await run(CFG.libsqlMs / CFG.windows));
  db.close();
  await Deno.remove(dir, { recursive: true });
  const rate = median(rates);
  fig("ceiling_libsql_commit_rps", rate, "commits/s");
  fig("ceiling_libsql_commit_us", 1e6 / rate, "µs");
}

// ---------------------------------------------------------------- invoke

const BUMP = {
  id: "bump",
  description: "bench: count and log",
  params: { note: { type: "string" } },
  if: 'state._shared.phase == "run"',
  writes: [
    { scope: "_shared", key: "counter", increment: true, value: 1 },
    { scope: "_messages", append: true, value: { from: "${self}", kind: "bench", body: "${params.note}" } },
  ],
};

type InvokeRoom = { room: Room; agents: Agent[]; acked: string[]; prefix: string };
const checkedRooms: InvokeRoom[] = [];

async function bumpRoom(name: string, nAgents: number): Promise<InvokeRoom> {
  const room = await createRoom(`${RUN}-${name}`);
  await invokeMust(room, "_set_state", { scope: "_shared", key: "phase", value: "run" });
  await invokeMust(room, "_set_state", { scope: "_shared", key: "counter", value: 0 });
  const agents = await joinMany(room, nAgents, "a");
  await invokeMust(room, "_register_action", BUMP);
  return { room, agents, acked: [], prefix: name };
}

/** Runs bump at `conc` for the configured windows; acknowledged notes are recorded on `ir`. */
async function bumpLoop(ir: InvokeRoom, conc: number, windows = CFG.windows, tag = "") {
  const cl = new Client(server.port);
  const path = `/rooms/${enc(ir.room.id)}/actions/bump/invoke`;
  const r = await closedLoop({
    conc,
    warm: CFG.warm,
    windows,
    windowMs: CFG.windowMs,
    pid: server.pid,
    fn: (w, s) =>
      cl.request(w, "POST", path, {
        token: ir.agents[w % ir.agents.length].token,
        body: { params: { note: `${tag}n${s}` } },
      }),
    onResult: (res, _w, s) => {
      if (ok(res)) ir.acked.push(`${tag}n${s}`);
    },
  });
  cl.close();
  return r;
}

/** Counter equals acknowledged invocations; every acknowledged message is in the log (read over HTTP). */
async function verifyHttp(ir: InvokeRoom, withMessages = true) {
  const counter = Number(await evalExpr(ir.room, "state._shared.counter"));
  const lost = ir.acked.length - counter;
  fig(`${ir.prefix}_acked`, ir.acked.length, "invocations");
  fig(`${ir.prefix}_counter_diff`, counter - ir.acked.length, "increments");
  if (lost > 0) fail(`${ir.prefix}: LOST WRITES: counter ${counter} < ${ir.acked.length} acknowledged`);
  if (lost < 0) fail(`${ir.prefix}: NOT ATOMIC: counter ${counter} > ${ir.acked.length} acknowledged`);
  if (!withMessages) return;
  const bodies = new Set<string>();
  let after = 0;
  for (;;) {
    const page = await must("GET", `/rooms/${enc(ir.room.id)}/messages?after=${after}&limit=500`, {
      token: ir.room.token,
    });
    if (!Array.isArray(page) || !page.length) break;
    for (const m of page) if (m.kind === "bench") bodies.add(String(m.body));
    after = Number(page[page.length - 1].seq);
  }
  const missing = ir.acked.filter((n) => !bodies.has(n)).length;
  fig(`${ir.prefix}_msgs_missing`, missing, "messages");
  if (missing) fail(`${ir.prefix}: LOST WRITES: ${missing} acknowledged messages are not in the log`);
  else {note(
      `${ir.prefix} verify (HTTP): counter ${counter} == acknowledged; all ${ir.acked.length} messages present`,
    );}
}

/** After SIGKILL: the database file itself holds every acknowledged write. */
async function verifyDb(dbPath: string) {
  const db = createClient({ url: `file:${dbPath}` });
  try {
    let bad = 0;
    for (const ir of checkedRooms) {
      const c = await db.execute({
        sql: "SELECT value FROM state WHERE room_id = ? AND scope = '_shared' AND key = 'counter'",
        args: [ir.room.id],
      });
      const counter = Number(JSON.parse(String(c.rows[0]?.value ?? "0")));
      const m = await db.execute({
        sql: "SELECT body FROM messages WHERE room_id = ? AND kind = 'bench'",
        args: [ir.room.id],
      });
      const bodies = new Set(m.rows.map((r) => String(JSON.parse(String(r.body)))));
      const missing = ir.acked.filter((n) => !bodies.has(n)).length;
      if (counter !== ir.acked.length || missing) {
        bad++;
        fail(
          `${ir.prefix}: after SIGKILL the database holds counter ${counter} for ${ir.acked.length} acknowledged, ${missing} messages missing`,
        );
      }
    }
    fig("durable_check_rooms_failed", bad, `of ${checkedRooms.length} rooms`);
    if (!bad) {
      note(`verify (database after SIGKILL): ${checkedRooms.length} rooms, every acknowledged write present`);
    }
  } finally {
    db.close();
  }
}

async function benchInvoke() {
  for (const conc of [1, 16, 64]) {
    const ir = await bumpRoom(`invoke_c${conc}`, Math.max(conc, 1));
    const r = await bumpLoop(ir, conc);
    loopFigs(ir.prefix, r, "inv/s");
    await verifyHttp(ir);
    checkedRooms.push(ir);
  }
}

async function benchSetState() {
  const conc = 16;
  const room = await createRoom(`${RUN}-setstate`);
  const agents = await joinMany(room, conc, "a");
  const count = new Array(conc).fill(0);
  const last = new Array(conc).fill(-1);
  const cl = new Client(server.port);
  const path = `/rooms/${enc(room.id)}/actions/_set_state/invoke`;
  const r = await closedLoop({
    conc,
    warm: CFG.warm,
    windows: CFG.windows,
    windowMs: CFG.windowMs,
    pid: server.pid,
    fn: (w, s) =>
      cl.request(w, "POST", path, {
        token: agents[w].token,
        body: { params: { key: "k", value: { n: s } } },
      }),
    onResult: (res, w, s) => {
      if (ok(res)) count[w]++, last[w] = s;
    },
  });
  cl.close();
  loopFigs("setstate_c16", r, "writes/s");
  let wrong = 0;
  for (let w = 0; w < conc; w++) {
    const e = await must("GET", `/rooms/${enc(room.id)}/state?scope=${agents[w].id}&key=k`, {
      token: agents[w].token,
    });
    if (Number(e?.value?.n) !== last[w] || Number(e?.version) !== count[w]) wrong++;
  }
  fig("setstate_c16_wrong_keys", wrong, "keys");
  if (wrong) {
    fail(
      `setstate_c16: ${wrong} keys do not hold their last acknowledged value with version == acknowledged writes`,
    );
  } else {note(
      `setstate_c16 verify: every key holds its last acknowledged value, version == acknowledged writes`,
    );}
}

// ---------------------------------------------------------------- context

async function benchContext() {
  const room = await createRoom(`${RUN}-ctx`);
  const agents = await joinMany(room, 50, "a", (i) => ({
    role: i % 2 ? "worker" : "planner",
    state: { hp: i * 2, secret: `s-${i}-${"x".repeat(20)}` },
  }));
  for (let b = 0; b < 25; b++) {
    const writes = range(20).map((j) => {
      const i = b * 20 + j;
      return {
        scope: "_shared",
        key: `k${pad(i, 3)}`,
        value: { score: i, name: `item-${i}`, tags: ["alpha", "beta"], ok: i % 3 === 0 },
      };
    });
    await invokeMust(room, "_batch_set_state", { writes });
  }
  for (let v = 0; v < 10; v++) {
    await invokeMust(room, "_register_view", {
      id: `shared-v${v}`,
      scope: "_shared",
      expr: `state._shared["k${pad(v * 7, 3)}"].score + state._shared["k${pad(v * 7 + 1, 3)}"].score`,
    });
  }
  for (let v = 0; v < 10; v++) {
    const a = agents[v];
    await invokeMust(room, "_register_view", {
      id: `${a.id}-status`,
      expr: `state["${a.id}"].hp > 10 ? "healthy" : "wounded"`,
    }, a.token);
  }
  for (let m = 0; m < 200; m++) {
    const a = agents[m % 50];
    await invokeMust(room, "_send_message", {
      body: `message ${m} from ${a.id}: ${"lorem ipsum ".repeat(4)}`,
    }, a.token);
  }
  const path = `/rooms/${enc(room.id)}/context`;
  const probe = await must("GET", path, { token: agents[0].token });
  const shape = {
    keys: Object.keys(probe.state?._shared ?? {}).length,
    views: Object.keys(probe.views ?? {}).length,
    agents: Object.keys(probe.agents ?? {}).length,
    messages: probe.messages?.recent?.length ?? probe.messages?.count,
  };
  note(`context as ${agents[0].id}: ${JSON.stringify(shape)}`);
  const cl = new Client(server.port);
  let bytes = 0;
  const r1 = await closedLoop({
    conc: 1,
    warm: CFG.warm,
    windows: CFG.ctxWindows,
    windowMs: CFG.ctxWindowMs,
    pid: server.pid,
    fn: (w) => cl.request(w, "GET", path, { token: agents[0].token }),
    onResult: (res) => (bytes = res.body.length),
  });
  bytes = new TextEncoder().encode(
    bytes ? (await api.request(0, "GET", path, { token: agents[0].token })).body : "",
  ).length;
  loopFigs("context_c1", r1, "req/s");
  fig("context_bytes", bytes, "bytes");
  const r16 = await closedLoop({
    conc: 16,
    warm: CFG.warm,
    windows: CFG.ctxWindows,
    windowMs: CFG.ctxWindowMs,
    pid: server.pid,
    fn: (w) => cl.request(w, "GET", path, { token: agents[w].token }),
  });
  loopFigs("context_c16", r16, "req/s");
  cl.close();
}

// ---------------------------------------------------------------- wait

async function benchWait() {
  let limit = 0;
  try {
    const out = new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).outputSync();
    limit = Number(new TextDecoder().decode(out.stdout).trim());
  } catch { /* unknown */ }
  const Ks = [1, 100, 500, 5000].filter((k) => {
    if (limit && limit !== Infinity && k + 200 > limit) {
      note(`wait: skipping K=${k}: open-file limit ${limit} (raise it with ulimit -n)`);
      return false;
    }
    return true;
  });
  for (const K of Ks) {
    const room = await createRoom(`${RUN}-wait${K}`);
    await invokeMust(room, "_set_state", { scope: "_shared", key: "flag", value: "idle" });
    const agents = await joinMany(room, K, "w");
    const conns = await pool(range(K), 64, () => Conn.open(server.port));
    const writer = await Conn.open(server.port);
    const lat: number[] = [];
    const fromSend: number[] = [];
    const writeMs: number[] = [];
    let woke = 0;
    let expected = 0;
    const rounds = CFG.waitRounds[K] ?? 1;
    for (let round = 1; round <= rounds; round++) {
      const cond = `state._shared.flag == "go-${round}"`;
      const rss0 = procRssMiB(server.pid);
      const q = `/rooms/${enc(room.id)}/wait?condition=${enc(cond)}&timeout=20000&include=state`;
      const pending = conns.map((c, i) => c.request("GET", q, { token: agents[i].token }));
      expected += K;
      // every waiter reported blocked (status "waiting") before the write
      const deadline = performance.now() + 20_000;
      for (;;) {
        const list = await must("GET", `/rooms/${enc(room.id)}/agents`, { token: room.token });
        const n = (list as { status: string }[]).filter((a) => a.status === "waiting").length;
        if (n >= K) break;
        if (performance.now() > deadline) {
          note(`wait K=${K}: only ${n} of ${K} blocked after 20 s; writing anyway`);
          break;
        }
        await sleep(K > 100 ? 50 : 5);
      }
      if (K === 5000 && round === 1) {
        await sleep(1500); // past the lazy presence flush of the 5,000 "waiting" statuses
        const c0 = procCpuMs(server.pid)!;
        const t0 = performance.now();
        await sleep(CFG.idleMs);
        const cpu = ((procCpuMs(server.pid)! - c0) / (performance.now() - t0)) * 100;
        const rss = procRssMiB(server.pid)!;
        fig("wait_idle_k5000_server_cpu", cpu, "%core");
        fig("wait_idle_k5000_rss", rss, "MiB");
        fig("wait_idle_k5000_rss_delta", rss - (rss0 ?? rss), "MiB");
      } else await sleep(K === 1 ? 2 + Math.random() * 10 : 50);
      const w = await writer.request("POST", `/rooms/${enc(room.id)}/actions/_set_state/invoke`, {
        token: room.token,
        body: { params: { scope: "_shared", key: "flag", value: `go-${round}` } },
      });
      if (!ok(w)) throw new Error(`wait: flag write failed ${w.status} ${w.body.slice(0, 200)}`);
      writeMs.push(w.t1 - w.t0);
      const results = await Promise.all(pending);
      for (const res of results) {
        if (ok(res) && JSON.parse(res.body).triggered === true) {
          woke++;
          lat.push(res.t1 - w.t1);
          fromSend.push(res.t1 - w.t0);
        }
      }
    }
    for (const c of conns) c.close();
    writer.close();
    const s = summary(lat);
    fig(`wait_k${K}_p50`, s.p50, "ms");
    fig(`wait_k${K}_p99`, s.p99, "ms");
    fig(`wait_k${K}_max`, s.max, "ms");
    fig(`wait_k${K}_woke`, woke, `of ${expected}`);
    // waiters are woken right after the commit, before the writer's own response is sent, so the figures
    // above are often negative; these count from the moment the write was sent (an upper bound)
    const fs = summary(fromSend);
    fig(`wait_k${K}_from_send_p50`, fs.p50, "ms");
    fig(`wait_k${K}_from_send_p99`, fs.p99, "ms");
    fig(`wait_k${K}_write_ms`, median(writeMs), "ms");
    if (woke !== expected) fail(`wait K=${K}: only ${woke} of ${expected} waiters woke`);
  }
}

// ---------------------------------------------------------------- aging

async function benchAging() {
  const ir = await bumpRoom("aging", 64);
  const fresh = await bumpLoop(ir, 16, CFG.windows, "f");
  fig("aging_fresh_c16_rps", fresh.rps, "inv/s");
  fig("aging_fresh_c16_server_us_per_req", (fresh.cpu / 100) * 1e6 / fresh.rps, "µs");
  // fill the room: N invocations at c64, real invocations (predicate, increment, message append, audit row)
  const cl = new Client(server.port);
  const path = `/rooms/${enc(ir.room.id)}/actions/bump/invoke`;
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const target = CFG.agingN - ir.acked.length;
  await Promise.all(
    range(64).map(async (w) => {
      while (next < target) {
        const s = next++;
        const r = await cl.request(w, "POST", path, {
          token: ir.agents[w].token,
          body: { params: { note: `p${s}` } },
        });
        if (ok(r)) ir.acked.push(`p${s}`);
        else errors++;
      }
    }),
  );
  cl.close();
  const fillRate = (target / (performance.now() - t0)) * 1000;
  fig("aging_fill_c64_rps", fillRate, "inv/s");
  fig("aging_fill_errors", errors, "requests");
  const aged = await bumpLoop(ir, 16, CFG.windows, "a");
  fig("aging_invocations_before", CFG.agingN, "invocations");
  fig("aging_after_c16_rps", aged.rps, "inv/s");
  fig("aging_after_c16_p99", aged.p99, "ms");
  fig("aging_after_c16_server_us_per_req", (aged.cpu / 100) * 1e6 / aged.rps, "µs");
  fig("aging_ratio", aged.rps / fresh.rps, "after/fresh");
  fig(
    "aging_cost_ratio",
    val("aging_fresh_c16_server_us_per_req") / val("aging_after_c16_server_us_per_req"),
    "fresh/after server µs per invocation",
  );
  fig("aging_server_rss", procRssMiB(server.pid) ?? NaN, "MiB");
  await verifyHttp(ir, false);
  checkedRooms.push(ir);
}

// ---------------------------------------------------------------- rooms

async function benchRooms() {
  await sleep(500);
  const before = procRssMiB(server.pid) ?? NaN;
  const N = CFG.rooms;
  const cl = new Client(server.port);
  let errors = 0;
  const lat: number[] = [];
  const c0 = procCpuMs(server.pid);
  const t0 = performance.now();
  await pool(range(N), CFG.roomConc, async (i, w) => {
    const id = `${RUN}-r${pad(i, 5)}`;
    for (
      const [p, body] of [["/rooms", { id }], [`/rooms/${id}/agents`, { id: "alice" }], [
        `/rooms/${id}/agents`,
        { id: "bob" },
      ]] as const
    ) {
      const r = await cl.request(w, "POST", p, { body });
      lat.push(r.t1 - r.t0);
      if (!ok(r)) errors++;
    }
  });
  const secs = (performance.now() - t0) / 1000;
  const cpu = ((procCpuMs(server.pid)! - c0!) / (secs * 1000)) * 100;
  cl.close();
  const s = summary(lat);
  fig("rooms_count", N, "rooms");
  fig("rooms_rate", N / secs, "rooms/s");
  fig("rooms_req_p50", s.p50, "ms");
  fig("rooms_req_p99", s.p99, "ms");
  fig("rooms_errors", errors, "requests");
  fig("rooms_server_cpu", cpu, "%core");
  fig("rooms_server_us_per_room", (cpu / 100) * 1e6 / (N / secs), "µs");
  await sleep(1000);
  fig("rooms_rss_before", before, "MiB");
  fig("rooms_rss_after", procRssMiB(server.pid) ?? NaN, "MiB");
  if (errors) fail(`rooms: ${errors} requests failed`);
}

// ---------------------------------------------------------------- game (issue 9)

async function benchGame() {
  const file = new URL("./game.ts", import.meta.url);
  try {
    await Deno.stat(file);
  } catch {
    note("game: bench/game.ts not present; skipped");
    return;
  }
  const mod = await import(file.href);
  if (typeof mod.runGame !== "function") {
    note("game: bench/game.ts exports no runGame; skipped");
    return;
  }
  const out = await mod.runGame(`http://127.0.0.1:${server.port}`) as Record<string, number>;
  for (const [k, v] of Object.entries(out)) fig(k.startsWith("game_") ? k : `game_${k}`, Number(v), "");
}

// ---------------------------------------------------------------- ratios and targets

function ratios() {
  const r = (name: string, num: number, den: number) => {
    if (Number.isFinite(num) && Number.isFinite(den) && den) fig(name, num / den, "of ceiling");
  };
  const commit = val("ceiling_libsql_commit_rps");
  for (const c of [1, 16, 64]) {
    r(`invoke_c${c}_rps_of_http`, val(`invoke_c${c}_rps`), val(`ceiling_http_c${c}_rps`));
    r(`invoke_c${c}_rps_of_libsql`, val(`invoke_c${c}_rps`), commit);
  }
  r("invoke_c1_p50_of_http", val("ceiling_http_c1_p50"), val("invoke_c1_p50"));
  r("setstate_c16_rps_of_http", val("setstate_c16_rps"), val("ceiling_http_c16_rps"));
  r("setstate_c16_rps_of_libsql", val("setstate_c16_rps"), commit);
  r("context_c1_p50_of_http", val("ceiling_http_c1_p50"), val("context_c1_p50"));
  r("context_c16_rps_of_http", val("context_c16_rps"), val("ceiling_http_c16_rps"));
  r("wait_k1_p50_of_http", val("ceiling_http_c1_p50"), val("wait_k1_p50"));
  // a room with two agents is three requests and three commits
  r("rooms_rate_of_http", val("rooms_rate") * 3, val("ceiling_http_c16_rps"));
  r("rooms_rate_of_libsql", val("rooms_rate") * 3, commit);
}

type Target = { figure: string; op: "<=" | ">="; limit: number; text: string };
const TARGETS: Target[] = [
  { figure: "invoke_c16_rps", op: ">=", limit: 3000, text: "invoke c16 >= 3,000/s" },
  { figure: "invoke_c64_rps", op: ">=", limit: 3000, text: "invoke c64 >= 3,000/s" },
  { figure: "invoke_c16_p99", op: "<=", limit: 50, text: "invoke c16 p99 <= 50 ms" },
  { figure: "invoke_c64_p99", op: "<=", limit: 50, text: "invoke c64 p99 <= 50 ms" },
  { figure: "invoke_c1_errors", op: "<=", limit: 0, text: "invoke c1 zero errors" },
  { figure: "invoke_c16_errors", op: "<=", limit: 0, text: "invoke c16 zero errors" },
  { figure: "invoke_c64_errors", op: "<=", limit: 0, text: "invoke c64 zero errors" },
  { figure: "setstate_c16_rps", op: ">=", limit: 4000, text: "_set_state c16 >= 4,000/s" },
  { figure: "context_c1_p50", op: "<=", limit: 1.5, text: "/context p50 <= 1.5 ms" },
  { figure: "context_c1_p99", op: "<=", limit: 5, text: "/context p99 <= 5 ms" },
  { figure: "wait_k1_p50", op: "<=", limit: 2, text: "/wait wake p50 <= 2 ms with 1 waiter" },
  { figure: "wait_k500_p99", op: "<=", limit: 50, text: "500 waiters wake with p99 <= 50 ms" },
  {
    figure: "wait_idle_k5000_server_cpu",
    op: "<=",
    limit: 1,
    text: "5,000 idle waiters: no CPU (<= 1 %core)",
  },
  { figure: "wait_idle_k5000_rss_delta", op: "<=", limit: 100, text: "5,000 idle waiters: <= 100 MB RSS" },
  { figure: "rooms_rate", op: ">=", limit: 2000, text: "rooms created >= 2,000/s" },
  { figure: "rooms_rss_after", op: "<=", limit: 200, text: "RSS after the rooms <= 200 MB" },
  { figure: "aging_ratio", op: ">=", limit: 0.9, text: "after 100k invocations within 10 % of fresh" },
  {
    figure: "leases_other_room_p99",
    op: "<=",
    limit: 100,
    text: "10,000 leases lapsing at once: another room's p99 <= 100 ms",
  },
  {
    figure: "webhooks_one_of_none",
    op: ">=",
    limit: 0.9,
    text: "invoke c16 with one webhook within 10 % of none",
  },
  { figure: "correctness_failures", op: "<=", limit: 0, text: "zero lost writes" },
  { figure: "history_page100_c1_p50", op: "<=", limit: 5, text: "GET /history?limit=100 p50 <= 5 ms" },
  { figure: "history_context_at_c1_p50", op: "<=", limit: 20, text: "/context?at= p50 <= 20 ms" },
];

function verdicts() {
  const out: Record<string, string> = {};
  for (const t of TARGETS) {
    const v = val(t.figure);
    const met = Number.isFinite(v) && (t.op === ">=" ? v >= t.limit : v <= t.limit);
    out[t.text] = Number.isFinite(v) ? (met ? "met" : "missed") : "not measured";
    console.log(`# target ${t.text}: ${out[t.text]} (${t.figure} = ${v})`);
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const started = new Date();
  const t0 = performance.now();
  const cpuModel = (() => {
    try {
      return Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown";
    } catch {
      return "unknown";
    }
  })();
  const machine = {
    cpus: navigator.hardwareConcurrency,
    cpu: cpuModel,
    deno: Deno.version.deno,
    os: Deno.build.os,
  };
  note(
    `agent-sync bench ${RUN} (${
      QUICK ? "quick" : "full"
    }) on ${machine.cpus} × ${machine.cpu}, deno ${machine.deno}`,
  );

  if (want("ceiling")) await section("ceiling", benchCeilings);

  const dir = await Deno.makeTempDir({ prefix: "agent-sync-bench-" });
  const dbPath = `${dir}/sync.db`;
  const mainSections: [string, () => Promise<void>][] = [
    ["invoke", benchInvoke],
    ["setstate", benchSetState],
    ["context", benchContext],
    ["wait", benchWait],
    ["aging", benchAging],
    ["game", benchGame],
    ["leases", () =>
      benchLeases({
        port: server.port,
        pid: server.pid,
        run: RUN,
        quick: QUICK,
        windows: CFG.windows,
        windowMs: CFG.windowMs,
        warm: CFG.warm,
        must,
        createRoom,
        joinMany,
        invokeMust,
        fig,
        note,
        fail,
        loopFigs,
      })],
  ];
  if (mainSections.some(([n]) => want(n))) {
    server = await spawn("main.ts", { SYNC_DB_URL: `file:${dbPath}` }, profFlags());
    api = new Client(server.port);
    fig("server_rss_start", procRssMiB(server.pid) ?? NaN, "MiB");
    try {
      for (const [n, fn] of mainSections) if (want(n)) await section(n, fn);
      fig("server_rss_end", procRssMiB(server.pid) ?? NaN, "MiB");
    } finally {
      api.close();
      await server.stop(PROFILE ? "SIGTERM" : "SIGKILL");
    }
    if (checkedRooms.length) await verifyDb(dbPath);
  }
  if (want("webhooks")) {
    // a server of its own: private targets allowed (the receiver is on loopback), nothing else in it; the
    // load outruns one receiver on purpose, so its backlog may pass the default bound
    server = await spawn("main.ts", {
      SYNC_DB_URL: `file:${dir}/webhooks.db`,
      SYNC_WEBHOOK_ALLOW_PRIVATE: "1",
      SYNC_WEBHOOK_MAX_PENDING: "10000000",
    }, profFlags());
    api = new Client(server.port);
    try {
      await section("webhooks", () =>
        benchWebhooks({
          quick: QUICK,
          serverPort: server.port,
          serverPid: server.pid,
          spawn: (script, env) => spawn(script, env),
          bumpRoom,
          bumpLoop: (room, conc, tag) => bumpLoop(room as InvokeRoom, conc, CFG.windows, tag),
          verifyHttp: (room) => verifyHttp(room as InvokeRoom),
          invoke: (room, action, params) => invokeMust(room.room, action, params),
          fig,
          note,
          fail,
        }));
    } finally {
      api.close();
      await server.stop();
    }
  }
  if (want("rooms")) {
    // a fresh server, so the RSS is that of the rooms and not of the sections before
    server = await spawn("main.ts", { SYNC_DB_URL: `file:${dir}/rooms.db` }, profFlags());
    api = new Client(server.port);
    try {
      await section("rooms", benchRooms);
    } finally {
      api.close();
      await server.stop();
    }
  }
  if (want("history")) {
    // its own servers and file: it stops them to measure the storage each commit took
    await section("history", () =>
      benchHistory({
        spawn: (env) => spawn("main.ts", env, profFlags()),
        fig,
        note,
        fail,
        loopFigs,
        bump: BUMP,
        cfg: { warm: CFG.warm, windows: CFG.windows, windowMs: CFG.windowMs, commits: CFG.historyCommits },
      }));
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});

  ratios();
  fig("correctness_failures", failures, "checks");
  fig("run_time", (performance.now() - t0) / 1000, "s");
  const targets = verdicts();
  const flat = Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.value]));
  const units = Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.unit]));
  const out = {
    date: started.toISOString(),
    mode: QUICK ? "quick" : "full",
    machine,
    figures: flat,
    units,
    targets,
    notes,
  };
  if (JSON_OUT) await Deno.writeTextFile(JSON_OUT, JSON.stringify(out, null, 2) + "\n");
  console.log(JSON.stringify(out));
  if (failures) Deno.exitCode = 2;
}

/** The server's flags: those of `deno task start` (a smaller V8 young generation), plus profiling if asked. */
function profFlags(): string[] {
  return [START_V8_FLAGS, ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : [])];
}

/** Kept equal to the `start` task in deno.json. */
const START_V8_FLAGS = "--v8-flags=--max-semi-space-size=8";

async function section(name: string, fn: () => Promise<void>) {
  const t = performance.now();
  try {
    await fn();
  } catch (e) {
    fail(`${name} section aborted: ${(e as Error).stack ?? e}`);
  }
  note(`${name} section took ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

await main();
