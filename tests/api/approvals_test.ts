/**
 * Actions that wait for approval (issue 16), over HTTP: proposing answers 202 with the proposal, `_approve`
 * and `_reject` decide it, the approval completing the quorum runs the action as the proposer against the
 * state of that moment (exactly once, however many approvers race), expiry on the fake clock, registration
 * checks, quotas, and what each identity may see of a proposal.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { setupRoom, until } from "../_setup.ts";

const DEPLOY = {
  id: "deploy",
  description: "Ship a version once two reviewers agree",
  params: { version: { type: "string", required: true } },
  if: "state._shared.frozen == false",
  writes: [
    { scope: "_shared", key: "deployed", value: "${params.version}" },
    { scope: "_shared", key: "deploys", increment: 1 },
  ],
  approval: { count: 2, from: "agents[approver].role == 'reviewer'" },
};

async function setup(
  o: { fakeClock?: boolean; approval?: Record<string, unknown>; reviewers?: number } = {},
) {
  const reviewers = Array.from({ length: o.reviewers ?? 3 }, (_, i) => `r${i + 1}`);
  const agents = ["alice", "bob", ...reviewers];
  const join: Record<string, Record<string, unknown>> = {};
  for (const r of reviewers) join[r] = { role: "reviewer" };
  const fx = await setupRoom({ agents, join, server: { fakeClock: o.fakeClock } });
  const { c, room } = fx;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "frozen", value: false });
  await c.ok(room.id, room.token, "_register_action", {
    ...DEPLOY,
    approval: { ...DEPLOY.approval, ...o.approval },
  });
  const t = fx.tokens as Record<string, string>;
  const propose = (params: Record<string, unknown> = { version: "v2" }, token = t.alice) =>
    c.invoke(room.id, token, "deploy", params);
  const decide = (action: "_approve" | "_reject", token: string, params: Record<string, unknown>) =>
    c.invoke(room.id, token, action, params);
  const shared = async () => (await c.context(room.id, room.token, "?only=state._shared")).state._shared;
  const audit = async () =>
    (await fx.req("GET", "/state?scope=_audit", room.token)).json.map((r: { value: unknown }) => r.value);
  return { ...fx, t, propose, decide, shared, audit, reviewers };
}

Deno.test("an action with approval answers 202 with its proposal; 2 of 3 reviewers run it as the proposer", async () => {
  const { s, c, room, t, propose, decide, shared, audit, req } = await setup();
  await using _ = s;
  // a dry run answers as the real call would, and records nothing
  const dry = await c.http("POST", `/rooms/${room.id}/actions/deploy/invoke?dry_run=true`, {
    token: t.alice,
    body: { params: { version: "v2" } },
  });
  assert.equal(dry.status, 202, dry.text);
  assert.equal(dry.json.dry_run, true);
  assert.equal(dry.json.pending, true);
  assert.deepEqual((await req("GET", "/proposals", room.token)).json, []);
  const r = await propose();
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.pending, true);
  assert.deepEqual(r.json.writes, []);
  const p = r.json.proposal;
  assert.match(p.id, /^prop-/);
  assert.equal(p.action, "deploy");
  assert.deepEqual(p.params, { version: "v2" });
  assert.equal(p.proposer, "alice");
  assert.equal(p.count, 2);
  assert.deepEqual(p.approvals, []);
  assert.equal(p.status, "pending");
  assert.equal(p.expires_at, null);
  assert.equal(p.may_decide, false, "the proposer does not decide its own proposal");
  assert.equal((await shared()).deployed, undefined, "nothing ran yet");
  // CEL: a reviewer has something to decide, the proposer and an outsider do not
  const work = { expr: "proposals.exists(p, proposals[p].may_decide)" };
  assert.equal((await req("POST", "/eval", t.r3, work)).json.value, true);
  assert.equal((await req("POST", "/eval", t.alice, work)).json.value, false);
  assert.equal((await req("POST", "/eval", t.bob, work)).json.value, false);
  assert.equal((await req("POST", "/eval", t.alice, { expr: `proposals["${p.id}"].count` })).json.value, 2);

  const first = await decide("_approve", t.r1, { proposal: p.id });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.counted, true);
  assert.equal(first.json.proposal.status, "pending");
  assert.deepEqual(first.json.proposal.approvals.map((a: { by: string }) => a.by), ["r1"]);
  // one approver counts once: a repeat answers the proposal as it is
  const again = await decide("_approve", t.r1, { proposal: p.id });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.counted, false);
  assert.equal(again.json.proposal.approvals.length, 1);
  assert.equal((await shared()).deployed, undefined);

  const second = await decide("_approve", t.r2, { proposal: p.id });
  assert.equal(second.status, 200, second.text);
  assert.equal(second.json.proposal.status, "executed");
  assert.deepEqual(second.json.writes.map((w: { key: string; value: unknown }) => [w.key, w.value]), [
    ["deployed", "v2"],
    ["deploys", 1],
  ]);
  assert.deepEqual(second.json.proposal.writes.map((w: { key: string }) => w.key), ["deployed", "deploys"]);
  assert.equal((await shared()).deployed, "v2");
  const late = await decide("_approve", t.r3, { proposal: p.id });
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.error, "proposal_closed");
  assert.equal(late.json.status, "executed");
  // r3 took no part, and still sees the decision it may have been waiting for
  const seen = await req("GET", `/proposals/${p.id}`, t.r3);
  assert.equal(seen.json.status, "executed", seen.text);
  assert.equal(seen.json.may_decide, false);

  const rows = (await audit()).map((a: Record<string, unknown>) => [a.agent, a.action, a.status]);
  assert.deepEqual(rows.slice(-6), [
    ["alice", "deploy", 202],
    ["r1", "_approve", 200],
    ["r1", "_approve", 200],
    ["r2", "_approve", 200],
    ["alice", "deploy", 200],
    ["r3", "_approve", 409],
  ]);
  const got = await req("GET", `/proposals/${p.id}`, t.alice);
  assert.equal(got.json.status, "executed");
  assert.equal((await req("GET", "/proposals?status=executed", room.token)).json.length, 1);
  assert.equal((await req("GET", "/proposals?status=pending", room.token)).json.length, 0);
  assert.equal((await req("GET", "/proposals?status=sideways", room.token)).status, 400);
  // the proposal's commit and the audit row of its run are alice's: her context's cursor moved past both
  assert.ok((await c.context(room.id, t.alice)).cursor >= second.json.cursor);
});

Deno.test("_approve by a non-approver is 403 not_an_approver; the proposer counts only with proposer_counts", async () => {
  const { s, t, propose, decide, room, c } = await setup();
  await using _ = s;
  const p = (await propose()).json.proposal;
  for (const token of [t.bob, t.alice, room.token]) {
    const r = await decide("_approve", token, { proposal: p.id });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error, "not_an_approver");
    assert.equal(r.json.proposal, p.id);
  }
  assert.equal((await decide("_reject", t.bob, { proposal: p.id })).status, 403);
  assert.equal((await decide("_approve", t.r1, { proposal: "prop-none" })).json.error, "proposal_not_found");
  assert.equal((await decide("_approve", room.view, { proposal: p.id })).status, 403);
  assert.equal((await decide("_approve", t.r1, { proposal: p.id, extra: 1 })).status, 400);

  // proposer_counts, and the room token as an approver when `from` allows it (a human at the dashboard)
  await c.ok(room.id, room.token, "_register_action", {
    ...DEPLOY,
    id: "self_ship",
    approval: { count: 2, from: "approver == 'admin' || approver == 'alice'", proposer_counts: true },
  });
  const q = (await c.invoke(room.id, t.alice, "self_ship", { version: "v3" })).json.proposal;
  assert.equal(q.may_decide, true);
  assert.equal((await decide("_approve", t.alice, { proposal: q.id })).json.counted, true);
  const done = await decide("_approve", room.token, { proposal: q.id });
  assert.equal(done.json.proposal.status, "executed", done.text);
  assert.deepEqual(done.json.proposal.approvals.map((a: { by: string }) => a.by), ["alice", "admin"]);
});

Deno.test("_reject by an approver ends the proposal with who and why; the proposer may withdraw its own", async () => {
  const { s, t, propose, decide, shared, req } = await setup();
  await using _ = s;
  const p = (await propose()).json.proposal;
  await decide("_approve", t.r1, { proposal: p.id });
  const r = await decide("_reject", t.r2, { proposal: p.id, reason: "tests are red" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.proposal.status, "rejected");
  assert.equal(r.json.proposal.rejected_by, "r2");
  assert.equal(r.json.proposal.reason, "tests are red");
  assert.equal(
    (await decide("_reject", t.r2, { proposal: p.id })).json.counted,
    false,
    "a repeat is a no-op",
  );
  const after = await decide("_approve", t.r3, { proposal: p.id });
  assert.equal(after.status, 409);
  assert.equal(after.json.status, "rejected");
  assert.equal((await shared()).deployed, undefined);
  assert.equal((await req("GET", `/proposals/${p.id}`, t.alice)).json.reason, "tests are red");

  const mine = (await propose({ version: "v9" })).json.proposal;
  const withdrawn = await decide("_reject", t.alice, { proposal: mine.id, reason: "wrong version" });
  assert.equal(withdrawn.json.proposal.status, "rejected", withdrawn.text);
  assert.equal(withdrawn.json.proposal.rejected_by, "alice");
});

Deno.test("the if is checked again when the quorum is reached: state changed since proposing → failed", async () => {
  const { s, c, room, t, propose, decide, shared, audit, req } = await setup();
  await using _ = s;
  const p = (await propose()).json.proposal;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "frozen", value: true });
  await decide("_approve", t.r1, { proposal: p.id });
  const r = await decide("_approve", t.r2, { proposal: p.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.proposal.status, "failed");
  assert.deepEqual(r.json.writes, []);
  // an approver learns the code; the proposer gets the refusal as it would have seen it
  assert.equal(r.json.proposal.error.error, "precondition_failed");
  assert.equal(r.json.proposal.error.detail, undefined);
  const own = (await req("GET", `/proposals/${p.id}`, t.alice)).json;
  assert.equal(own.error.error, "precondition_failed");
  assert.equal(own.error.expression, DEPLOY.if);
  assert.deepEqual(own.error.detail, { "state._shared.frozen": true });
  assert.equal((await shared()).deployed, undefined);
  const last = (await audit()).at(-1);
  assert.deepEqual([last.agent, last.action, last.ok, last.status, last.error], [
    "alice",
    "deploy",
    false,
    409,
    "precondition_failed",
  ]);
  // proposing checks the same things first: a refused proposal records nothing
  const refused = await propose();
  assert.equal(refused.status, 409);
  assert.equal(refused.json.error, "precondition_failed");
  assert.equal((await propose({})).json.error, "invalid_params");
  assert.equal((await req("GET", "/proposals?status=pending", room.token)).json.length, 0);
});

Deno.test("20 reviewers approving one count-2 proposal at once run it exactly once", async () => {
  const { s, t, propose, decide, shared, audit, reviewers } = await setup({ reviewers: 20 });
  await using _ = s;
  const p = (await propose()).json.proposal;
  const results = await Promise.all(reviewers.map((r) => decide("_approve", t[r], { proposal: p.id })));
  const ok = results.filter((r) => r.status === 200);
  assert.equal(ok.length, 2, results.map((r) => `${r.status} ${r.text}`).join("\n"));
  assert.equal(ok.filter((r) => r.json.proposal.status === "executed").length, 1);
  for (const r of results) if (r.status !== 200) assert.equal(r.json.error, "proposal_closed", r.text);
  assert.equal((await shared()).deploys, 1);
  const runs = (await audit()).filter((a: Record<string, unknown>) =>
    a.action === "deploy" && a.status !== 202
  );
  assert.equal(runs.length, 1);
});

Deno.test("a proposal expires at its time with the fake clock, waking its waiter, audited as a system action", async () => {
  const { s, c, room, t, propose, decide, req, audit } = await setup({
    fakeClock: true,
    approval: { expires_ms: 60_000 },
  });
  await using _ = s;
  const made = c.http("POST", `/rooms/${room.id}/actions/deploy/invoke`, {
    token: t.alice,
    body: { params: { version: "v2" }, wait: { condition: 'proposal.status != "pending"', timeout: 20_000 } },
  });
  // …that call blocks; a second proposal is read while the first waits
  const p = (await propose({ version: "v3" })).json.proposal;
  assert.equal(p.expires_at, new Date(s.clock.now() + 60_000).toISOString());
  await until(() => s.eng.metrics.waiters === 1, { what: "alice's invoke-and-wait to block" });
  await decide("_approve", t.r1, { proposal: p.id });
  s.clock.advance(59_999);
  assert.equal((await req("GET", `/proposals/${p.id}`, t.alice)).json.status, "pending");
  s.clock.advance(1);
  // from its moment on every read says expired, and the expiry commits on its own
  assert.equal((await req("GET", `/proposals/${p.id}`, t.alice)).json.status, "expired");
  assert.equal((await decide("_approve", t.r2, { proposal: p.id })).json.status, "expired");
  const w = await made;
  assert.equal(w.status, 202, w.text);
  assert.equal(w.json.wait.triggered, true);
  assert.equal(w.json.wait.proposal.status, "expired");
  assert.equal(w.json.wait.proposal.decided_at, w.json.proposal.expires_at);
  await until(async () =>
    (await audit()).filter((a: Record<string, unknown>) => a.action === "_proposal_expired").length === 2
  );
  const rows = (await audit()).filter((a: Record<string, unknown>) => a.action === "_proposal_expired");
  assert.deepEqual(rows.map((a: Record<string, unknown>) => a.agent), ["system", "system"]);
  assert.equal((await req("GET", "/proposals?status=expired", room.token)).json.length, 2);
});

Deno.test("invoke-and-wait on a proposal returns the decision when it lands", async () => {
  const { s, c, room, t, decide } = await setup();
  await using _ = s;
  const pending = c.http("POST", `/rooms/${room.id}/actions/deploy/invoke`, {
    token: t.alice,
    body: {
      params: { version: "v7" },
      wait: { condition: 'proposal.status != "pending"', include: "state", timeout: 20_000 },
    },
  });
  await until(() => s.eng.metrics.waiters === 1, { what: "alice to block" });
  const id = (await c.http("GET", `/rooms/${room.id}/proposals`, { token: t.r1 })).json[0].id;
  await decide("_approve", t.r1, { proposal: id });
  await decide("_approve", t.r2, { proposal: id });
  const r = await pending;
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.proposal.id, id);
  assert.equal(r.json.proposal.status, "pending", "the proposal as it was made");
  assert.equal(r.json.wait.triggered, true);
  assert.equal(r.json.wait.proposal.status, "executed");
  assert.equal(r.json.wait.state._shared.deployed, "v7");
  // the same in a second call with the id: proposals[id] in any condition
  const cond = encodeURIComponent(`proposals["${id}"].status == "executed"`);
  const w = await c.http("GET", `/rooms/${room.id}/wait?condition=${cond}&timeout=1000`, { token: t.alice });
  assert.equal(w.json.triggered, true, w.text);
});

Deno.test("registration checks approval: 400 naming the field", async () => {
  const { s, c, room } = await setupRoom({ agents: ["alice"] });
  await using _ = s;
  const reg = (approval: unknown) =>
    c.invoke(room.id, room.token, "_register_action", { id: "x", writes: [], approval });
  for (
    const [approval, field] of [
      [{ count: 0, from: "true" }, "approval.count"],
      [{ count: 21, from: "true" }, "approval.count"],
      [{ count: 1.5, from: "true" }, "approval.count"],
      [{ from: "true" }, "approval.count"],
      [{ count: 1 }, "approval.from"],
      [{ count: 1, from: "approver ==" }, "approval.from"],
      [{ count: 1, from: "true", expires_ms: 0 }, "approval.expires_ms"],
      [{ count: 1, from: "true", quorum: 2 }, "approval.quorum"],
    ] as const
  ) {
    const r = await reg(approval);
    assert.equal(r.status, 400, `${JSON.stringify(approval)}: ${r.text}`);
    assert.equal(r.json.field, field, r.text);
  }
  const ok = await reg({ count: 1, from: "approver == 'admin'", expires_ms: 1000 });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json.registered.approval, { count: 1, from: "approver == 'admin'", expires_ms: 1000 });
  const listed = (await c.http("GET", `/rooms/${room.id}/actions/x`, { token: room.token })).json;
  assert.equal(listed.approval.count, 1);
});

Deno.test("replacing or deleting an action fails its pending proposals with action_changed", async () => {
  const { s, c, room, t, propose, decide } = await setup();
  await using _ = s;
  const p = (await propose()).json.proposal;
  await decide("_approve", t.r1, { proposal: p.id });
  await c.ok(room.id, room.token, "_register_action", { ...DEPLOY, description: "changed" });
  const r = await decide("_approve", t.r2, { proposal: p.id });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.status, "failed");
  const got = (await c.http("GET", `/rooms/${room.id}/proposals/${p.id}`, { token: t.alice })).json;
  assert.equal(got.error.error, "action_changed");
  const q = (await propose()).json.proposal;
  await c.ok(room.id, room.token, "_delete_action", { id: "deploy" });
  const gone = (await c.http("GET", `/rooms/${room.id}/proposals/${q.id}`, { token: t.alice })).json;
  assert.equal(gone.status, "failed");
  assert.match(gone.error.message, /deleted/);
});

Deno.test("pending proposals per room are bounded: 429 quota_exceeded room_pending_proposals", async () => {
  const fx = await setupRoom({
    agents: ["alice"],
    server: { limits: { roomMaxPendingProposals: 2, maxValueBytes: 1000 } },
  });
  const { s, c, room, alice } = fx;
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "ask",
    params: { note: { type: "string" } },
    writes: [],
    approval: { count: 1, from: "approver == 'admin'" },
  });
  assert.equal((await c.invoke(room.id, alice, "ask", {})).status, 202);
  const second = (await c.invoke(room.id, alice, "ask", {})).json.proposal;
  const third = await c.invoke(room.id, alice, "ask", {});
  assert.equal(third.status, 429, third.text);
  assert.equal(third.json.quota, "room_pending_proposals");
  assert.equal(third.json.limit, 2);
  assert.equal((await c.invoke(room.id, room.token, "_approve", { proposal: second.id })).status, 200);
  assert.equal((await c.invoke(room.id, alice, "ask", {})).status, 202, "a decided one frees its place");
  const big = await c.invoke(room.id, alice, "ask", { note: "x".repeat(2000) });
  assert.equal(big.status, 400);
  assert.equal(big.json.error, "value_too_large");
});

Deno.test("a pending proposal survives a restart: approved after it, and expires on time after it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-proposals-" });
  const dbPath = `${dir}/sync.db`;
  try {
    let ids: { keep: string; lapse: string };
    let tokens: Record<string, string>;
    let roomId: string;
    {
      const fx = await setupRoom({
        agents: ["alice", "r1", "r2"],
        join: { r1: { role: "reviewer" }, r2: { role: "reviewer" } },
        server: { fakeClock: true, dbPath },
      });
      await using _ = fx.s;
      const { c, room } = fx;
      roomId = room.id;
      tokens = { ...fx.tokens, room: room.token };
      await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "frozen", value: false });
      await c.ok(room.id, room.token, "_register_action", DEPLOY);
      await c.ok(room.id, room.token, "_register_action", {
        ...DEPLOY,
        id: "deploy_soon",
        approval: { ...DEPLOY.approval, expires_ms: 60_000 },
      });
      const keep = (await c.invoke(room.id, fx.alice, "deploy", { version: "v5" })).json.proposal.id;
      const lapse = (await c.invoke(room.id, fx.alice, "deploy_soon", { version: "v6" })).json.proposal.id;
      await c.ok(room.id, fx.r1, "_approve", { proposal: keep });
      ids = { keep, lapse };
    }
    const s = await startServer({ fakeClock: true, dbPath });
    await using _ = s;
    const c = client(s.base);
    const got = await c.http("GET", `/rooms/${roomId}/proposals/${ids.keep}`, { token: tokens.alice });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.status, "pending");
    assert.deepEqual(got.json.approvals.map((a: { by: string }) => a.by), ["r1"]);
    assert.equal((await c.invoke(roomId, tokens.r1, "_approve", { proposal: ids.keep })).json.counted, false);
    const done = await c.invoke(roomId, tokens.r2, "_approve", { proposal: ids.keep });
    assert.equal(done.json.proposal.status, "executed", done.text);
    // the room was loaded by those calls: its expiry job is armed again, for the same moment
    s.clock.advance(60_000);
    await until(async () => {
      const r = await c.http("GET", `/rooms/${roomId}/state?scope=_audit`, { token: tokens.room });
      return r.json.some((row: { value: { action: string } }) => row.value.action === "_proposal_expired");
    }, { what: "the expiry to commit after the restart" });
    const lapsed = await c.http("GET", `/rooms/${roomId}/proposals/${ids.lapse}`, { token: tokens.alice });
    assert.equal(lapsed.json.status, "expired");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("export and import carry pending and decided proposals", async () => {
  const { s, c, room, t, propose, decide } = await setup();
  await using _ = s;
  const done = (await propose({ version: "v1" })).json.proposal.id;
  await decide("_approve", t.r1, { proposal: done });
  await decide("_approve", t.r2, { proposal: done });
  const open = (await propose({ version: "v2" })).json.proposal.id;
  await decide("_approve", t.r1, { proposal: open });
  const snap = (await c.http("GET", `/rooms/${room.id}/export`, { token: room.token })).json;
  assert.deepEqual(snap.proposals.map((p: { id: string; status: string }) => [p.id, p.status]), [
    [done, "executed"],
    [open, "pending"],
  ]);
  const imp = await c.http("POST", "/rooms/import", { body: { ...snap, id: "restored" } });
  assert.equal(imp.status, 201, imp.text);
  assert.equal(imp.json.imported.proposals, 2);
  const r2 = imp.json.agent_tokens.r2;
  const list = (await c.http("GET", "/rooms/restored/proposals", { token: imp.json.token })).json;
  assert.deepEqual(list.map((p: { status: string }) => p.status), ["executed", "pending"]);
  const finished = await c.invoke("restored", r2, "_approve", { proposal: open });
  assert.equal(finished.json.proposal.status, "executed", finished.text);
  const bad = structuredClone(snap);
  bad.proposals[1].from = "approver ==";
  const refused = await c.http("POST", "/rooms/import", { body: { ...bad, id: "broken" } });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.field, "proposals[1].from");
});

Deno.test("a room keeps its latest 100 decided proposals, in memory and in storage", async () => {
  const { s, c, room, alice } = await setupRoom({ agents: ["alice"] });
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "ask",
    writes: [],
    approval: { count: 1, from: "approver == 'admin'" },
  });
  const ids: string[] = [];
  for (let i = 0; i < 102; i++) {
    const id = (await c.invoke(room.id, alice, "ask", {})).json.proposal.id;
    ids.push(id);
    if (i < 101) await c.ok(room.id, room.token, "_approve", { proposal: id });
  }
  const list = (await c.http("GET", `/rooms/${room.id}/proposals`, { token: room.token })).json;
  assert.equal(list.length, 101, "100 decided and the pending one");
  assert.deepEqual(list.map((p: { id: string }) => p.id), ids.slice(1));
  assert.equal((await c.http("GET", `/rooms/${room.id}/proposals/${ids[0]}`, { token: alice })).status, 404);
  await s.eng.rooms.drain();
  const rows = await s.store.client.execute({
    sql: "SELECT COUNT(*) AS n FROM proposals WHERE room_id = ?",
    args: [room.id],
  });
  assert.equal(Number(rows.rows[0].n), 101);
});
