/**
 * @module bench/webhook_burst — a fixed amount of work, to compare invoke throughput with one webhook and
 * without by alternated pairs (less sensitive to a noisy machine than one long loop):
 *   deno run -A bench/webhook_burst.ts [PAIRS=10] [N=10000] [CONC=16]
 * Each run starts `main.ts` on a temp database (abuse limits off), makes 2,000 warm-up `bump`s, waits 1 s,
 * then times N `bump`s over CONC agents (fetch, closed loop) in a room without a webhook, or with one whose
 * receiver (in this process) answers 204. Prints each run, then the medians: invocations/s, the median of the
 * pairs' ratios, server CPU per invocation during the load, and the deliveries made during it.
 */
const [pairsArg = "10", nArg = "10000", concArg = "16"] = Deno.args;
const PAIRS = Number(pairsArg), N = Number(nArg), CONC = Number(concArg);
const root = new URL("..", import.meta.url).pathname;

type Run = { mode: string; rps: number; us_per_inv: number; delivered_during: number };

async function run(mode: "plain" | "webhook"): Promise<Run> {
  const tmp = await Deno.makeTempDir({ prefix: "agent-sync-burst-" });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const srv = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", "--v8-flags=--max-semi-space-size=8", "main.ts"],
    cwd: root,
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      SYNC_DB_URL: `file:${tmp}/db.sqlite`,
      SYNC_WEBHOOK_ALLOW_PRIVATE: "1",
      SYNC_WEBHOOK_MAX_PENDING: "10000000",
      SYNC_RATE_LIMIT_PER_SEC: "0",
      SYNC_ROOM_MESSAGES_PER_SEC: "0",
      SYNC_ROOM_MAX_MESSAGES: "100000000",
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const cpuMs = () => {
    const f = Deno.readTextFileSync(`/proc/${srv.pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, at USER_HZ 100
  };
  const base = `http://127.0.0.1:${port}`;
  let received = 0;
  const rx = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    await req.arrayBuffer();
    received++;
    return new Response(null, { status: 204 });
  });
  try {
    for (let i = 0;; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch { /* not yet */ }
      if (i > 300) throw new Error("the server did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    const call = async (path: string, token: string | null, body: unknown) => {
      const r = await fetch(base + path, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      if (r.status >= 300) throw new Error(`${path}: ${r.status} ${text}`);
      return JSON.parse(text);
    };
    const room = await call("/rooms", null, {});
    const invoke = (token: string, action: string, params: unknown) =>
      call(`/rooms/${room.id}/actions/${action}/invoke`, token, { params });
    if (mode === "webhook") {
      await invoke(room.token, "_register_webhook", {
        id: "w",
        url: `http://127.0.0.1:${rx.addr.port}/hook`,
        secret: "0123456789abcdef0123",
      });
    }
    const agents: string[] = [];
    for (let i = 0; i < CONC; i++) {
      agents.push((await call(`/rooms/${room.id}/agents`, room.token, { id: `a${i}` })).token);
    }
    await invoke(room.token, "_register_action", {
      id: "bump",
      params: { note: { type: "string" } },
      writes: [
        { scope: "_shared", key: "counter", increment: true, value: 1 },
        {
          scope: "_messages",
          append: true,
          value: { from: "${self}", kind: "bench", body: "${params.note}" },
        },
      ],
    });
    const loop = async (n: number, tag: string) => {
      let k = 0;
      await Promise.all(agents.map(async (t) => {
        while (k < n) await invoke(t, "bump", { note: `${tag}${k++}` });
      }));
    };
    await loop(2000, "w");
    await new Promise((r) => setTimeout(r, 1000));
    const c0 = cpuMs(), t0 = performance.now(), r0 = received;
    await loop(N, "n");
    const ms = performance.now() - t0;
    return {
      mode,
      rps: Math.round(N / ms * 1000),
      us_per_inv: Math.round((cpuMs() - c0) * 1000 / N),
      delivered_during: received - r0,
    };
  } finally {
    srv.kill("SIGTERM");
    await srv.status;
    await rx.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const plain: Run[] = [], hooked: Run[] = [];
for (let i = 0; i < PAIRS; i++) {
  // alternate which goes first, so neither always inherits the other's leftovers
  for (const mode of (i % 2 ? ["webhook", "plain"] : ["plain", "webhook"]) as ("plain" | "webhook")[]) {
    const r = await run(mode);
    console.log(JSON.stringify(r));
    (mode === "plain" ? plain : hooked).push(r);
  }
}
const rps = (rs: Run[]) => median(rs.map((r) => r.rps));
console.log(JSON.stringify({
  pairs: PAIRS,
  n: N,
  conc: CONC,
  none_rps: rps(plain),
  one_rps: rps(hooked),
  one_of_none: +(rps(hooked) / rps(plain)).toFixed(3),
  median_pair_ratio: +median(plain.map((p, i) => hooked[i].rps / p.rps)).toFixed(3),
  none_us_per_inv: median(plain.map((r) => r.us_per_inv)),
  one_us_per_inv: median(hooked.map((r) => r.us_per_inv)),
  delivered_during: median(hooked.map((r) => r.delivered_during)),
}));
