/**
 * Webhooks across crashes and processes, with the real server: a SIGKILL under load while deliveries are
 * being retried loses no committed change and sends no refused one (at least once, one delivery id per
 * commit, in commit order), a SIGTERM leaves no claim behind, and two processes on one database never
 * deliver one row at the same time.
 */
import assert from "node:assert/strict";
import { createClient } from "@libsql/client";
import { client, http } from "../_server.ts";
import { type Received, type Receiver, startReceiver } from "../_receiver.ts";
import { until } from "../_setup.ts";
import { spawnPair, spawnServer } from "./_proc.ts";

const ENV = {
  SYNC_WEBHOOK_ALLOW_PRIVATE: "1",
  SYNC_WEBHOOK_RETRY_MIN_MS: "20",
  SYNC_WEBHOOK_RETRY_MAX_MS: "80",
  // a claim outlives a dead process by 2 × timeout + 1 s
  SYNC_WEBHOOK_TIMEOUT_MS: "1000",
  SYNC_WEBHOOK_POLL_MS: "100",
};
const SECRET = "restart-secret-0123456789";
const AGENTS = 3;

/** A room whose `bump` is refused for every n divisible by 4, and a webhook to `rx`. */
async function bumpRoom(base: string, rx: Receiver) {
  const c = client(base);
  const room = await c.createRoom();
  await c.ok(room.id, room.token, "_register_action", {
    id: "bump",
    params: { n: { type: "integer", required: true } },
    if: "int(params.n) % 4 != 0",
    writes: [
      { scope: "_shared", key: "counter", increment: 1 },
      { scope: "${self}", key: "last", value: "${params.n}" },
    ],
  });
  await c.ok(room.id, room.token, "_register_webhook", { id: "out", url: rx.url, secret: SECRET });
  const tokens: Record<string, string> = {};
  for (let i = 0; i < AGENTS; i++) tokens[`a${i}`] = await c.join(room.id, `a${i}`);
  return { room, tokens };
}

/** Every agent bumps n = next[agent], next+1, … until `stop` (or the server is gone); refusals expected. */
async function drive(
  base: string,
  roomId: string,
  tokens: Record<string, string>,
  next: Record<string, number>,
  stop: { now: boolean },
  max = Infinity,
) {
  await Promise.all(
    Object.entries(tokens).map(async ([agent, token]) => {
      for (let k = 0; !stop.now && k < max; k++) {
        const n = next[agent]++;
        try {
          const r = await http(base, "POST", `/rooms/${roomId}/actions/bump/invoke`, {
            token,
            body: { params: { n } },
          });
          if (r.status !== 200 && r.status !== 409) throw new Error(`bump answered ${r.status} ${r.text}`);
        } catch (e) {
          if (e instanceof Error && /bump answered/.test(e.message)) throw e;
          return; // the server is gone
        }
      }
    }),
  );
}

/** The committed bumps (agent:n) as the room's audit says, read through a running server. */
async function committedBumps(base: string, roomId: string, token: string): Promise<Set<string>> {
  const snap = (await http(base, "GET", `/rooms/${roomId}/export`, { token })).json;
  return new Set(
    (snap.audit as { agent: string; action: string; ok: boolean; params: { n: number } }[])
      .filter((a) => a.action === "bump" && a.ok).map((a) => `${a.agent}:${a.params.n}`),
  );
}

/** agent:n of a bump delivery (its write of the agent's `last`). */
function bumpOf(d: Received): string {
  const last = (d.json.writes as { scope: string; key: string; value: number }[]).find((w) =>
    w.key === "last"
  )!;
  return `${d.json.agent}:${last.value}`;
}

/** One delivery id per commit, across every attempt and process; the accepted ones in commit order. */
function checkDeliveries(rx: Receiver) {
  const idOf = new Map<number, string>();
  for (const d of rx.got) {
    const seq = d.json.seq as number, id = d.headers.get("x-sync-delivery")!;
    assert.equal(idOf.get(seq) ?? id, id, `commit ${seq} was sent under two delivery ids`);
    idOf.set(seq, id);
    assert.equal(d.headers.get("x-sync-seq"), String(seq));
  }
  assert.equal(new Set(idOf.values()).size, idOf.size, "a delivery id names one commit");
  const order = rx.accepted().map((d) => d.json.seq as number);
  assert.deepEqual(order, [...order].sort((a, b) => a - b), "accepted in commit order");
}

async function claimsLeft(dbPath: string): Promise<number> {
  const db = createClient({ url: `file:${dbPath}` });
  try {
    const r = await db.execute("SELECT COUNT(*) AS n FROM webhook_outbox WHERE claimed_by IS NOT NULL");
    return Number(r.rows[0].n);
  } finally {
    db.close();
  }
}

