/**
 * @module bench/attack — `deno run -A bench/attack.ts [--quick] [--resources] [--only PHASE,…]` (issue 12, not part of the tests): a calm
 * room's latency while another room attacks with each CEL class in turn, and the server's memory under each
 * resource attack. Starts its own server (main.ts, loopback, temp database), bounds every phase in time
 * and count, prints a table and one JSON line.
 */
import { client, http, type Res } from "../tests/_server.ts";
import { spawnServer } from "../tests/robust/_proc.ts";
import {
  chunkedFlood,
  connect,
  createCalmRoom,
  FIFTY_EXPR_WRITES,
  heavy,
  heavyRoom,
  httpWithin,
  mcpCallText,
  memoryMiB,
  MiB,
  requestHead,
  send,
  snapshot,
  snapshotMessages,
  tempDir,
} from "../tests/adversarial/_harness.ts";
import { Conn, summary } from "./_load.ts";

const QUICK = Deno.args.includes("--quick");
/** `--resources`: only the resource attacks (memory), none of the CEL phases */
const ONLY_RESOURCES = Deno.args.includes("--resources");
/** `--only redos,bucket`: only these CEL phases */
const ONLY = Deno.args.includes("--only") ? Deno.args[Deno.args.indexOf("--only") + 1].split(",") : undefined;
const PHASE_MS = QUICK ? 3000 : 10_000;
const CALM_PER_SEC = 20;
/** A request the server has not answered after this long counts as failed (the phase still ends). */
const REQUEST_TIMEOUT_MS = 30_000;
const CFG = QUICK
  ? { importMiB: 64, messages: 100, joins: 10, halfSent: 50, holdMs: 2500 }
  : { importMiB: 160, messages: 400, joins: 10, halfSent: 200, holdMs: 3000 };

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");

type CalmFigures = {
  invoke_p50: number;
  invoke_p99: number;
  context_p50: number;
  context_p99: number;
  calm_errors: number;
};
type PhaseResult = CalmFigures & {
  phase: string;
  attack_requests: number;
  attack_statuses: Record<string, number>;
};

/**
 * The calm room: 20 invocations per second, each followed by a /context read, on a fixed schedule (a stalled
 * server delays the next ones: latency is measured from when each request was due).
 */
async function calmLoad(base: string, room: { id: string; agent: string }, ms: number): Promise<CalmFigures> {
  const inv: number[] = [], ctx: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const due = Math.floor((ms / 1000) * CALM_PER_SEC);
  await Promise.all(Array.from({ length: due }, async (_, i) => {
    const at = t0 + (i * 1000) / CALM_PER_SEC;
    await new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
    try {
      const a = await httpWithin(REQUEST_TIMEOUT_MS, base, "POST", `/rooms/${room.id}/actions/tick/invoke`, {
        token: room.agent,
        body: {},
      });
      const t1 = performance.now();
      inv.push(t1 - at);
      const b = await httpWithin(REQUEST_TIMEOUT_MS, base, "GET", `/rooms/${room.id}/context?only=state`, {
        token: room.agent,
      });
      ctx.push(performance.now() - t1);
      if (a.status !== 200 || b.status !== 200) errors++;
    } catch {
      errors++;
    }
  }));
  const si = summary(inv), sc = summary(ctx);
  return {
    invoke_p50: si.p50,
    invoke_p99: si.p99,
    context_p50: sc.p50,
    context_p99: sc.p99,
    calm_errors: errors,
  };
}

