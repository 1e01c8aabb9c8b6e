/**
 * The privacy matrix over the history routes: a secret in alice's scope (its value and its key's name) and
 * alice's own refusals reach no other agent through `GET /history` (any filter, any page), `GET
 * /state/history`, `/context?at=` or `/eval {at}` at any commit, error bodies included; the commits that
 * wrote only alice's scope are absent from bob's timeline altogether. The room and view tokens see it all;
 * an agent reads the past with the grants it had then; a stored refusal drops what its invoker may no
 * longer read.
 */
import assert from "node:assert/strict";
import type { Res } from "../_server.ts";
import { setupRoom } from "../_setup.ts";

const SECRET = "s3cr3t-vault-code";
const SECRET_KEY = "k-hidden-9q";
const REFUSED_SECRET = "pw-refused-77";

function clean(r: Res, what: string): void {
  for (const s of [SECRET, SECRET_KEY, REFUSED_SECRET]) {
    assert.ok(!r.text.includes(s), `${what} leaked ${s}: ${r.text.slice(0, 300)}`);
  }
}

// deno-lint-ignore no-explicit-any
type Commit = any;

async function setup() {
  const fx = await setupRoom({ agents: ["alice", "bob", "carol"] as const, server: { fakeClock: true } });
  const { c, room, alice, bob } = fx;
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 1 });
  await c.ok(room.id, alice, "_set_state", { key: SECRET_KEY, value: SECRET });
  await c.ok(room.id, alice, "_batch_set_state", {
    writes: [{ key: SECRET_KEY, value: `${SECRET}-2` }, { key: "mood", value: "calm" }],
  });
  // a commit that writes alice's scope and a shared key: bob sees the shared write only
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [{ scope: "alice", key: SECRET_KEY, value: `${SECRET}-3` }, {
      scope: "_shared",
      key: "turn",
      value: 2,
    }],
  });
  // alice's own refusal, whose detail quotes her secret and whose params hold another
  await c.ok(room.id, alice, "_register_action", {
    id: "open_vault",
    scope: "alice",
    params: { k: { type: "string" }, pw: { type: "string" } },
    if: "state.alice[params.k] == params.pw",
    writes: [{ scope: "_shared", key: "opened", value: true }],
  });
  const own = await c.invoke(room.id, alice, "open_vault", { k: SECRET_KEY, pw: REFUSED_SECRET });
  assert.equal(own.status, 409);
  // bob's refusal of alice's owner-scope action: its detail is bob's (never alice's values)
  assert.equal((await c.invoke(room.id, bob, "open_vault", { k: "mood", pw: "guess" })).status, 409);
  await c.ok(room.id, alice, "_delete_state", { key: SECRET_KEY });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 3 });
  return fx;
}

Deno.test("history privacy: bob and carol never see alice's secret, its key, or the commits that wrote it", async (t) => {
  const { s, req, room, alice, bob, carol } = await setup();
  await using _s = s;
  const all = (await req("GET", "/history?limit=500", room.token)).json.commits as Commit[];
  const privateOnly = all.filter((x) =>
    x.writes.length && x.writes.every((w: Commit) => w.scope === "alice") && !x.actions && !x.agents
  ).map((x) => x.seq);
  assert.ok(privateOnly.length >= 3, `alice's private commits: ${privateOnly}`);
  const aliceRefusal = all.find((x) => !x.ok && x.agent === "alice")!.seq;
  const last = all[0].seq;

  for (
    const [who, token, path] of [["bob", bob, ""], ["carol", carol, ""], [
      "admin as bob",
      room.token,
      "as=bob",
    ]]
  ) {
    await t.step(`${who}: the timeline, every filter and page`, async () => {
      const q = (extra: string) => `/history?${[path, extra].filter(Boolean).join("&")}`;
      const seen: number[] = [];
      let next: number | null = null;
      do {
        const r = await req("GET", q(`limit=2${next !== null ? `&before=${next}` : ""}`), token);
        assert.equal(r.status, 200, r.text);
        clean(r, `${who} /history page`);
        seen.push(...r.json.commits.map((x: Commit) => x.seq));
        next = r.json.next;
      } while (next !== null);
      for (const p of privateOnly) assert.ok(!seen.includes(p), `${who} sees commit ${p}`);
      assert.ok(!seen.includes(aliceRefusal), `${who} sees alice's refusal`);
      for (
        const f of ["agent=alice", "action=_set_state", "action=open_vault", "scope=_shared", "order=asc"]
      ) {
        const r = await req("GET", q(f), token);
        assert.equal(r.status, 200, `${f}: ${r.text}`);
        clean(r, `${who} /history?${f}`);
        for (const x of r.json.commits) assert.ok(!privateOnly.includes(x.seq), `${f} shows ${x.seq}`);
      }
      const mixed = seen.map((n) => all.find((x) => x.seq === n)).find((x) =>
        x.writes.some((w: Commit) => w.scope === "alice")
      );
      assert.ok(mixed, "a commit writing alice's scope and _shared is listed for its shared write");
      for (const f of ["scope=alice", `scope=alice&key=${SECRET_KEY}`]) {
        const r = await req("GET", q(f), token);
        assert.deepEqual([r.status, r.json.error], [403, "scope_denied"], f);
        clean(r, `${who} /history?${f}`);
      }
    });

    await t.step(`${who}: key versions`, async () => {
      const perspective = who.startsWith("admin") ? "&agent=bob" : "";
      const denied = await req("GET", `/state/history?scope=alice&key=${SECRET_KEY}${perspective}`, token);
      assert.deepEqual([denied.status, denied.json.error], [403, "scope_denied"]);
      clean(denied, `${who} versions of alice's key`);
      const shared = await req("GET", `/state/history?scope=_shared&key=turn${perspective}`, token);
      assert.equal(shared.status, 200);
      assert.deepEqual(shared.json.versions.map((v: Commit) => v.value), [3, 2, 1]);
      clean(shared, `${who} versions of _shared.turn`);
    });

    await t.step(`${who}: the room at every commit, as context and as eval`, async () => {
      const perspective = who.startsWith("admin") ? "&agent=bob" : "";
      for (let at = 0; at <= last; at++) {
        const ctx = await req("GET", `/context?at=${at}${perspective}`, token);
        clean(ctx, `${who} /context?at=${at}`);
        if (perspective && at < 2) {
          assert.deepEqual([ctx.status, ctx.json.error], [404, "agent_not_found"], "bob joined at 2");
          continue;
        }
        assert.equal(ctx.status, 200, ctx.text);
        assert.equal(ctx.json.state.alice, undefined);
        for (const expr of ["state", "state.alice", "actions", "views", "agents"]) {
          const body = { expr, at, ...(perspective ? { agent: "bob" } : {}) };
          const ev = await req("POST", "/eval", token, body);
          assert.equal(ev.status, 200, ev.text);
          clean(ev, `${who} /eval ${expr} at ${at}`);
        }
      }
      for (const at of [last + 1, 10_000]) {
        clean(await req("GET", `/context?at=${at}${perspective}`, token), "400");
      }
    });
  }

  await t.step("the room and view tokens, and alice herself, see all of it", async () => {
    for (const token of [room.token, room.view]) {
      const r = await req("GET", "/history?limit=500", token);
      assert.ok(r.text.includes(SECRET) && r.text.includes(SECRET_KEY));
      assert.ok(r.json.commits.some((x: Commit) => x.seq === aliceRefusal));
    }
    const mine = await req("GET", "/history?limit=500", alice);
    const seqs = mine.json.commits.map((x: Commit) => x.seq);
    for (const p of [...privateOnly, aliceRefusal]) assert.ok(seqs.includes(p));
    const refusal = mine.json.commits.find((x: Commit) => x.seq === aliceRefusal);
    assert.ok(JSON.stringify(refusal.detail).includes(SECRET), "her refusal explains her own values");
    assert.ok(!JSON.stringify(refusal).includes(REFUSED_SECRET), "params are not in history");
    const at = await req("GET", `/context?at=${Math.min(...privateOnly)}`, alice);
    assert.equal(at.json.state.self[SECRET_KEY], SECRET);
  });
});

