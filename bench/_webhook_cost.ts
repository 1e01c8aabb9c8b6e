/**
 * @module bench/_webhook_cost — the engine alone (no HTTP, no load generator on the thread): `N` invocations
 * of the bench's `bump` from 16 agents (or AGENTS: fewer make smaller group commits) in one room, and the
 * process's CPU per invocation, in one of three modes: `none` (no webhook), `staged` (a webhook registered,
 * the delivery loop not started: the commit-time cost alone), `delivered` (the loop running against the
 * bench receiver at PORT). Prints one JSON line. Run by bench/webhooks.ts; alone:
 * `deno run -A bench/_webhook_cost.ts MODE N PORT [AGENTS]`.
 */
import { DEFAULT_LIMITS } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { invoke } from "../engine/invoke.ts";
import { createRoom, joinAgent } from "../engine/membership.ts";
import { LibsqlStore } from "../store/libsql_store.ts";
import { procCpuMs } from "./_load.ts";

const [mode = "none", n = "20000", port = "0", agents = "16"] = Deno.args;
const N = Number(n);
const dir = await Deno.makeTempDir({ prefix: "agent-sync-webhook-cost-" });
const store = await LibsqlStore.open(`file:${dir}/c.db`);
const eng = new Engine({
  store,
  clock: { now: () => Date.now() },
  limits: {
    ...DEFAULT_LIMITS,
    webhookAllowPrivate: true,
    rateLimitPerSec: 0,
    roomMessagesPerSec: 0,
    roomMaxMessages: 1e9,
    webhookMaxPending: 1e9,
  },
});
if (mode === "delivered") eng.startDelivery();
const created = await createRoom(eng, {});
const room = { id: String((created as Record<string, unknown>).id), token: created.token };
const tokens: string[] = [];
for (let i = 0; i < Number(agents); i++) {
  tokens.push((await joinAgent(eng, room.id, {}, { id: `a${i}` })).token as string);
}
const call = (token: string, action: string, params: Record<string, unknown>) =>
  invoke(eng, { roomId: room.id, token, action, params });
await call(room.token, "_register_action", {
  id: "bump",
  params: { note: { type: "string" } },
  writes: [
    { scope: "_shared", key: "counter", increment: true, value: 1 },
    { scope: "_messages", append: true, value: { from: "${self}", kind: "bench", body: "${params.note}" } },
  ],
});
if (mode !== "none") {
  await call(room.token, "_register_webhook", {
    id: "w",
    url: `http://127.0.0.1:${port}/hook`,
    secret: "bench-secret-0123456789",
  });
}
let k = 0;
const cpu0 = procCpuMs(Deno.pid) ?? NaN;
const t0 = performance.now();
await Promise.all(tokens.map(async (t) => {
  while (k < N) await call(t, "bump", { note: `n${k++}` });
}));
const ms = performance.now() - t0;
const cpu = (procCpuMs(Deno.pid) ?? NaN) - cpu0;
console.log(
  JSON.stringify({
    mode,
    rps: N / ms * 1000,
    us_per_inv: cpu * 1000 / N,
    batches: eng.rooms.commitStats.batches,
  }),
);
await eng.close();
store.close();
await Deno.remove(dir, { recursive: true });
