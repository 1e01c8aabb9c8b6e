/**
 * Racing invocations against one room (reference/api.md#invoke: one atomic step): increments never lose an update, a predicate
 * guarded create or claim has exactly one winner, and nobody sees a 5xx.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

Deno.test("30 concurrent increments on one key end at exactly +30", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const r = await c.createRoom();
  await c.ok(r.id, r.token, "_set_state", { key: "count", value: 100 });
  const agents = await Promise.all(Array.from({ length: 6 }, (_, i) => c.join(r.id, `a${i}`)));
  await c.http("PATCH", `/rooms/${r.id}/agents/a0`, { token: r.token, body: { grants: ["_shared"] } });
  const results = await Promise.all(
    Array.from(
      { length: 30 },
      (_, i) =>
        c.invoke(r.id, i % 2 ? r.token : agents[0], "_set_state", {
          scope: "_shared",
          key: "count",
          increment: 1,
        }),
    ),
  );
  assert.deepEqual(results.map((x) => x.status), Array(30).fill(200));
  const versions = results.map((x) => x.json.writes[0].version).sort((a, b) => a - b);
  assert.deepEqual(versions, Array.from({ length: 30 }, (_, i) => i + 2));
  const row = await c.http("GET", `/rooms/${r.id}/state?scope=_shared&key=count`, { token: r.token });
  assert.equal(row.json.value, 130);
  assert.equal(row.json.version, 31);
});

Deno.test("10 concurrent if_version: 0 creates of one key: exactly one wins", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const r = await c.createRoom();
  const results = await Promise.all(
    Array.from(
      { length: 10 },
      (_, i) => c.invoke(r.id, r.token, "_set_state", { key: "lock", value: `owner-${i}`, if_version: 0 }),
    ),
  );
  const winners = results.filter((x) => x.status === 200);
  assert.equal(winners.length, 1);
  const losers = results.filter((x) => x.status === 409);
  assert.equal(losers.length, 9);
  for (const l of losers) {
    assert.equal(l.json.error, "version_conflict");
    assert.equal(l.json.current.value, winners[0].json.writes[0].value);
  }
  const row = await c.http("GET", `/rooms/${r.id}/state?scope=_shared&key=lock`, { token: r.token });
  assert.equal(row.json.value, winners[0].json.writes[0].value);
  assert.equal(row.json.version, 1);
});

Deno.test("20 agents racing claim_task: one 200, nineteen 409, the stored claimer is the winner", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const r = await c.createRoom();
  await c.ok(r.id, r.token, "_register_action", {
    id: "post_task",
    params: { body: { type: "string" } },
    writes: [{
      scope: "_tasks",
      append: true,
      value: { from: "${self}", body: "${params.body}", claimed_by: null },
    }],
  });
  await c.ok(r.id, r.token, "_register_action", {
    id: "claim_task",
    params: { key: { type: "string" } },
    if: "state._tasks[params.key].claimed_by == null",
    writes: [{
      scope: "_tasks",
      key: "${params.key}",
      merge: { claimed_by: "${self}", claimed_at: "${now}" },
    }],
  });
  const ids = Array.from({ length: 20 }, (_, i) => `w${i}`);
  const tokens = await Promise.all(ids.map((id) => c.join(r.id, id)));
  const posted = await c.ok(r.id, tokens[0], "post_task", { body: "analyze" });
  const key = posted.writes[0].key;
  const results = await Promise.all(tokens.map((t) => c.invoke(r.id, t, "claim_task", { key })));
  const statuses = results.map((x) => x.status);
  assert.ok(statuses.every((x) => x < 500), `5xx in ${statuses}`);
  assert.equal(statuses.filter((x) => x === 200).length, 1);
  assert.equal(statuses.filter((x) => x === 409).length, 19);
  for (const x of results) if (x.status === 409) assert.equal(x.json.error, "precondition_failed");
  const winner = ids[statuses.indexOf(200)];
  const row = await c.http("GET", `/rooms/${r.id}/state?scope=_tasks&key=${key}`, { token: r.token });
  assert.equal(row.json.value.claimed_by, winner);
  assert.equal(row.json.version, 2);
  // every attempt is audited, refusals included
  const audit = (await c.http("GET", `/rooms/${r.id}/poll?audit_limit=2000`, { token: r.token })).json.audit;
  const claims = audit.filter((a: { action: string }) => a.action === "claim_task");
  assert.equal(claims.length, 20);
  assert.equal(claims.filter((a: { ok: boolean }) => a.ok).length, 1);
});