Deno.test("history privacy: an agent reads the past with the grants it had then", async () => {
  const { s, c, req, room, alice, bob } = await setup();
  await using _s = s;
  await c.ok(room.id, alice, "_set_state", { key: "plan", value: "granted-then" });
  const before = (await c.context(room.id, room.token)).cursor;
  await c.http("PATCH", `/rooms/${room.id}/agents/bob`, { token: room.token, body: { grants: ["alice"] } });
  const granted = (await c.context(room.id, room.token)).cursor;
  await c.http("PATCH", `/rooms/${room.id}/agents/bob`, { token: room.token, body: { grants: [] } });
  assert.equal((await req("GET", `/context?at=${before}`, bob)).json.state.alice, undefined);
  assert.deepEqual((await req("GET", `/context?at=${granted}`, bob)).json.state.alice, {
    mood: "calm",
    plan: "granted-then",
  });
  // the timeline and versions are read with the grants of now
  assert.deepEqual((await req("GET", "/state/history?scope=alice&key=plan", bob)).status, 403);
  clean(await req("GET", "/history", bob), "bob's timeline after the revocation");
});

Deno.test("a stored refusal leaves out what its invoker may no longer read", async () => {
  const { s, c, req, room, carol } = await setup();
  await using _s = s;
  await c.ok(room.id, room.token, "_set_state", { scope: "vault", key: "code", value: SECRET });
  await c.http("PATCH", `/rooms/${room.id}/agents/carol`, { token: room.token, body: { grants: ["vault"] } });
  await c.ok(room.id, room.token, "_register_action", {
    id: "crack",
    params: { guess: { type: "string" } },
    if: "state.vault.code == params.guess && state._shared.turn > 5",
    writes: [{ scope: "_shared", key: "cracked", value: true }],
  });
  const live = await c.invoke(room.id, carol, "crack", { guess: "nope" });
  assert.equal(live.status, 409);
  assert.equal(live.json.detail["state.vault.code"], SECRET, "carol could read it when refused");
  await c.http("PATCH", `/rooms/${room.id}/agents/carol`, { token: room.token, body: { grants: [] } });
  const audit = await req("GET", "/state?scope=_audit", carol);
  const row = audit.json.find((r: Commit) => r.value.action === "crack").value;
  assert.deepEqual([row.error, row.status], ["precondition_failed", 409]);
  assert.match(row.message, /not satisfied/);
  assert.deepEqual(row.detail.detail, { "state._shared.turn": 3 });
  clean(audit, "carol's audit rows");
  const poll = await req("GET", "/poll", carol);
  clean(poll, "carol's /poll");
  assert.equal(poll.json.audit.find((a: Commit) => a.action === "crack").error, "precondition_failed");
  const hist = await req("GET", "/history?action=crack", carol);
  assert.equal(hist.json.commits[0].error, "precondition_failed");
  clean(hist, "carol's timeline");
  const admin = await req("GET", "/history?action=crack", room.token);
  assert.equal(
    admin.json.commits[0].detail.detail["state.vault.code"],
    SECRET,
    "the room token reads it all",
  );
});
