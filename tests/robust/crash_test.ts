/**
 * Crash safety (reference/api.md#invoke: one atomic step): the real server is killed with SIGKILL at a random moment under a write
 * load from several agents, restarted on the same database, and every acknowledged invocation must be
 * there with its audit row, nothing half-applied, sequences without gaps, and the file intact.
 */
import assert from "node:assert/strict";
import { type Ack, driveBumps, integrityCheck, setUpBumpRoom, spawnServer, verifyBumpRoom } from "./_proc.ts";

const CYCLES = 3;
const AGENTS = 4;

Deno.test("SIGKILL under load loses no acknowledged invocation and leaves nothing half-applied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-crash-" });
  const dbPath = `${dir}/sync.db`;
  let srv = await spawnServer(dbPath);
  try {
    const { room, tokens } = await setUpBumpRoom(srv.base, AGENTS);
    let startAt: Record<string, number> = Object.fromEntries(Object.keys(tokens).map((a) => [a, 0]));
    const acks: Ack[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const stop = { now: false };
      const load = driveBumps(srv.base, room.id, tokens, startAt, stop, 400);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      await srv.kill("SIGKILL");
      stop.now = true;
      acks.push(...await load);
      srv = await spawnServer(dbPath);
      const v = await verifyBumpRoom(srv.base, room.id, room.token, acks);
      startAt = { ...startAt, ...v.lastN };
      if (Deno.env.get("CRASH_DEBUG")) {
        console.log(`cycle ${cycle}: ${acks.length} acked, ${v.bumps} committed`);
      }
    }
    assert.ok(acks.length > 0, "the load was acknowledged at least once");
    const status = await srv.kill("SIGTERM");
    assert.equal(status.code, 0, srv.output());
    assert.equal(await integrityCheck(dbPath), "ok");
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
