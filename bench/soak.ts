/**
 * `deno task soak` — the robustness tests at a larger scale, with figures printed: SIGKILL crash cycles,
 * two processes on one file, 2,000 idle waiters plus slow partial requests, expensive CEL next to a calm
 * room (p99), and a long fast-check run. Scale with SOAK_SCALE (default 1). Loopback only.
 */
import { client, http, type Res, startServer } from "../tests/_server.ts";
import {
  type Ack,
  driveBumps,
  integrityCheck,
  setUpBumpRoom,
  spawnServer,
  verifyBumpRoom,
} from "../tests/robust/_proc.ts";

const SCALE = Number(Deno.env.get("SOAK_SCALE") ?? 1);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}
const f1 = (x: number) => x.toFixed(1);

async function crashCycles() {
  const cycles = 10 * SCALE;
  const dir = await Deno.makeTempDir({ prefix: "soak-crash-" });
  const dbPath = `${dir}/sync.db`;
  let srv = await spawnServer(dbPath);
  const { room, tokens } = await setUpBumpRoom(srv.base, 8);
  let startAt: Record<string, number> = Object.fromEntries(Object.keys(tokens).map((a) => [a, 0]));
  const acks: Ack[] = [];
  const restarts: number[] = [];
  let committed = 0;
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) {
    const stop = { now: false };
    const load = driveBumps(srv.base, room.id, tokens, startAt, stop);
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 1300));
    await srv.kill("SIGKILL");
    stop.now = true;
    acks.push(...await load);
    const r0 = performance.now();
    srv = await spawnServer(dbPath);
    restarts.push(performance.now() - r0);
    const v = await verifyBumpRoom(srv.base, room.id, room.token, acks);
    committed = v.bumps;
    startAt = { ...startAt, ...v.lastN };
  }
  const secs = (performance.now() - t0) / 1000;
  await srv.kill("SIGTERM");
  const integrity = await integrityCheck(dbPath);
  await Deno.remove(dir, { recursive: true });
  console.log(
    `crash: ${cycles} SIGKILL cycles, 8 agents: ${acks.length} acknowledged, ${committed} committed ` +
      `(${committed - acks.length} committed but unacknowledged at a kill), 0 lost; ` +
      `restart+verify p50 ${f1(pct(restarts, 50))} ms; ${
        f1(committed / secs)
      } bumps/s overall; integrity ${integrity}`,
  );
}

