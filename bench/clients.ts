/**
 * @module bench/clients — `deno run -A bench/clients.ts [--n 2000] [--rounds 10] [--httpx-n 200]`: what the
 * client libraries cost per call against raw HTTP. N sequential invocations of one durable action through
 * raw `fetch`, the TypeScript client, raw Python `http.client` on one keep-alive connection, the Python
 * client, and httpx as in the README's loop (with and without TCP_NODELAY), against a server it starts.
 */
import { Client } from "../clients/typescript/mod.ts";
import { spawnServer } from "../tests/robust/_proc.ts";

const args = Deno.args;
const arg = (name: string, d: number) => args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d;
const N = arg("--n", 2000);
const ROUNDS = arg("--rounds", 10);
/** httpx without TCP_NODELAY pays ~40 ms per POST: fewer calls say the same */
const HTTPX_N = arg("--httpx-n", 200);
const WARMUP = 50;
const ROOT = new URL("..", import.meta.url).pathname;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];

async function pythonWith(module: string): Promise<string | undefined> {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      const r = await new Deno.Command(py, {
        args: ["-c", `import ${module}`],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (r.success) return py;
    } catch { /* not there */ }
  }
}

const dir = await Deno.makeTempDir({ prefix: "agent-sync-bench-clients-" });
const server = await spawnServer(`${dir}/sync.db`, {
  SYNC_RATE_LIMIT_PER_SEC: "0",
  SYNC_ROOM_MESSAGES_PER_SEC: "0",
});
/** invocations made, warm-ups included: the counter must end there */
let made = 0;
const base = server.base;
const anon = new Client({ baseUrl: base });
const room = await anon.createRoom({ id: "bench-clients" });
await anon.withToken(room.token).invoke(room, "_register_action", {
  id: "bump",
  writes: [{ scope: "_shared", key: "counter", increment: true }],
});
const token = (await anon.join(room, "agent")).token;
const url = `${base}/rooms/${room.id}/actions/bump/invoke`;
const body = JSON.stringify({ params: {} });

/** One timed call per iteration, in µs. */
async function timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await call();
  made += WARMUP + n;
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    us.push((performance.now() - t0) * 1000);
  }
  return us;
}

function rawFetch(withKey: boolean) {
  return async () => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    };
    if (withKey) headers["idempotency-key"] = crypto.randomUUID();
    const res = await fetch(url, { method: "POST", headers, body });
    const json = await res.json();
    if (!res.ok) throw new Error(`${res.status} ${json.error}`);
    return json;
  };
}

const tsClient = new Client({ baseUrl: base, token });
const pyStd = await pythonWith("json");
const pyHttpx = await pythonWith("httpx");
// every Python figure from one interpreter, so their ratios compare like with like
const py = pyHttpx ?? pyStd;

async function python(mode: string, n: number): Promise<number[]> {
  const warmup = mode === "httpx" ? 5 : WARMUP;
  made += warmup + n;
  const out = await new Deno.Command(py!, {
    args: [`${ROOT}bench/_clients.py`, mode, base, room.id, token, String(n), String(warmup)],
    env: { PYTHONPATH: `${ROOT}clients/python`, PYTHONDONTWRITEBYTECODE: "1", NO_PROXY: "*", no_proxy: "*" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`python ${mode}: ${new TextDecoder().decode(out.stderr)}`);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  if (mode === "httpx_nodelay") howNoDelay = r.how;
  return r.us;
}
let howNoDelay = "";

type Variant = { name: string; n: number; run: (n: number) => Promise<number[]> };
const variants: Variant[] = [
  { name: "ts_raw_fetch", n: N, run: (n) => timed(n, rawFetch(false)) },
  { name: "ts_raw_fetch_key", n: N, run: (n) => timed(n, rawFetch(true)) },
  { name: "ts_client", n: N, run: (n) => timed(n, () => tsClient.invoke(room, "bump")) },
  {
    name: "ts_client_nokey",
    n: N,
    run: (n) => timed(n, () => tsClient.invoke(room, "bump", {}, { idempotencyKey: false })),
  },
];
if (py) {
  for (const m of ["raw", "raw_key", "client", "client_nokey"]) {
    variants.push({
      name: `py_${m}`,
      n: N,
      run: (n) => python(m, n),
    });
  }
}
if (pyHttpx) {
  variants.push({ name: "py_httpx", n: HTTPX_N, run: (n) => python("httpx", n) });
  variants.push({ name: "py_httpx_nodelay", n: N, run: (n) => python("httpx_nodelay", n) });
}

// rounds in rotating order, so a noisy moment of the shared machine does not land on one variant only
const us: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < variants.length; i++) {
    const v = variants[(i + r) % variants.length];
    us[v.name].push(...await v.run(Math.ceil(v.n / ROUNDS)));
  }
}

const counter = await anon.withToken(token).state(room, { scope: "_shared", key: "counter" }) as {
  value: number;
};
await server[Symbol.asyncDispose]();
await Deno.remove(dir, { recursive: true }).catch(() => {});
console.log(
  `# ${N} calls per variant in ${ROUNDS} rounds (httpx without TCP_NODELAY: ${HTTPX_N}); python: ${py}`,
);
console.log(
  `# counter ${counter.value}, invocations made ${made}${counter.value === made ? "" : " MISMATCH"}`,
);
const fig = (name: string) => median(us[name]);
const rows: [string, string, string][] = [
  ["ts_client", "ts_raw_fetch", "TS client / raw fetch"],
  ["ts_client", "ts_raw_fetch_key", "TS client / raw fetch with a key"],
  ["ts_client_nokey", "ts_raw_fetch", "TS client, idempotencyKey: false / raw fetch"],
  ["py_client", "py_raw", "Python client / raw http.client"],
  ["py_client", "py_raw_key", "Python client / raw http.client with a key"],
  ["py_client_nokey", "py_raw", "Python client, idempotency_key=False / raw http.client"],
  ["py_httpx", "py_raw", "httpx (README loop) / raw http.client"],
  ["py_httpx_nodelay", "py_raw", "httpx + TCP_NODELAY / raw http.client"],
];
for (const [name, xs] of Object.entries(us)) {
  console.log(
    `${name}: median ${fig(name).toFixed(0)} µs, p90 ${pct(xs, 0.9).toFixed(0)} µs, p99 ${
      pct(xs, 0.99).toFixed(0)
    } µs (n=${xs.length})`,
  );
}
if (howNoDelay) console.log(`# httpx TCP_NODELAY set through ${howNoDelay}`);
for (const [a, b, label] of rows) {
  if (us[a]?.length && us[b]?.length) console.log(`${label}: ${(fig(a) / fig(b)).toFixed(3)}`);
}
