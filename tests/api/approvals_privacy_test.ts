/**
 * The privacy of proposals: alice's proposal (its params carry a secret) reaches its approvers and the room
 * and view tokens, and nothing of it reaches bob, who neither proposed it nor may decide it — not in
 * /proposals, /context, CEL, /poll, /wait, the change feed, or an error body. An approver who is not the
 * proposer learns a failed run's code, not its details.
 */
import assert from "node:assert/strict";
import type { Res } from "../_server.ts";
import { setupRoom } from "../_setup.ts";

const SECRET = "launch-code-7731";

/** Reads a room's change feed from `after` until `until` appears in it; returns the text read. */
async function feedText(base: string, path: string, token: string, until: string): Promise<string> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes(until)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  return text;
}

Deno.test("bob, neither proposer nor approver, sees nothing of alice's proposal", async (t) => {
  const fx = await setupRoom({ agents: ["alice", "bob", "rev"], join: { rev: { role: "reviewer" } } });
  const { s, c, room, alice, bob, rev, req } = fx;
  await using _ = s;
  await c.ok(room.id, room.token, "_register_action", {
    id: "transfer",
    params: { to: { type: "string", required: true }, code: { type: "string", required: true } },
    writes: [{ scope: "_shared", key: "sent_to", value: "${params.to}" }],
    approval: { count: 2, from: "agents[approver].role == 'reviewer'" },
  });
  const start = (await c.context(room.id, bob)).cursor;
  const made = await c.invoke(room.id, alice, "transfer", { to: "carol", code: SECRET });
  assert.equal(made.status, 202, made.text);
  const id = made.json.proposal.id as string;
  await c.ok(room.id, rev, "_approve", { proposal: id });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "marker", value: 1 });

  /** No params; and no proposal id unless bob's own request named it (`asked`). */
  const clean = (r: Res, what: string, asked = false) => {
    assert.ok(!r.text.includes(SECRET), `${what} leaked the params: ${r.text.slice(0, 400)}`);
    if (!asked) assert.ok(!r.text.includes(id), `${what} named the proposal: ${r.text.slice(0, 400)}`);
  };

  await t.step("bob's change feed carries none of its commits", async () => {
    const text = await feedText(s.base, `/rooms/${room.id}/events?after=${start}`, bob, '"marker"');
    assert.ok(text.includes('"marker"'), "the feed reached the marker");
    clean({ text } as Res, "bob's feed");
    // alice's feed names her proposal in the commits that made and decided it
    const hers = await feedText(s.base, `/rooms/${room.id}/events?after=${start}`, alice, '"marker"');
    assert.ok(hers.includes(`"proposals":["${id}"]`), hers);
  });

  await t.step("reads by bob", async () => {
    const cond = encodeURIComponent("size(proposals) > 0");
    const reads: [string, string, unknown?][] = [
      ["GET", "/proposals"],
      ["GET", "/proposals?status=pending"],
      ["GET", "/context"],
      ["GET", "/context?only=proposals"],
      ["GET", "/poll"],
      ["GET", "/state?scope=_audit"],
      ["GET", `/wait?condition=${cond}&timeout=50&include=proposals`],
      ["GET", `/wait?condition=true&include=context`],
      ["POST", "/eval", { expr: "proposals" }],
      ["POST", "/eval", { expr: "size(proposals)" }],
      ["POST", "/eval", { expr: `proposals["${id}"].params.code` }],
    ];
    for (const [method, path, body] of reads) {
      const r = await req(method, path, bob, body);
      assert.ok(r.status < 500, `${method} ${path} → ${r.status}`);
      clean(r, `bob ${method} ${path}`, JSON.stringify(body ?? "").includes(id));
    }
    assert.deepEqual((await req("GET", "/proposals", bob)).json, []);
    assert.deepEqual((await c.context(room.id, bob)).proposals, {});
    assert.equal((await req("POST", "/eval", bob, { expr: "size(proposals)" })).json.value, 0);
    assert.equal((await req("POST", "/eval", bob, { expr: `"${id}" in proposals` })).json.value, false);
  });

  await t.step("bob's errors name no more than the id he gave", async () => {
    const one = await req("GET", `/proposals/${id}`, bob);
    assert.equal(one.status, 404);
    assert.equal(one.json.error, "proposal_not_found");
    clean(one, "bob GET /proposals/:id", true);
    for (const action of ["_approve", "_reject"]) {
      const r = await c.invoke(room.id, bob, action, { proposal: id });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.error, "not_an_approver");
      clean(r, `bob ${action}`, true);
    }
  });

  await t.step("the proposer, its approvers and the room and view tokens see the params", async () => {
    for (const token of [alice, rev, room.token, room.view]) {
      const one = await req("GET", `/proposals/${id}`, token);
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.params.code, SECRET);
      assert.ok((await c.context(room.id, token)).proposals[id], "listed in /context");
      const ev = await req("POST", "/eval", token, { expr: `proposals["${id}"].params.code` });
      assert.equal(ev.json.value, SECRET);
    }
    // the room token reading as bob sees what bob sees
    assert.deepEqual((await req("GET", "/proposals?agent=bob", room.token)).json, []);
    assert.equal((await req("GET", "/proposals?agent=rev", room.token)).json.length, 1);
  });

  await t.step(
    "an approver whose role is taken away no longer sees a proposal it had no part in",
    async () => {
      await c.join(room.id, "rev2", { role: "reviewer" });
      await req("PATCH", "/agents/rev2", room.token, { role: "intern" });
      assert.deepEqual((await req("GET", "/proposals?agent=rev2", room.token)).json, []);
      // rev approved it: rev keeps seeing it whatever its role
      await req("PATCH", "/agents/rev", room.token, { role: "intern" });
      assert.equal((await req("GET", "/proposals?agent=rev", room.token)).json[0].may_decide, false);
    },
  );
});

Deno.test("a failed run's details reach the proposer, not the approver who triggered it", async () => {
  const fx = await setupRoom({ agents: ["alice", "rev"], join: { rev: { role: "reviewer" } } });
  const { s, c, room, alice, rev, req } = fx;
  await using _ = s;
  // registered by the room token: its `if` reads the invoker's own scope (alice's, at the run)
  await c.ok(room.id, room.token, "_register_action", {
    id: "spend",
    if: "state.self.pin == 'open'",
    writes: [{ scope: "_shared", key: "spent", value: true }],
    approval: { count: 1, from: "approver == 'rev'" },
  });
  await c.ok(room.id, alice, "_set_state", { key: "pin", value: "open" });
  const id = (await c.invoke(room.id, alice, "spend", {})).json.proposal.id;
  await c.ok(room.id, alice, "_set_state", { key: "pin", value: SECRET });
  const r = await c.invoke(room.id, rev, "_approve", { proposal: id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.proposal.status, "failed");
  assert.equal(r.json.proposal.error.error, "precondition_failed");
  assert.ok(!r.text.includes(SECRET), r.text);
  assert.ok(!(await req("GET", `/proposals/${id}`, rev)).text.includes(SECRET));
  const own = await req("GET", `/proposals/${id}`, alice);
  assert.deepEqual(own.json.error.detail, { "state.self.pin": SECRET });
});
