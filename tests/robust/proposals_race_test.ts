/**
 * Two server processes on one SQLite file racing the last approval of a proposal: the seq compare-and-set
 * lets one commit, the other re-runs on fresh state and finds the proposal decided — the action runs once.
 */
import assert from "node:assert/strict";
import { client } from "../_server.ts";
import { spawnServer } from "./_proc.ts";
import { metric } from "../_setup.ts";

const ROUNDS = 5;

Deno.test("two processes racing the last approval run the action exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-race-" });
  const dbPath = `${dir}/sync.db`;
  const env = { SYNC_PEER_POLL_MS: "50" };
  const a = await spawnServer(dbPath, env);
  const b = await spawnServer(dbPath, env);
  try {
    const A = client(a.base);
    const B = client(b.base);
    const room = await A.createRoom("race");
    const alice = await A.join(room.id, "alice");
    const r: string[] = [];
    for (let i = 1; i <= 3; i++) r.push(await (i % 2 ? A : B).join(room.id, `r${i}`, { role: "reviewer" }));
    await A.ok(room.id, room.token, "_register_action", {
      id: "deploy",
      writes: [{ scope: "_shared", key: "deploys", increment: 1 }],
      approval: { count: 2, from: "agents[approver].role == 'reviewer'" },
    });
    for (let round = 1; round <= ROUNDS; round++) {
      const made = await A.invoke(room.id, alice, "deploy", {});
      assert.equal(made.status, 202, made.text);
      const id = made.json.proposal.id;
      await B.ok(room.id, r[0], "_approve", { proposal: id });
      const racing = await Promise.all([
        A.invoke(room.id, r[1], "_approve", { proposal: id }),
        B.invoke(room.id, r[2], "_approve", { proposal: id }),
      ]);
      const won = racing.filter((x) => x.status === 200);
      assert.equal(won.length, 1, racing.map((x) => `${x.status} ${x.text}`).join("\n"));
      assert.equal(won[0].json.proposal.status, "executed");
      const lost = racing.find((x) => x.status !== 200)!;
      assert.equal(lost.status, 409, lost.text);
      assert.equal(lost.json.error, "proposal_closed");
      assert.equal(lost.json.status, "executed");
      for (const srv of [A, B]) {
        const p = await srv.http("GET", `/rooms/race/proposals/${id}`, { token: room.token });
        assert.equal(p.json.status, "executed");
        assert.equal(p.json.approvals.length, 2);
      }
    }
    const snap = (await B.http("GET", "/rooms/race/export", { token: room.token })).json;
    const deploys = snap.state.find((e: { key: string }) => e.key === "deploys");
    assert.equal(deploys.value, ROUNDS, "one run per proposal");
    const runs = snap.audit.filter((x: { action: string; status: number }) =>
      x.action === "deploy" && x.status === 200
    );
    assert.equal(runs.length, ROUNDS, "one audit row per run");
    if (Deno.env.get("RACE_DEBUG")) {
      const failures = await Promise.all(
        [a, b].map((s) => metric(s.base, "agent_sync_commit_failures_total")),
      );
      console.log(`stale batches re-run: ${failures.join(" + ")}`);
    }
    for (const s of [a, b]) assert.equal((await s.kill("SIGTERM")).code, 0, s.output());
  } finally {
    await a.kill("SIGKILL");
    await b.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
