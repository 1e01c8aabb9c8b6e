/**
 * Graceful shutdown: on SIGTERM the server answers blocked waiters `503 shutting_down`, finishes the writes
 * it is running, closes the database and exits 0; a restart on the same file has every acknowledged write.
 */
import assert from "node:assert/strict";
import { client, type Res } from "../_server.ts";
import { metric, until } from "../_setup.ts";
import { type Ack, driveBumps, integrityCheck, setUpBumpRoom, spawnServer, verifyBumpRoom } from "./_proc.ts";

Deno.test("SIGTERM answers waiters 503 shutting_down, finishes writes, and a restart loses nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-shutdown-" });
  const dbPath = `${dir}/sync.db`;
  let srv = await spawnServer(dbPath);
  try {
    const { room, tokens } = await setUpBumpRoom(srv.base, 3);
    const c = client(srv.base);
    const waits: Promise<Res>[] = Object.values(tokens).map((t) =>
      c.http(
        "GET",
        `/rooms/${room.id}/wait?condition=${
          encodeURIComponent("state._shared.counter > 100000")
        }&timeout=20000`,
        {
          token: t,
        },
      )
    );
    await until(async () => await metric(srv.base, "agent_sync_waiters") === 3, {
      what: "the waiters to block",
    });
    const stop = { now: false };
    const startAt = Object.fromEntries(Object.keys(tokens).map((a) => [a, 0]));
    const load = driveBumps(srv.base, room.id, tokens, startAt, stop, 200);
    // SIGTERM lands while writes are coming in: after some have committed, before all of them have
    const ok = (base: string) => metric(base, "agent_sync_invocations_total", '{outcome="ok"}');
    await until(async () => await ok(srv.base) >= 30, { what: "the load to be under way" });
    const status = await srv.kill("SIGTERM");
    stop.now = true;
    const acks: Ack[] = await load;
    assert.equal(status.code, 0, srv.output());
    for (const w of await Promise.all(waits)) {
      assert.equal(w.status, 503, w.text);
      assert.equal(w.json.error, "shutting_down");
    }
    assert.ok(acks.length > 0);
    assert.equal(await integrityCheck(dbPath), "ok");
    srv = await spawnServer(dbPath);
    await verifyBumpRoom(srv.base, room.id, room.token, acks);
    assert.equal((await srv.kill("SIGINT")).code, 0);
  } finally {
    await srv.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
