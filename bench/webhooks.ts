/**
 * @module bench/webhooks — the `webhooks` section of `deno task bench`: invoke throughput in a room with one
 * webhook against one without (alternating rounds, c16; target within 10 %), the same at c1 (where every
 * commit is delivered as it happens), every acknowledged invocation delivered, the engine's own CPU per invocation with and without the outbox (bench/_webhook_cost.ts), and
 * delivery latency from the commit's acknowledgement to the receiver (paced, one client).
 */
import { median, procCpuMs, summary } from "./_load.ts";

/** What the section needs of bench.ts: its helpers over the running server, and where figures go. */
export type WebhookBenchDeps = {
  quick: boolean;
  /** the server under test */
  serverPort: number;
  serverPid: number;
  spawn(script: string, env: Record<string, string>): Promise<{ port: number; stop(): Promise<void> }>;
  /** a bump room (as the invoke section's) with `agents` agents */
  bumpRoom(name: string, agents: number): Promise<BenchRoom>;
  /** runs bump at `conc` for the configured windows, tagging notes with `tag`; returns the loop's figures */
  bumpLoop(
    room: BenchRoom,
    conc: number,
    tag: string,
  ): Promise<{ rps: number; p99: number; cpu: number; errors: number }>;
  verifyHttp(room: BenchRoom): Promise<void>;
  invoke(room: BenchRoom, action: string, params: unknown): Promise<{ cursor: number }>;
  fig(name: string, value: number, unit: string): void;
  note(msg: string): void;
  fail(msg: string): void;
};
export type BenchRoom = { room: { id: string; token: string }; agents: { token: string }[]; acked: string[] };

type Arrival = { room: string; seq: number; delivery: string; t: number };
const epoch = () => performance.timeOrigin + performance.now();

