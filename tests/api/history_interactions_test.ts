/**
 * History meets leases, approvals and hidden entries, over HTTP with the fake clock: a lease's expiry and an
 * approved action's run are commits of the timeline with who did them; `/context?at=` shows leases and
 * proposals as they stood; agents see no version that live reads would hide from them.
 */
import assert from "node:assert/strict";
import { setupRoom } from "../_setup.ts";

const TTL = 5000;

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("a lease's expiry is a commit of the timeline; the room at a commit shows the leases of then", async (t) => {
  const fx = await setupRoom({ agents: ["alice", "bob", "carol"], server: { fakeClock: true } });
  const { s, c, room, alice, bob, carol, req } = fx;
  await using _ = s;
  for (const a of ["alice", "bob"]) {
    assert.equal((await req("PATCH", `/agents/${a}`, room.token, { grants: ["_tasks"] })).status, 200);
  }
  const take = await c.invoke(room.id, alice, "_set_state", {
    scope: "_tasks",
    key: "7",
    value: { job: "build" },
    lease: { ttl_ms: TTL },
  });
  assert.equal(take.status, 200, take.text);
  const taken = take.json.cursor as number;
  // alice's own scope, leased: nobody else may learn of it
  const own = await c.invoke(room.id, alice, "_set_state", {
    key: "xyzzy",
    value: "s3cr3t",
    lease: { ttl_ms: TTL * 10 },
  });
  assert.equal(own.status, 200, own.text);
  s.clock.advance(TTL);
  const gone = await req("GET", "/state?scope=_tasks&key=7", room.token);
  assert.equal(gone.status, 404, "the lease lapsed and on_expire deleted the entry");
  const cursor = (await c.context(room.id, room.token, "?only=agents")).cursor as number;

  await t.step(
    "the expiry is listed as _lease_expired by the holder, with the deletion and the lease ended",
    async () => {
      const h = (await req("GET", "/history?scope=_tasks&key=7", bob)).json;
      const [expiry, write] = h.commits as Json[];
      assert.equal(expiry.action, "_lease_expired");
      assert.equal(expiry.agent, "alice");
      assert.equal(expiry.ok, true);
      assert.deepEqual(expiry.writes, [{ scope: "_tasks", key: "7", version: 1, deleted: true }]);
      assert.deepEqual(expiry.leases, [{ scope: "_tasks", key: "7", holder: null, epoch: 1 }]);
      assert.equal(write.seq, taken);
      assert.deepEqual(write.leases, [{ scope: "_tasks", key: "7", holder: "alice", epoch: 1 }]);
      const filtered = (await req("GET", "/history?action=_lease_expired", room.token)).json
        .commits as Json[];
      assert.deepEqual(filtered.map((x) => x.seq), [expiry.seq]);
    },
  );

  await t.step(
    "key versions: one per write (a lease taken or released without a write adds none)",
    async () => {
      const v = (await req("GET", "/state/history?scope=_tasks&key=7", bob)).json.versions as Json[];
      assert.deepEqual(v.map((x) => [x.version, x.deleted ?? false, x.action]), [
        [1, true, "_lease_expired"],
        [1, false, "_set_state"],
      ]);
      const set = (params: Record<string, unknown>) =>
        c.ok(room.id, bob, "_set_state", { scope: "_tasks", key: "8", ...params });
      await set({ value: 1 });
      await set({ value: 2, lease: { ttl_ms: TTL } });
      const rel = await c.invoke(room.id, bob, "_release", { scope: "_tasks", key: "8" });
      assert.equal(rel.status, 200, rel.text);
      const w = (await req("GET", "/state/history?scope=_tasks&key=8", bob)).json.versions as Json[];
      assert.deepEqual(w.map((x) => x.version), [2, 1]);
      const h = (await req("GET", "/history?scope=_tasks&key=8&limit=1", bob)).json.commits as Json[];
      assert.deepEqual([h[0].action, h[0].writes, h[0].leases], ["_release", [], [
        { scope: "_tasks", key: "8", holder: null, epoch: 1 },
      ]]);
    },
  );

  await t.step("at the write the lease is there with its holder; at the expiry it is not", async () => {
    const then = (await req("GET", `/context?at=${taken}&only=state,leases`, bob)).json;
    assert.deepEqual(then.state._tasks["7"], { job: "build" });
    assert.equal(then.leases._tasks["7"].holder, "alice");
    assert.equal(then.leases._tasks["7"].epoch, 1);
    const r = await req("POST", "/eval", bob, { expr: 'leases._tasks["7"].holder', at: taken });
    assert.equal(r.json.value, "alice", r.text);
    const after = (await req("GET", `/context?at=${cursor}&only=state,leases`, bob)).json;
    assert.equal(after.state._tasks?.["7"], undefined);
    assert.deepEqual(after.leases, {});
  });

  await t.step("a lease in alice's scope is seen by alice and the room token, never by carol", async () => {
    const mine = (await req("GET", `/context?at=${own.json.cursor}&only=leases`, alice)).json;
    assert.equal(mine.leases.self.xyzzy.holder, "alice");
    for (const path of ["/history", `/history?agent=alice`, `/context?at=${own.json.cursor}`]) {
      const r = await req("GET", path, carol);
      assert.equal(r.status, 200, r.text);
      assert.ok(!r.text.includes("xyzzy") && !r.text.includes("s3cr3t"), `${path}: ${r.text}`);
    }
    const seqs = ((await req("GET", "/history", carol)).json.commits as Json[]).map((x) => x.seq);
    assert.ok(!seqs.includes(own.json.cursor), "not even that alice's commit happened");
    const all = (await req("GET", "/history", room.token)).json.commits as Json[];
    const leased = all.find((x) => x.seq === own.json.cursor);
    assert.deepEqual(leased.leases, [{ scope: "alice", key: "xyzzy", holder: "alice", epoch: 1 }]);
  });
});

