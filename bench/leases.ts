/**
 * @module bench/leases — the `leases` section of `deno task bench`: 10,000 leases of one room lapse in the
 * same second (each with an `on_expire` of two writes) while another room is invoked in a closed loop — its
 * p99 must stay under 100 ms, and every expiry must run exactly once — and invoke throughput of an action
 * whose write renews a lease, beside the plain bump of the `invoke` section.
 */
import { Client, closedLoop, type LoopResult, pool, type Res, sleep, summary } from "./_load.ts";

type Room = { id: string; token: string };
type Agent = { id: string; token: string };

/** What the section needs of bench.ts (its server, its helpers, its output). */
export type LeaseBenchEnv = {
  port: number;
  pid: number;
  run: string;
  quick: boolean;
  windows: number;
  windowMs: number;
  warm: number;
  // deno-lint-ignore no-explicit-any -- JSON answers
  must(method: string, path: string, opts?: { token?: string; body?: unknown }): Promise<any>;
  createRoom(id: string): Promise<Room>;
  joinMany(room: Room, n: number, prefix: string): Promise<Agent[]>;
  // deno-lint-ignore no-explicit-any -- JSON answers
  invokeMust(room: Room, action: string, params: unknown, token?: string): Promise<any>;
  fig(name: string, value: number, unit: string): void;
  note(msg: string): void;
  fail(msg: string): void;
  loopFigs(prefix: string, r: LoopResult, unit: string): void;
};

const enc = encodeURIComponent;
const ok = (r: Res) => r.status >= 200 && r.status < 300;
const BATCH = 20;

/** The bump of the `invoke` section, and the same with a write that renews the invoker's own lease. */
const BUMP = {
  id: "bump",
  params: { note: { type: "string" } },
  writes: [{ scope: "_shared", key: "counter", increment: true, value: 1 }],
};
const BUMP_LEASED = {
  id: "bump_leased",
  params: { note: { type: "string" } },
  writes: [
    { scope: "_shared", key: "counter", increment: true, value: 1 },
    { scope: "_work", key: "${self}", value: "${params.note}", lease: { ttl_ms: 60_000 } },
  ],
};

export async function benchLeases(env: LeaseBenchEnv) {
  await lapseUnderLoad(env);
  await leasedInvokes(env);
}

