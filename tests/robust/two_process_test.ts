/**
 * Two server processes on one SQLite file (SYNC_PEER_POLL_MS=50): tokens and agents work across both,
 * reads in one see writes through the other, a raced claim has one winner, concurrent increments through
 * both are exact, and a /wait on one wakes on a write through the other.
 */
import assert from "node:assert/strict";
import { client, type Res } from "../_server.ts";
import { integrityCheck, spawnPair } from "./_proc.ts";
import { metric, until } from "../_setup.ts";

const INCREMENTS = Number(Deno.env.get("TWO_PROC_INCREMENTS") ?? 25);

Deno.test("two processes on one database behave as one server", async (t) => {
  // started together: their migrations race on the fresh file
  const { a, b, dbPath, close } = await spawnPair("agent-sync-two-", { SYNC_PEER_POLL_MS: "50" });
  try {
    const A = client(a.base);
    const B = client(b.base);
    const room = await A.createRoom("duo");
    let alice = "";
    let bob = "";

    await t.step("an agent joined on A works on B, and one joined on B works on A", async () => {
      alice = await A.join(room.id, "alice");
      await B.ok(room.id, alice, "_set_state", { key: "hp", value: 10 });
      bob = await B.join(room.id, "bob");
      const ctx = await A.context(room.id, bob, "?only=agents");
      assert.deepEqual(Object.keys(ctx.agents).sort(), ["alice", "bob"]);
      assert.equal((await A.context(room.id, alice)).state.self.hp, 10);
    });

    await t.step("reads on one process see a write acknowledged by the other at once", async () => {
      for (let i = 1; i <= 10; i++) {
        const [writer, reader] = i % 2 ? [A, B] : [B, A];
        await writer.ok(room.id, alice, "_set_state", { key: "hp", value: i * 100 });
        const st = await reader.http("GET", `/rooms/duo/state?scope=alice&key=hp`, { token: alice });
        assert.equal(st.json.value, i * 100);
      }
    });

    await t.step("a token rotated on A stops working on B", async () => {
      const old = alice;
      alice = (await A.http("POST", `/rooms/duo/agents`, { token: old, body: { id: "alice" } })).json.token;
      assert.equal((await B.http("GET", `/rooms/duo/context`, { token: old })).status, 401);
      assert.equal((await B.http("GET", `/rooms/duo/context`, { token: alice })).status, 200);
    });

    await t.step("a message claimed from both processes at once has exactly one winner", async () => {
      const tokens: string[] = [];
      for (let i = 0; i < 6; i++) tokens.push(await (i % 2 ? A : B).join(room.id, `c${i}`));
      const sent = await A.ok(room.id, alice, "_send_message", { body: "task", kind: "task" });
      const seq = sent.message.seq;
      const results = await Promise.all(
        tokens.map((tok, i) =>
          (i % 2 ? A : B).http("POST", `/rooms/duo/messages/${seq}/claim`, { token: tok })
        ),
      );
      const winners = results.filter((r) => r.status === 200);
      assert.equal(winners.length, 1, results.map((r) => `${r.status} ${r.text}`).join("\n"));
      for (const r of results) if (r.status !== 200) assert.equal(r.status, 409, r.text);
    });

    await t.step("concurrent increments through both processes are exact", async () => {
      await A.ok(room.id, room.token, "_register_action", {
        id: "inc",
        writes: [{ scope: "_shared", key: "count", increment: 1 }],
      });
      const calls: Promise<Res>[] = [];
      for (let i = 0; i < INCREMENTS; i++) {
        for (const [srv, tok] of [[A, alice], [B, alice], [A, bob], [B, bob]] as const) {
          calls.push(srv.invoke(room.id, tok, "inc"));
        }
      }
      const results = await Promise.all(calls);
      for (const r of results) assert.equal(r.status, 200, r.text);
      const versions = results.map((r) => r.json.writes[0].value).sort((x, y) => x - y);
      assert.deepEqual(
        versions,
        Array.from({ length: calls.length }, (_, i) => i + 1),
        "each increment saw a distinct value",
      );
      for (const srv of [A, B]) {
        const st = await srv.http("GET", `/rooms/duo/state?scope=_shared&key=count`, { token: room.token });
        assert.equal(st.json.value, calls.length);
        assert.equal(st.json.version, calls.length);
      }
    });

    await t.step("a /wait on A wakes on a write through B", async () => {
      const cond = encodeURIComponent("state._shared.flag == true");
      const waiting = A.http("GET", `/rooms/duo/wait?condition=${cond}&timeout=10000&include=state`, {
        token: bob,
      });
      await until(async () => await metric(a.base, "agent_sync_waiters") === 1, {
        what: "bob to block on A",
      });
      const t0 = performance.now();
      await B.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "flag", value: true });
      const w = await waiting;
      const ms = performance.now() - t0;
      assert.equal(w.status, 200, w.text);
      assert.equal(w.json.triggered, true, w.text);
      if (Deno.env.get("TWO_PROC_DEBUG")) console.log(`cross-process wake-up after ${ms.toFixed(0)} ms`);
    });

    for (const s of [a, b]) assert.equal((await s.kill("SIGTERM")).code, 0, s.output());
    assert.equal(await integrityCheck(dbPath), "ok");
  } finally {
    await close();
  }
});