const SHIP = {
  id: "ship",
  params: { version: { type: "string", required: true } },
  writes: [{ scope: "_shared", key: "shipped", value: "${params.version}" }],
  approval: { count: 1, from: "agents[approver].role == 'reviewer'" },
};

Deno.test("an approved action runs in the approval's commit: the timeline names the approver and the proposer's run", async (t) => {
  const fx = await setupRoom({
    agents: ["alice", "rev", "carol"],
    join: { rev: { role: "reviewer" } },
    server: { fakeClock: true },
  });
  const { s, c, room, alice, rev, carol, req } = fx;
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", SHIP);
  const proposed = await c.invoke(room.id, alice, "ship", { version: "v2" });
  assert.equal(proposed.status, 202, proposed.text);
  const id = proposed.json.proposal.id as string;
  const proposedAt = (await c.context(room.id, room.token, "?only=agents")).cursor as number;
  const approved = await c.invoke(room.id, rev, "_approve", { proposal: id });
  assert.equal(approved.status, 200, approved.text);
  const approvedAt = approved.json.cursor as number;

  await t.step("the approval's commit: _approve by rev, the run of ship as alice, its writes", async () => {
    const h = (await req("GET", "/history?limit=2", room.token)).json.commits as Json[];
    const [run, proposal] = h;
    assert.equal(run.seq, approvedAt);
    assert.deepEqual([run.agent, run.action, run.ok], ["rev", "_approve", true]);
    assert.deepEqual(run.runs, [{ agent: "alice", action: "ship", ok: true }]);
    assert.deepEqual(run.writes, [{ scope: "_shared", key: "shipped", version: 1, value: "v2" }]);
    assert.deepEqual(run.proposals.map((p: Json) => [p.id, p.status]), [[id, "executed"]]);
    assert.deepEqual([proposal.agent, proposal.action], ["alice", "ship"]);
    assert.deepEqual(proposal.proposals.map((p: Json) => [p.id, p.status]), [[id, "pending"]]);
  });

  await t.step("filters by agent and action find the run inside the approval", async () => {
    const byAlice = (await req("GET", "/history?agent=alice&action=ship", room.token)).json.commits as Json[];
    assert.deepEqual(byAlice.map((x) => x.seq), [approvedAt, proposedAt]);
    const v = (await req("GET", "/state/history?scope=_shared&key=shipped", carol)).json.versions as Json[];
    assert.deepEqual(v.map((x) => [x.value, x.agent, x.action]), [["v2", "rev", "_approve"]]);
  });

  await t.step("the room at a commit has the proposals of then, with the live reads' privacy", async () => {
    const before = (await req("GET", `/context?at=${proposedAt}&only=proposals`, rev)).json;
    assert.equal(before.proposals[id].status, "pending");
    const r = await req("POST", "/eval", alice, { expr: `proposals["${id}"].status`, at: proposedAt });
    assert.equal(r.json.value, "pending", r.text);
    const after = (await req("GET", `/context?at=${approvedAt}&only=proposals`, rev)).json;
    assert.deepEqual(after.proposals, {}, "decided: no longer pending");
    const stranger = await req("GET", `/context?at=${proposedAt}&only=proposals`, carol);
    assert.deepEqual(stranger.json.proposals, {}, "carol neither proposed nor may approve");
    const hist = await req("GET", "/history", carol);
    assert.ok(!hist.text.includes(id), "nor does the timeline show her the proposal");
    const mine = (await req("GET", "/history", carol)).json.commits.find((x: Json) => x.seq === approvedAt);
    assert.deepEqual(mine.runs, [{ agent: "alice", action: "ship", ok: true }], "the writes she sees");
  });
});

Deno.test("agents see no version that live reads hide from them (dormant, disabled); the tokens see all", async () => {
  const fx = await setupRoom({ server: { fakeClock: true } });
  const { s, c, room, bob, req } = fx;
  await using _ = s;
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [
      { scope: "_shared", key: "later", value: "surprise", timer: { ms: 60_000, effect: "enable" } },
      { scope: "_shared", key: "gated", value: "behind the gate", enabled: "state._shared.open == true" },
      { scope: "_shared", key: "open", value: false },
    ],
  });
  const secrets = ["surprise", "behind the gate"];
  const seen = async (token: string) => {
    const h = await req("GET", "/history", token);
    const a = await req("GET", "/state/history?scope=_shared&key=later", token);
    const b = await req("GET", "/state/history?scope=_shared&key=gated", token);
    return [h, a, b].map((r) => r.text).join("\n");
  };
  const hidden = await seen(bob);
  for (const x of secrets) assert.ok(!hidden.includes(x), `bob: ${x} in ${hidden}`);
  assert.ok(hidden.includes('"open"'), "the live write of the same commit is shown");
  const all = await seen(room.view);
  for (const x of secrets) assert.ok(all.includes(x), `view token: ${x}`);
  // once live for bob, their history is his too
  s.clock.advance(60_000);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "open", value: true });
  const shown = await seen(bob);
  for (const x of secrets) assert.ok(shown.includes(x), `bob later: ${x}`);
});