/** `conc` attackers issue `fn` back to back until `ms` pass; statuses are counted. */
async function attackLoop(ms: number, conc: number, fn: (worker: number) => Promise<number>) {
  const end = performance.now() + ms;
  const statuses: Record<string, number> = {};
  let n = 0;
  await Promise.all(Array.from({ length: conc }, async (_, w) => {
    while (performance.now() < end) {
      let status: number;
      try {
        status = await fn(w);
      } catch {
        status = 0;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      n++;
    }
  }));
  return { n, statuses };
}

const opened: Conn[] = [];
async function rawConn(base: string) {
  const conn = await Conn.open(Number(new URL(base).port));
  opened.push(conn);
  return conn;
}

// ── CEL attack classes: each sets up its own room and returns the attack ─────────────────────────

type Attack = { conc: number; fn: (worker: number) => Promise<number>; stop?: () => Promise<void> };

function connsFor(base: string, n: number) {
  const conns: Promise<Conn>[] = Array.from({ length: n }, () => rawConn(base));
  return (w: number) => conns[w];
}

/** Two attackers: a commit (so nothing is cached) and then a read that evaluates the room's expressions. */
function writeThenRead(
  base: string,
  room: { id: string; token: string },
  reader: string,
  path: string,
): Attack {
  const conn = connsFor(base, 2);
  let n = 0;
  return {
    conc: 2,
    fn: async (w) => {
      const cn = await conn(w);
      await cn.request("POST", `/rooms/${room.id}/actions/_set_state/invoke`, {
        token: room.token,
        body: { params: { scope: "_shared", key: "bump", value: n++ } },
      });
      return (await cn.request("GET", path, { token: reader })).status;
    },
  };
}

const CEL_ATTACKS: Record<string, (base: string) => Promise<Attack>> = {
  async redos(base) {
    const { room } = await heavyRoom(base, "atk-redos");
    const conn = connsFor(base, 2);
    // 26 a's: about 0.7 s per evaluation for a backtracking engine (48 froze a server for 114 s)
    const expr = `'${"a".repeat(26)}!'.matches('(a+)+$')`;
    return {
      conc: 2,
      fn: async (w) =>
        (await (await conn(w)).request("POST", `/rooms/${room.id}/eval`, {
          token: room.token,
          body: { expr },
        })).status,
    };
  },
  async views40(base) {
    const { c, room, agent, makeHeavy } = await heavyRoom(base, "atk-views");
    for (let i = 0; i < 40; i++) {
      await c.ok(room.id, room.token, "_register_view", { id: `v${i}`, expr: heavy() });
    }
    await makeHeavy();
    return writeThenRead(base, room, agent, `/rooms/${room.id}/context`);
  },
  async waiters80(base) {
    const { c, room, makeHeavy } = await heavyRoom(base, "atk-waiters");
    const tokens: string[] = [];
    for (let i = 0; i < 80; i++) tokens.push(await c.join(room.id, `w${i}`));
    await makeHeavy();
    const ac = new AbortController();
    const cond = encodeURIComponent(heavy("l", "state._shared.never == true"));
    const waits = tokens.map((token) =>
      http(base, "GET", `/rooms/${room.id}/wait?condition=${cond}&timeout=${PHASE_MS + 5000}`, {
        token,
        signal: ac.signal,
      }).catch(() => undefined)
    );
    const conn = connsFor(base, 1);
    let n = 0;
    return {
      conc: 1,
      fn: async (w) => {
        const r = await (await conn(w)).request("POST", `/rooms/${room.id}/actions/_set_state/invoke`, {
          token: room.token,
          body: { params: { scope: "_shared", key: "x", value: n++ } },
        });
        await new Promise((res) => setTimeout(res, 100));
        return r.status;
      },
      stop: async () => {
        ac.abort();
        await Promise.all(waits);
      },
    };
  },
  async actions60(base) {
    const { c, room, agent, makeHeavy } = await heavyRoom(base, "atk-actions");
    for (let i = 0; i < 60; i++) {
      await c.ok(room.id, room.token, "_register_action", { id: `h${i}`, if: heavy(), writes: [] });
    }
    await makeHeavy();
    const conn = connsFor(base, 2);
    return {
      conc: 2,
      fn: async (w) =>
        (await (await conn(w)).request("GET", `/rooms/${room.id}/actions`, { token: agent })).status,
    };
  },
  async expr50(base) {
    const { c, room, agent, makeHeavy } = await heavyRoom(base, "atk-expr");
    await c.ok(room.id, room.token, "_register_action", FIFTY_EXPR_WRITES);
    await makeHeavy();
    const conn = connsFor(base, 2);
    return {
      conc: 2,
      fn: async (w) =>
        (await (await conn(w)).request("POST", `/rooms/${room.id}/actions/fifty/invoke`, {
          token: agent,
          body: {},
        })).status,
    };
  },
  async enabled40(base) {
    const { c, room, agent, makeHeavy } = await heavyRoom(base, "atk-enabled");
    for (let b = 0; b < 2; b++) {
      await c.ok(room.id, room.token, "_batch_set_state", {
        writes: Array.from(
          { length: 20 },
          (_, i) => ({ scope: "_tasks", key: `t${b * 20 + i}`, value: i, enabled: heavy() }),
        ),
      });
    }
    await makeHeavy();
    return writeThenRead(base, room, agent, `/rooms/${room.id}/poll`);
  },
  async mcp_batch(base) {
    const { room, makeHeavy } = await heavyRoom(base, "atk-mcp");
    await makeHeavy();
    const batch = `[${
      Array.from({ length: 40 }, (_, i) =>
        mcpCallText("eval_cel", JSON.stringify({ expr: heavy() })).replace('"id":1', `"id":${i}`)).join(",")
    }]`;
    return {
      conc: 2,
      fn: async () =>
        (await http(base, "POST", "/mcp", {
          token: room.token,
          raw: batch,
          headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
        })).status,
    };
  },
  async messages_log(base) {
    const messages = snapshotMessages(10_000);
    const imp = await http(base, "POST", "/rooms/import", {
      body: { ...snapshot({ agents: ["x"] }), id: "atk-log", messages },
    });
    const token = imp.json?.token as string;
    const conn = connsFor(base, 2);
    return {
      conc: 2,
      fn: async (w) => {
        const cn = await conn(w);
        if (w === 0) {
          await cn.request("POST", `/rooms/atk-log/actions/_send_message/invoke`, {
            token,
            body: { params: { body: "more" } },
          });
        }
        return (await cn.request("POST", `/rooms/atk-log/eval`, {
          token,
          body: { expr: "size(state._messages) > 0" },
        })).status;
      },
    };
  },
  async bucket(base) {
    const { c, room, makeHeavy } = await heavyRoom(base, "atk-bucket");
    const tokens: string[] = [];
    for (let i = 0; i < 16; i++) tokens.push(await c.join(room.id, `b${i}`));
    await makeHeavy();
    const conn = connsFor(base, 16);
    return {
      conc: 16,
      fn: async (w) =>
        (await (await conn(w)).request("POST", `/rooms/${room.id}/eval`, {
          token: tokens[w],
          body: { expr: heavy() },
        })).status,
    };
  },
};

// ── resource attacks ───────────────────────────────────────────────────────────────────────────

/** Resets the process's peak RSS (VmHWM) to its current value, so each attack's peak is its own. */
async function resetPeak(pid: number): Promise<boolean> {
  try {
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

type ResourceResult = {
  attack: string;
  rss_before: number;
  rss_after: number;
  peak: number;
  outcome: string;
};

async function resourceAttacks(base: string, pid: number): Promise<ResourceResult[]> {
  const c = client(base);
  const out: ResourceResult[] = [];
  const measure = async (attack: string, go: () => Promise<string>) => {
    await resetPeak(pid);
    const before = await memoryMiB(pid);
    const outcome = await go();
    const after = await memoryMiB(pid);
    out.push({ attack, rss_before: before.rss, rss_after: after.rss, peak: after.peak, outcome });
  };
  await measure(`chunked import ${CFG.importMiB} MiB`, async () => {
    const { res, sentWhenAnswered } = await chunkedFlood(base, "/rooms/import", CFG.importMiB * MiB);
    return `${res.status} after ${sentWhenAnswered / MiB} MiB sent`;
  });
  const room = await c.createRoom("res-msgs");
  await measure(`${CFG.messages} messages of 250 KB`, async () => {
    const conn = await rawConn(base);
    const body = "m".repeat(250_000);
    const st: Record<string, number> = {};
    for (let i = 0; i < CFG.messages; i++) {
      const r = await conn.request("POST", `/rooms/${room.id}/actions/_send_message/invoke`, {
        token: room.token,
        body: { params: { body } },
      });
      st[r.status] = (st[r.status] ?? 0) + 1;
    }
    conn.close();
    return JSON.stringify(st);
  });
  await c.createRoom("res-meta");
  await measure(`${CFG.joins} joins with 300 KB meta`, async () => {
    const st: Record<string, number> = {};
    for (let i = 0; i < CFG.joins; i++) {
      const r = await http(base, "POST", `/rooms/res-meta/agents`, {
        body: { id: `m${i}`, meta: { blob: "x".repeat(300_000) } },
      });
      st[r.status] = (st[r.status] ?? 0) + 1;
    }
    const probe = await http(base, "POST", `/rooms/res-meta/agents`, { body: { id: "reader" } });
    const ctx: Res | undefined = probe.json?.token
      ? await http(base, "GET", `/rooms/res-meta/context`, { token: probe.json.token })
      : undefined;
    return `${JSON.stringify(st)}; /context ${ctx ? (ctx.text.length / MiB).toFixed(1) : "-"} MiB`;
  });
  await measure(`${CFG.halfSent} half-sent bodies held ${CFG.holdMs} ms`, async () => {
    const conns: Deno.TcpConn[] = [];
    let answered = 0;
    try {
      for (let i = 0; i < CFG.halfSent; i++) {
        const conn = await connect(base);
        conns.push(conn);
        await send(
          conn,
          requestHead(base, "POST", "/rooms", {
            length: 100_000,
            headers: { "content-type": "application/json" },
          }),
        );
        await send(conn, '{"meta":"');
        // count answers the server sends on its own (a 408 once the body timeout passes)
        const buf = new Uint8Array(512);
        conn.read(buf).then((n) => {
          if (n) answered++;
        }, () => {});
      }
      await new Promise((r) => setTimeout(r, CFG.holdMs));
      return `${answered} of ${CFG.halfSent} answered by the server while held`;
    } finally {
      for (const conn of conns) conn.close();
    }
  });
  return out;
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────

if (import.meta.main) {
  await using tmp = await tempDir("agent-sync-attack-");
  // SYNC_BODY_TIMEOUT_MS=1000 so half-sent bodies are answered within the phase once the fix exists
  await using srv = await spawnServer(tmp.db, { SYNC_BODY_TIMEOUT_MS: "1000" });
  const calmRoom = await createCalmRoom(srv.base);
  const phases: PhaseResult[] = [];
  const started = performance.now();
  phases.push({
    phase: "baseline",
    attack_requests: 0,
    attack_statuses: {},
    ...(await calmLoad(srv.base, calmRoom, PHASE_MS)),
  });
  for (
    const [name, setup] of ONLY_RESOURCES
      ? []
      : Object.entries(CEL_ATTACKS).filter(([n]) => !ONLY || ONLY.includes(n))
  ) {
    const attack = await setup(srv.base);
    const [figures, loop] = await Promise.all([
      calmLoad(srv.base, calmRoom, PHASE_MS),
      attackLoop(PHASE_MS, attack.conc, attack.fn),
    ]);
    await attack.stop?.();
    phases.push({ phase: name, attack_requests: loop.n, attack_statuses: loop.statuses, ...figures });
  }
  for (const conn of opened.splice(0)) conn.close();
  // the resource attacks on a fresh server, so its memory is theirs alone
  await using tmp2 = await tempDir("agent-sync-attack-");
  await using srv2 = await spawnServer(tmp2.db, { SYNC_BODY_TIMEOUT_MS: "1000" });
  const resources = await resourceAttacks(srv2.base, srv2.pid);
  const totalS = (performance.now() - started) / 1000;

  console.log(
    `# calm room (${CALM_PER_SEC} invocations/s + /context) while another room attacks, ${
      PHASE_MS / 1000
    } s per class`,
  );
  console.log(
    "phase          invoke p50/p99 ms   context p50/p99 ms   calm errors   attack requests (statuses)",
  );
  for (const p of phases) {
    console.log(
      `${p.phase.padEnd(14)} ${`${f1(p.invoke_p50)} / ${f1(p.invoke_p99)}`.padEnd(19)} ${
        `${f1(p.context_p50)} / ${f1(p.context_p99)}`.padEnd(20)
      } ${String(p.calm_errors).padEnd(13)} ${p.attack_requests} ${JSON.stringify(p.attack_statuses)}`,
    );
  }
  console.log("# server memory under resource attacks (MiB; peak = VmHWM during the attack)");
  console.log("attack                              rss before   rss after   peak     outcome");
  for (const r of resources) {
    console.log(
      `${r.attack.padEnd(35)} ${f1(r.rss_before).padEnd(12)} ${f1(r.rss_after).padEnd(11)} ${
        f1(r.peak).padEnd(8)
      } ${r.outcome}`,
    );
  }
  console.log(`# ${totalS.toFixed(0)} s; target: calm p99 under 100 ms in every phase`);
  console.log(
    JSON.stringify({ quick: QUICK, phase_ms: PHASE_MS, phases, resources, seconds: Math.round(totalS) }),
  );
}