Deno.test("SIGKILL mid-retry: every committed change is delivered after the restart, no refused one ever", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-webhooks-" });
  const dbPath = `${dir}/sync.db`;
  let failing = true;
  await using rx = startReceiver(() => (failing ? 500 : 200));
  let srv = await spawnServer(dbPath, ENV);
  try {
    const { room, tokens } = await bumpRoom(srv.base, rx);
    const next = Object.fromEntries(Object.keys(tokens).map((a) => [a, 1]));
    // under load, with the receiver failing: the first delivery is being retried when the process dies
    const stop = { now: false };
    const load = drive(srv.base, room.id, tokens, next, stop);
    await until(() => rx.got.length >= 3, { what: "retries to be under way" });
    await srv.kill("SIGKILL");
    stop.now = true;
    await load;
    srv = await spawnServer(dbPath, ENV);
    failing = false;
    await drive(srv.base, room.id, tokens, next, { now: false }, 8);
    const committed = await committedBumps(srv.base, room.id, room.token);
    assert.ok(committed.size > 3, `the load committed something (${committed.size})`);
    await until(() => rx.accepted().length >= committed.size, {
      what: "every committed bump to be delivered",
      timeoutMs: 30_000,
    });
    const delivered = rx.accepted().map(bumpOf);
    assert.deepEqual(new Set(delivered), committed, "delivered exactly what was committed");
    assert.equal(delivered.length, committed.size, "once each (per delivery id)");
    for (const d of rx.got) {
      assert.notEqual(Number(bumpOf(d).split(":")[1]) % 4, 0, "a refused bump was sent");
    }
    checkDeliveries(rx);
    const status = await srv.kill("SIGTERM");
    assert.equal(status.code, 0, srv.output());
    assert.equal(await claimsLeft(dbPath), 0, "a clean shutdown releases its claims");
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("after a restart, pending deliveries of rooms no request has touched are sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-webhooks-cold-" });
  const dbPath = `${dir}/sync.db`;
  let failing = true;
  await using rx = startReceiver(() => (failing ? 503 : 200));
  let srv = await spawnServer(dbPath, ENV);
  try {
    const { room, tokens } = await bumpRoom(srv.base, rx);
    const next = Object.fromEntries(Object.keys(tokens).map((a) => [a, 1]));
    await drive(srv.base, room.id, tokens, next, { now: false }, 3);
    const committed = await committedBumps(srv.base, room.id, room.token);
    await until(() => rx.got.length >= 1, { what: "a failed attempt" });
    assert.equal((await srv.kill("SIGTERM")).code, 0);
    failing = false;
    // nothing asks for the room after the restart: the start-up scan finds its deliveries in storage
    srv = await spawnServer(dbPath, ENV);
    await until(() => rx.accepted().length >= committed.size, { what: "the pending deliveries" });
    assert.deepEqual(new Set(rx.accepted().map(bumpOf)), committed);
    checkDeliveries(rx);
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("two processes on one database: each row delivered by one process at a time, in order", async () => {
  const inFlight = new Map<string, number>();
  let overlaps = 0;
  // a slow receiver: a second sender of the same row would overlap the first
  await using rx = startReceiver(async (d) => {
    const id = d.headers.get("x-sync-delivery")!;
    if (inFlight.get(id)) overlaps++;
    inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 5));
    inFlight.set(id, inFlight.get(id)! - 1);
    return 200;
  });
  const { a, b, close } = await spawnPair("agent-sync-webhooks-two-", { ...ENV, SYNC_PEER_POLL_MS: "50" });
  try {
    const { room, tokens } = await bumpRoom(a.base, rx);
    const next = Object.fromEntries(Object.keys(tokens).map((x) => [x, 1]));
    // the agents alternate between the processes
    await Promise.all([
      drive(a.base, room.id, tokens, next, { now: false }, 10),
      drive(b.base, room.id, tokens, next, { now: false }, 10),
    ]);
    const committed = await committedBumps(a.base, room.id, room.token);
    assert.equal(
      committed.size,
      2 * AGENTS * 10 - Math.floor((2 * 10) / 4) * AGENTS,
      "every n not divisible by 4",
    );
    await until(() => rx.accepted().length >= committed.size, {
      what: "every bump delivered",
      timeoutMs: 30_000,
    });
    assert.deepEqual(new Set(rx.accepted().map(bumpOf)), committed);
    assert.equal(overlaps, 0, "one row was being delivered by two processes at once");
    checkDeliveries(rx);
  } finally {
    await close();
  }
});