export async function benchWebhooks(d: WebhookBenchDeps): Promise<void> {
  const rx = await d.spawn("bench/_webhook_receiver.ts", {});
  const base = `http://127.0.0.1:${rx.port}`;
  const arrivals = async (room: string): Promise<Arrival[]> =>
    await (await fetch(`${base}/arrivals?room=${encodeURIComponent(room)}`)).json();
  try {
    const hook = { id: "bench", url: `${base}/hook`, secret: "bench-secret-0123456789" };
    // rounds alternate between a room without and one with the webhook, so the machine's drift hits both
    // alike, and so does the order: the loop that runs second in a round inherits the first one's garbage
    // (with the outbox switched off, the second loop of each pair measured 10–30 % slower whichever it was),
    // so every other round runs the webhook room first, and every loop starts after the server went quiet.
    // Fresh rooms each round (a room holds at most SYNC_ROOM_MAX_MESSAGES, and every bump is one); after
    // the loop with the webhook its backlog drains (counted to its server CPU).
    const rounds = d.quick ? 2 : 4;
    const a: { rps: number; p99: number; cpu: number; errors: number }[] = [];
    const b: typeof a = [];
    const withDrain: number[] = [];
    const drains: number[] = [];
    let acked = 0, delivered = 0, disordered = 0;
    const quiet = () => new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < rounds; i++) {
      const none = await d.bumpRoom(`webhooks_none_r${i}`, 16);
      const one = await d.bumpRoom(`webhooks_one_r${i}`, 16);
      await d.invoke(one, "_register_webhook", hook);
      const runNone = async () => {
        await quiet();
        a.push(await d.bumpLoop(none, 16, `r${i}`));
      };
      const runOne = async () => {
        await quiet();
        const cpu0 = procCpuMs(d.serverPid) ?? NaN;
        b.push(await d.bumpLoop(one, 16, `r${i}`));
        const loopEnd = performance.now();
        let got: Arrival[] = [];
        while (performance.now() - loopEnd < 120_000) {
          got = await arrivals(one.room.id);
          if (new Set(got.map((x) => x.seq)).size >= one.acked.length) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        drains.push((performance.now() - loopEnd) / 1000);
        // server CPU from the loop's start to its last delivery, per invocation of the loop (the bench's
        // own reads of the receiver cost the server nothing)
        withDrain.push(((procCpuMs(d.serverPid) ?? NaN) - cpu0) * 1000 / one.acked.length);
        acked += one.acked.length;
        delivered += new Set(got.map((x) => x.seq)).size;
        disordered += got.filter((x, k) => k > 0 && x.seq < got[k - 1].seq).length;
      };
      if (i % 2 === 0) (await runNone(), await runOne());
      else (await runOne(), await runNone());
      await d.verifyHttp(none);
      await d.verifyHttp(one);
    }
    const rps = (xs: typeof a) => median(xs.map((x) => x.rps));
    const us = (xs: typeof a) => median(xs.map((x) => (x.cpu / 100) * 1e6 / x.rps));
    d.fig("webhooks_none_c16_rps", rps(a), "inv/s");
    d.fig("webhooks_one_c16_rps", rps(b), "inv/s");
    d.fig("webhooks_one_of_none", rps(b) / rps(a), "ratio");
    d.fig("webhooks_none_c16_p99", median(a.map((x) => x.p99)), "ms");
    d.fig("webhooks_one_c16_p99", median(b.map((x) => x.p99)), "ms");
    d.fig("webhooks_c16_errors", [...a, ...b].reduce((n, x) => n + x.errors, 0), "requests");
    d.fig("webhooks_none_server_us_per_req", us(a), "µs");
    d.fig("webhooks_one_server_us_per_req", us(b), "µs (during the load)");
    d.fig("webhooks_one_server_us_per_req_delivered", median(withDrain), "µs (load and its deliveries)");
    d.fig("webhooks_drain_s", median(drains), "s after each round");
    // every acknowledged invocation is delivered, in commit order
    d.fig("webhooks_delivered", delivered, `of ${acked} acknowledged`);
    if (delivered < acked) d.fail(`webhooks: ${acked - delivered} acknowledged invocations undelivered`);
    if (disordered) d.fail(`webhooks: ${disordered} deliveries out of commit order`);

    // one client: every commit is delivered as it happens (the thread is idle enough), so this is what a
    // delivery costs beside its commit
    const c1: { none: number[]; one: number[] } = { none: [], one: [] };
    for (let i = 0; i < (d.quick ? 1 : 2); i++) {
      const none = await d.bumpRoom(`webhooks_c1_none_r${i}`, 1);
      const one = await d.bumpRoom(`webhooks_c1_one_r${i}`, 1);
      await d.invoke(one, "_register_webhook", hook);
      for (
        const [room, into] of i % 2
          ? [[one, c1.one], [none, c1.none]] as const
          : [[none, c1.none], [one, c1.one]] as const
      ) {
        await quiet();
        into.push((await d.bumpLoop(room, 1, `c1r${i}`)).rps);
      }
      const end = performance.now();
      while (performance.now() - end < 60_000) {
        if (new Set((await arrivals(one.room.id)).map((x) => x.seq)).size >= one.acked.length) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const got = new Set((await arrivals(one.room.id)).map((x) => x.seq)).size;
      if (got < one.acked.length) {
        d.fail(`webhooks c1: ${one.acked.length - got} acknowledged invocations undelivered`);
      }
    }
    d.fig("webhooks_c1_none_rps", median(c1.none), "inv/s");
    d.fig("webhooks_c1_one_rps", median(c1.one), "inv/s");
    d.fig(
      "webhooks_c1_one_of_none",
      median(c1.one) / median(c1.none),
      "ratio (each commit delivered as it happens)",
    );

    // the engine alone, in processes of their own (no HTTP, no load generator on the thread): CPU per
    // invocation without a webhook, with the outbox only, with the delivery loop running; rounds alternate
    const cost: Record<string, number[]> = { none: [], staged: [], delivered: [] };
    for (let i = 0; i < (d.quick ? 2 : 3); i++) {
      for (const mode of Object.keys(cost)) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "bench/_webhook_cost.ts", mode, d.quick ? "8000" : "20000", String(rx.port)],
          stdout: "piped",
          stderr: "inherit",
        }).output();
        cost[mode].push(
          JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!).us_per_inv,
        );
      }
    }
    for (const [mode, xs] of Object.entries(cost)) {
      d.fig(`webhooks_engine_${mode}_us_per_inv`, median(xs), "µs");
    }
    d.fig(
      "webhooks_engine_outbox_us_per_inv",
      median(cost.staged) - median(cost.none),
      "µs (commit-time cost)",
    );

    // latency: one client, paced, so each delivery meets an idle loop
    const lat = await d.bumpRoom("webhooks_latency", 1);
    await d.invoke(lat, "_register_webhook", hook);
    const n = d.quick ? 200 : 1000;
    const sent = new Map<number, { send: number; ack: number }>();
    for (let i = 0; i < n; i++) {
      const send = epoch();
      const r = await fetch(`http://127.0.0.1:${d.serverPort}/rooms/${lat.room.id}/actions/bump/invoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${lat.agents[0].token}`, "content-type": "application/json" },
        body: JSON.stringify({ params: { note: `l${i}` } }),
      });
      const ack = epoch();
      const body = await r.json();
      if (r.status === 200) sent.set(body.cursor, { send, ack });
      await new Promise((res) => setTimeout(res, 3));
    }
    let arrived: Arrival[] = [];
    for (let i = 0; i < 200 && arrived.length < sent.size; i++) {
      arrived = await arrivals(lat.room.id);
      await new Promise((r) => setTimeout(r, 25));
    }
    const fromAck: number[] = [];
    const fromSend: number[] = [];
    for (const x of arrived) {
      const s = sent.get(x.seq);
      if (!s) continue;
      fromAck.push(x.t - s.ack);
      fromSend.push(x.t - s.send);
    }
    const sa = summary(fromAck), ss = summary(fromSend);
    d.fig("webhooks_latency_p50", sa.p50, "ms (commit acknowledged → receiver)");
    d.fig("webhooks_latency_p99", sa.p99, "ms");
    d.fig("webhooks_latency_from_send_p50", ss.p50, "ms (invoke sent → receiver)");
    d.fig("webhooks_latency_from_send_p99", ss.p99, "ms");
    d.note(`webhooks latency: ${arrived.length} of ${sent.size} paced invocations delivered`);
  } finally {
    await rx.stop();
  }
}