/** 10,000 leases of room L lapse within one second; room B is invoked all along. */
async function lapseUnderLoad(env: LeaseBenchEnv) {
  const N = env.quick ? 2000 : 10_000;
  const L = await env.createRoom(`${env.run}-lapse`);
  const B = await env.createRoom(`${env.run}-other`);
  await env.invokeMust(B, "_register_action", BUMP);
  const agents = await env.joinMany(B, 4, "b");
  // every lease lapses at `target`: each batch asks for the ttl left until then
  const setupMs = env.quick ? 6000 : 15_000;
  const target = Date.now() + setupMs;
  const onExpire = [
    { scope: "_tasks", key: "${key}", merge: { back: true, epoch: "${epoch}" } },
    { scope: "_stats", key: "expired", increment: 1 },
  ];
  const cl = new Client(env.port);
  const t0 = performance.now();
  await pool(Array.from({ length: N / BATCH }, (_, b) => b), 8, async (b, w) => {
    const writes = Array.from({ length: BATCH }, (_, i) => ({
      scope: "_tasks",
      key: `t${b * BATCH + i}`,
      value: { n: b * BATCH + i },
      lease: { ttl_ms: Math.max(500, target - Date.now()), on_expire: onExpire },
    }));
    const r = await cl.request(w, "POST", `/rooms/${enc(L.id)}/actions/_batch_set_state/invoke`, {
      token: L.token,
      body: { params: { writes } },
    });
    if (!ok(r)) throw new Error(`lease setup: ${r.status} ${r.body.slice(0, 200)}`);
  });
  const setup = performance.now() - t0;
  env.fig("leases_setup_per_s", N / (setup / 1000), "leases/s");
  if (Date.now() > target - 1000) env.note(`leases: setup took ${setup.toFixed(0)} ms, close to the lapse`);
  await sleep(Math.max(0, target - Date.now() - 1500));

  // room B in a closed loop from 1.5 s before the lapse until well after it
  const lat: { t: number; ms: number }[] = [];
  let errors = 0;
  const bump = `/rooms/${enc(B.id)}/actions/bump/invoke`;
  const loop = closedLoop({
    conc: 4,
    warm: 0,
    windows: env.quick ? 5 : 8,
    windowMs: 1000,
    pid: env.pid,
    fn: (w, s) =>
      cl.request(8 + w, "POST", bump, { token: agents[w].token, body: { params: { note: `n${s}` } } }),
    onResult: (r) => {
      if (!ok(r)) errors++;
      lat.push({ t: r.t0, ms: r.t1 - r.t0 });
    },
  });
  // …and how long until every expiry has run
  let expired = 0;
  let allAt = NaN;
  const deadline = target + 60_000;
  while (Date.now() < deadline) {
    const st = await env.must("GET", `/rooms/${enc(L.id)}/state?scope=_stats&key=expired`, { token: L.token })
      .catch(() => undefined);
    expired = Number(st?.value ?? 0);
    if (expired >= N) {
      allAt = Date.now() - target;
      break;
    }
    await sleep(20);
  }
  const r = await loop;
  cl.close();
  const during = summary(lat.map((x) => x.ms));
  if (Deno.env.get("LEASES_DEBUG")) {
    const targetPerf = performance.now() + (target - Date.now());
    const slow = lat.filter((x) => x.ms > 50).map((x) =>
      `${(x.t - targetPerf).toFixed(0)}ms:${x.ms.toFixed(0)}`
    );
    env.note(`slow requests (start relative to the lapse: duration): ${slow.join(" ")}`);
  }
  env.fig("leases_lapsed", N, "leases");
  env.fig("leases_expiry_all_done_after", allAt, "ms after the lapse");
  env.fig("leases_other_room_p50", during.p50, "ms");
  env.fig("leases_other_room_p99", during.p99, "ms");
  env.fig("leases_other_room_max", during.max, "ms");
  env.fig("leases_other_room_worst_window_p99", Math.max(...r.windows.map((w) => w.p99)), "ms");
  env.fig("leases_other_room_rps", r.rps, "inv/s");
  env.fig("leases_other_room_errors", errors, "requests");
  await sleep(500); // anything still in flight lands before the count
  const st = await env.must("GET", `/rooms/${enc(L.id)}/state?scope=_stats&key=expired`, { token: L.token });
  const rows = await env.must("GET", `/rooms/${enc(L.id)}/state?scope=_tasks`, { token: L.token });
  const back = (rows as { value: { back?: boolean } }[]).filter((r) => r.value?.back === true).length;
  if (Number(st.value) !== N || back !== N) {
    env.fail(`leases: ${st.value} expiries counted and ${back} tasks put back for ${N} leases`);
  } else env.note(`leases: all ${N} expiries ran exactly once`);
}

/** Invoke throughput with a write that renews the invoker's lease, next to the plain bump. */
async function leasedInvokes(env: LeaseBenchEnv) {
  for (const [name, action] of [["plain", BUMP], ["leased", BUMP_LEASED]] as const) {
    const room = await env.createRoom(`${env.run}-inv-${name}`);
    await env.invokeMust(room, "_register_action", action);
    const agents = await env.joinMany(room, 16, "a");
    const cl = new Client(env.port);
    const path = `/rooms/${enc(room.id)}/actions/${action.id}/invoke`;
    const r = await closedLoop({
      conc: 16,
      warm: env.warm,
      windows: env.windows,
      windowMs: env.windowMs,
      pid: env.pid,
      fn: (w, s) =>
        cl.request(w, "POST", path, { token: agents[w].token, body: { params: { note: `n${s}` } } }),
    });
    cl.close();
    env.loopFigs(`leases_invoke_${name}_c16`, r, "inv/s");
  }
}