async function twoProcesses() {
  const dir = await Deno.makeTempDir({ prefix: "soak-two-" });
  const dbPath = `${dir}/sync.db`;
  const env = { SYNC_PEER_POLL_MS: "50" };
  const [a, b] = await Promise.all([spawnServer(dbPath, env), spawnServer(dbPath, env)]);
  try {
    const A = client(a.base), B = client(b.base);
    const room = await A.createRoom("duo");
    const alice = await A.join(room.id, "alice");
    const bob = await B.join(room.id, "bob");
    await A.ok(room.id, room.token, "_register_action", {
      id: "inc",
      writes: [{ scope: "_shared", key: "count", increment: 1 }],
    });
    const n = 2000 * SCALE;
    const t0 = performance.now();
    let failed = 0;
    const clients = [[A, alice], [B, alice], [A, bob], [B, bob]] as const;
    await Promise.all(clients.map(async ([srv, tok]) => {
      for (let i = 0; i < n / 4; i++) {
        const r = await srv.invoke(room.id, tok, "inc");
        if (r.status !== 200 && failed++ < 3) {
          console.log(`increment failed: ${r.status} ${r.text.slice(0, 300)}`);
        }
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    const count =
      (await B.http("GET", "/rooms/duo/state?scope=_shared&key=count", { token: room.token })).json.value;
    const wakes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const cond = encodeURIComponent(`state._shared.flag == ${i}`);
      const waiting = A.http("GET", `/rooms/duo/wait?condition=${cond}&timeout=5000&include=state`, {
        token: bob,
      });
      while (!/^agent_sync_waiters 1$/m.test((await A.http("GET", "/metrics")).text)) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const w0 = performance.now();
      await B.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "flag", value: i });
      const w = await waiting;
      if (w.json?.triggered) wakes.push(performance.now() - w0);
    }
    console.log(
      `two processes: ${n} increments through both in ${f1(secs)} s (${
        f1(n / secs)
      }/s), counter ${count}, ${failed} failed; ` +
        `cross-process /wait wake-up p50 ${f1(pct(wakes, 50))} ms, max ${
          f1(Math.max(...wakes))
        } ms (${wakes.length}/20 woke)`,
    );
  } catch (e) {
    console.log(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
    throw e;
  } finally {
    await a.kill("SIGTERM");
    await b.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
}

async function idleWaiters() {
  await using s = await startServer({ limits: { rateLimitPerSec: 0 } });
  const c = client(s.base);
  const room = await c.createRoom("idle");
  const bob = await c.join(room.id, "bob");
  const rss0 = Deno.memoryUsage().rss;
  const ac = new AbortController();
  const n = 2000 * SCALE;
  const waits: Promise<Res | undefined>[] = [];
  for (let i = 0; i < n; i++) {
    waits.push(
      c.http(
        "GET",
        `/rooms/idle/wait?condition=${encodeURIComponent("state._shared.go == true")}&timeout=25000`,
        {
          token: room.token,
          signal: ac.signal,
        },
      ).catch(() => undefined),
    );
  }
  const u = new URL(s.base);
  const slow: Deno.TcpConn[] = [];
  for (let i = 0; i < 50; i++) {
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    await conn.write(
      new TextEncoder().encode(
        `POST /rooms HTTP/1.1\r\nhost: ${u.host}\r\ncontent-length: 100000\r\n\r\n{"id"`,
      ),
    );
    slow.push(conn);
  }
  while (!new RegExp(`^agent_sync_waiters ${n}$`, "m").test((await http(s.base, "GET", "/metrics")).text)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const other = await c.createRoom("other");
  const carol = await c.join(other.id, "carol");
  const lat: number[] = [];
  const otherLat: number[] = [];
  for (let i = 0; i < 300; i++) {
    let t0 = performance.now();
    await c.ok(room.id, bob, "_set_state", { key: `k${i % 20}`, value: i });
    lat.push(performance.now() - t0);
    t0 = performance.now();
    await c.ok(other.id, carol, "_set_state", { key: `k${i % 20}`, value: i });
    otherLat.push(performance.now() - t0);
  }
  const rss1 = Deno.memoryUsage().rss;
  const w0 = performance.now();
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "go", value: true });
  const woken = (await Promise.all(waits)).filter((r) => r?.json?.triggered).length;
  const wakeAll = performance.now() - w0;
  ac.abort();
  for (const conn of slow) conn.close();
  console.log(
    `idle: ${n} blocked waiters + 50 slow partial requests: writes in another room p50 ${
      f1(pct(otherLat, 50))
    } ms, ` +
      `p99 ${f1(pct(otherLat, 99))} ms; writes in the waiters' room (each re-checks ${n} conditions) ` +
      `p50 ${f1(pct(lat, 50))} ms, p99 ${f1(pct(lat, 99))} ms; rss +${
        f1((rss1 - rss0) / 1048576)
      } MiB (test client included); ` +
      `one write woke ${woken}/${n} in ${f1(wakeAll)} ms`,
  );
}

async function expensiveCel() {
  for (const attackers of [1, 4]) await expensiveCelWith(attackers);
}

async function expensiveCelWith(attackerCount: number) {
  await using s = await startServer({ limits: { rateLimitPerSec: 0 } });
  const c = client(s.base);
  const hot = await c.createRoom("hot");
  await c.ok(hot.id, hot.token, "_set_state", {
    scope: "_shared",
    key: "big",
    value: Array.from({ length: 1000 }, (_, i) => i),
  });
  const calm = await c.createRoom("calm");
  const bob = await c.join(calm.id, "bob");
  await c.ok(calm.id, bob, "_set_state", { key: "hp", value: 1 });
  const stop = { now: false };
  let limited = 0;
  // each attacker with a token of its own (a token that hit the limit waits out a penalty second)
  const tokens = await Promise.all(
    Array.from({ length: attackerCount }, (_, i) => c.join(hot.id, `attacker-${i}`)),
  );
  const attackers = tokens.map(async (token) => {
    while (!stop.now) {
      const r = await c.http("POST", "/rooms/hot/eval", {
        token,
        body: {
          expr: "state._shared.big.map(x, state._shared.big.map(y, string(x) + string(y))).size() > 0",
        },
      });
      if (r.json?.error === "cel_limit") limited++;
    }
  });
  const lat: number[] = [];
  let ok = 0;
  const t0all = performance.now();
  for (let i = 0; i < 400 * SCALE || performance.now() - t0all < 3000 * SCALE; i++) {
    const t0 = performance.now();
    const r = await c.http("GET", "/rooms/calm/context", { token: bob });
    lat.push(performance.now() - t0);
    if (r.status === 200) ok++;
  }
  stop.now = true;
  await Promise.all(attackers);
  console.log(
    `expensive CEL: ${limited} evaluations cut off with cel_limit by ${attackerCount} concurrent attacker(s); calm room /context ${ok}/${lat.length} ok, ` +
      `p50 ${f1(pct(lat, 50))} ms, p99 ${f1(pct(lat, 99))} ms`,
  );
}

async function fuzz() {
  const runs = 3000 * SCALE;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", new URL("../tests/robust/fuzz_test.ts", import.meta.url).pathname],
    env: { FUZZ_RUNS: String(runs) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  // deno-lint-ignore no-control-regex -- strip terminal colours from the runner's summary line
  const summary = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n").find((l) => /passed.*failed/.test(l)) ??
    "no summary";
  console.log(
    `fuzz: ${runs} random requests per property: ${summary.trim()} in ${
      f1((performance.now() - t0) / 1000)
    } s`,
  );
  if (!out.success) console.log(text.slice(-4000));
}

const only = Deno.args[0];
const parts: [string, () => Promise<void>][] = [
  ["crash", crashCycles],
  ["two", twoProcesses],
  ["idle", idleWaiters],
  ["cel", expensiveCel],
  ["fuzz", fuzz],
];
for (const [name, run] of parts) if (!only || only === name) await run();
