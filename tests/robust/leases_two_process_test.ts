/**
 * Leases and liveness with two server processes on one SQLite file: an agent's open wait on A keeps it (and
 * its lease) alive as seen from B, and leases lapsing while both processes watch the room expire once —
 * the seq compare-and-set lets one process's expiry commit win, the other reloads and finds it done.
 */
import assert from "node:assert/strict";
import { client, http } from "../_server.ts";
import { metric, until } from "../_setup.ts";
import { spawnPair } from "./_proc.ts";

const WINDOW = 1500;

Deno.test("two processes: liveness and lease expiry are decided once, across both", async (t) => {
  const { a, b, close } = await spawnPair("agent-sync-leases2-", { SYNC_PEER_POLL_MS: "50" });
  try {
    const A = client(a.base);
    const B = client(b.base);
    const room = await A.createRoom("duo", { liveness_ms: WINDOW });
    const alice = await A.join(room.id, "alice");
    const bob = await B.join(room.id, "bob");
    for (const who of ["alice", "bob"]) {
      await A.http("PATCH", `/rooms/duo/agents/${who}`, { token: room.token, body: { grants: ["_tasks"] } });
    }
    const claim = (srv: typeof A, tok: string, key: string) =>
      srv.invoke(room.id, tok, "_set_state", { scope: "_tasks", key, value: "mine", lease: true });

    await t.step("alice's open wait on A keeps her and her lease alive as seen from B", async () => {
      const mine = await claim(A, alice, "7");
      assert.equal(mine.status, 200, mine.text);
      const ctrl = new AbortController();
      const waiting = fetch(`${a.base}/rooms/duo/wait?condition=false&timeout=20000`, {
        headers: { authorization: `Bearer ${alice}` },
        signal: ctrl.signal,
      }).then((r) => r.body?.cancel(), () => {});
      await until(async () => await metric(a.base, "agent_sync_waiters") === 1, {
        what: "alice to block on A",
      });
      // for three windows, B sees alice alive and her lease held (reads only: a refused claim would be a
      // commit, which makes A reload the room and count alice's wait again)
      const until3 = performance.now() + 3 * WINDOW;
      while (performance.now() < until3) {
        const row = (await B.http("GET", "/rooms/duo/state?scope=_tasks&key=7", { token: bob })).json;
        assert.equal(row.lease?.holder, "alice", JSON.stringify(row));
        const agents = (await B.http("GET", "/rooms/duo/agents", { token: bob })).json as {
          id: string;
          status: string;
        }[];
        assert.notEqual(agents.find((x) => x.id === "alice")!.status, "gone", JSON.stringify(agents));
        await new Promise((r) => setTimeout(r, 200));
      }
      const refused = await claim(B, bob, "7");
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.json.holder, "alice");
      ctrl.abort();
      await waiting;
      // the wait ended: a window later the lease lapses, and B sees it
      const took = await until(async () => {
        const r = await claim(B, bob, "7");
        return r.status === 200 ? r : undefined;
      }, { what: "bob to take the lease on B once alice's wait ended" });
      assert.equal(took.json.writes[0].lease.epoch, 2);
    });

    await t.step("leases lapsing while both processes watch expire exactly once", async () => {
      await A.ok(room.id, room.token, "_register_action", {
        id: "take",
        params: { key: { type: "string", required: true } },
        writes: [{
          scope: "_jobs",
          key: "${params.key}",
          value: "taken",
          lease: { ttl_ms: 800, on_expire: [{ scope: "_stats", key: "expired", increment: 1 }] },
        }],
      });
      const carol = await B.join(room.id, "carol");
      const KEYS = ["k1", "k2", "k3", "k4", "k5"];
      for (const k of KEYS) assert.equal((await A.invoke(room.id, carol, "take", { key: k })).status, 200);
      // someone waits on each process for the outcome: both hold the room and arm its scheduler
      const cond = encodeURIComponent(`has(state._stats) && state._stats.expired == ${KEYS.length}`);
      const waits = [a, b].map((s) =>
        http(s.base, "GET", `/rooms/duo/wait?condition=${cond}&timeout=15000&include=state`, {
          token: room.token,
        })
      );
      const done = await Promise.all(waits);
      for (const w of done) assert.equal(w.json.triggered, true, w.text);
      // let any second expiry land before counting (it would have to be a later commit)
      const barrier = await A.ok(room.id, room.token, "_set_state", { key: "barrier", value: 1 });
      void barrier;
      for (const S of [A, B]) {
        const st =
          (await S.http("GET", "/rooms/duo/state?scope=_stats&key=expired", { token: room.token })).json;
        assert.equal(st.value, KEYS.length, "each lease's on_expire ran once");
      }
      const audit = ((await A.http("GET", "/rooms/duo/state?scope=_audit", { token: room.token })).json as {
        value: { action: string; params: { scope: string; key: string } };
      }[]).map((r) => r.value).filter((x) => x.action === "_lease_expired" && x.params.scope === "_jobs");
      assert.deepEqual(audit.map((x) => x.params.key).sort(), KEYS, "one _lease_expired per lease");
    });

    for (const s of [a, b]) assert.equal((await s.kill("SIGTERM")).code, 0, s.output());
  } finally {
    await close();
  }
});
