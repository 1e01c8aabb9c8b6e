/**
 * The vocabulary layer (reference/api.md#custom-actions, #views): custom actions (registration validation, params, templates, write
 * authority, listings), views, dry runs, idempotent retries, explained refusals and the help override.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

async function fixture(opts: { fakeClock?: boolean } = {}) {
  const s = await startServer(opts);
  const c = client(s.base);
  const r = await c.createRoom("vocab");
  const alice = await c.join(r.id, "alice");
  const bob = await c.join(r.id, "bob");
  const get = async (scope: string, key: string) => {
    const res = await c.http("GET", `/rooms/${r.id}/state?scope=${scope}&key=${encodeURIComponent(key)}`, {
      token: r.token,
    });
    return res.status === 200 ? res.json : undefined;
  };
  const reg = (tok: string, def: Record<string, unknown>) => c.invoke(r.id, tok, "_register_action", def);
  return { s, c, r, alice, bob, get, reg };
}

Deno.test("templates: literal param values, typed exact matches, keys, increments", async (t) => {
  const { s, c, r, alice, get, reg } = await fixture({ fakeClock: true });
  await using _s = s;
  await c.ok(r.id, r.token, "_register_action", {
    id: "note",
    params: { text: { type: "any" }, k: { type: "string", default: "n" }, x: { type: "any" } },
    writes: [
      { scope: "_notes", key: "${params.k}", value: "${params.text}" },
      {
        scope: "_notes",
        key: "by-${self}",
        value: { text: "${params.text}", said: "${self} says ${params.text}", at: "${now}" },
      },
    ],
  });

  await t.step("a param holding ${self} or ${params.x} is stored literally (single pass)", async () => {
    const w = await c.ok(r.id, alice, "note", { text: "${self} and ${params.x} and ${now}", x: "boom" });
    assert.equal((await get("_notes", "n")).value, "${self} and ${params.x} and ${now}");
    const by = (await get("_notes", "by-alice")).value;
    assert.equal(by.text, "${self} and ${params.x} and ${now}");
    assert.equal(by.said, "alice says ${self} and ${params.x} and ${now}");
    assert.equal(by.at, new Date(s.clock.now()).toISOString());
    assert.equal(w.writes.length, 2);
  });

  await t.step("an exact-match template keeps the param's JSON type", async () => {
    for (const v of [5, 2.5, true, null, { a: [1, { b: 2 }] }, ["x", 1]]) {
      await c.ok(r.id, alice, "note", { text: v });
      assert.deepEqual((await get("_notes", "n")).value, v);
    }
    await c.ok(r.id, alice, "note", { text: 7 });
    assert.equal((await get("_notes", "by-alice")).value.said, "alice says 7");
  });

  await t.step("a key template cannot escape into another scope", async () => {
    for (const k of ["bob", "../bob", "bob.secret", "_shared"]) {
      const res = await c.invoke(r.id, alice, "note", { text: "hi", k });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.writes[0].scope, "_notes");
      assert.equal(res.json.writes[0].key, k);
    }
    // a key with a control character is no key at all (it once stood for `alice` in memory)
    const nul = await c.invoke(r.id, alice, "note", { text: "hi", k: "alice\u0000x" });
    assert.equal(nul.status, 400, nul.text);
    assert.equal(nul.json.error, "invalid_body");
    assert.equal(nul.json.field, "writes[0].key");
    const bobScope = await c.http("GET", `/rooms/${r.id}/state?scope=bob`, { token: r.token });
    assert.deepEqual(bobScope.json, []);
    // a scope template may name only scopes the action may write
    await c.ok(r.id, r.token, "_register_action", {
      id: "scoped",
      params: { who: { type: "string" } },
      writes: [{ scope: "${params.who}", key: "x", value: 1 }],
    });
    const denied = await c.invoke(r.id, alice, "scoped", { who: "bob" });
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error, "scope_denied");
    assert.equal((await c.invoke(r.id, alice, "scoped", { who: "alice" })).status, 200);
    assert.equal((await c.invoke(r.id, alice, "scoped", { who: "_audit" })).status, 403);
  });

  await t.step("templates in object keys and dotted param paths", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "vote",
      params: { ballot: { type: "object" } },
      writes: [{
        scope: "_votes",
        key: "tally",
        merge: { "${self}": "${params.ballot.choice}", "n-${params.ballot.n}": true },
      }],
    });
    await c.ok(r.id, alice, "vote", { ballot: { choice: "red", n: 3 } });
    assert.deepEqual((await get("_votes", "tally")).value, { alice: "red", "n-3": true });
  });

  await t.step("increment templates are coerced to numbers; non-numeric is 400", async () => {
    const res = await reg(r.token, {
      id: "add",
      params: { amount: { type: "any" } },
      writes: [{ scope: "_shared", key: "total", increment: "${params.amount}" }],
    });
    assert.equal(res.status, 200, res.text);
    await c.ok(r.id, alice, "add", { amount: 3 });
    await c.ok(r.id, alice, "add", { amount: "4" });
    await c.ok(r.id, alice, "add", { amount: -1.5 });
    assert.equal((await get("_shared", "total")).value, 5.5);
    for (const bad of ["abc", "", { n: 1 }]) {
      const no = await c.invoke(r.id, alice, "add", { amount: bad });
      assert.equal(no.status, 400, `${JSON.stringify(bad)}: ${no.text}`);
    }
    assert.equal((await get("_shared", "total")).version, 3);
  });

  await t.step("expr: true computes a value with CEL", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "double",
      writes: [{ scope: "_shared", key: "twice", expr: true, value: "state._shared.total * 2.0" }],
    });
    assert.deepEqual((await c.ok(r.id, alice, "double")).writes[0].value, 11);
  });
});

Deno.test("registration: validation names the field; only the registrar or the room token may change", async (t) => {
  const { s, c, r, alice, bob, reg } = await fixture();
  await using _s = s;
  const base = { id: "act", writes: [{ scope: "_shared", key: "x", value: 1 }] };

  await t.step("bad CEL in if, enabled, writes[i].if → 400 invalid_cel naming the field", async () => {
    for (
      const [def, field] of [
        [{ ...base, if: "state._shared.x ==" }, "if"],
        [{ ...base, enabled: "(((" }, "enabled"],
        [{
          ...base,
          writes: [{ scope: "_shared", key: "x", value: 1 }, {
            scope: "_shared",
            key: "y",
            value: 1,
            if: "1 +",
          }],
        }, "writes[1].if"],
        [
          { ...base, writes: [{ scope: "_shared", key: "x", expr: true, value: "state." }] },
          "writes[0].value",
        ],
      ] as const
    ) {
      const res = await reg(alice, def);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, "invalid_cel");
      assert.equal(res.json.field, field);
      assert.ok(res.json.message.includes(field), res.json.message);
    }
  });

  await t.step("unknown placeholder or undeclared param → 400 naming the write", async () => {
    const a = await reg(alice, { ...base, writes: [{ scope: "_shared", key: "x", value: "${whoami}" }] });
    assert.equal(a.status, 400);
    assert.equal(a.json.error, "invalid_template");
    assert.match(a.json.field, /^writes\[0\]/);
    const b = await reg(alice, { ...base, writes: [{ scope: "_shared", key: "${params.k}", value: 1 }] });
    assert.equal(b.status, 400);
    assert.match(b.json.message, /k/);
    const c2 = await reg(alice, { ...base, params: { n: { type: "integer", default: "x" } } });
    assert.equal(c2.status, 400);
    const d = await reg(alice, { ...base, params: { n: { type: "float" } } });
    assert.equal(d.status, 400);
    const e = await reg(alice, { ...base, writes: [{ scope: "_audit", key: "x", value: 1 }] });
    assert.equal(e.status, 403);
    const f = await reg(alice, { ...base, timer: { ms: -5 } });
    assert.equal(f.status, 400);
    const g = await reg(alice, { ...base, id: "_mine" });
    assert.equal(g.status, 400);
    const listed = (await c.http("GET", `/rooms/${r.id}/actions`, { token: r.token })).json;
    assert.ok(!listed.some((x: { id: string }) => x.id === "act" || x.id === "_mine"));
  });

  await t.step("not_owner: another agent can neither overwrite nor delete; the room token can", async () => {
    assert.equal((await reg(alice, base)).status, 200);
    const over = await reg(bob, { ...base, description: "mine now" });
    assert.equal(over.status, 403);
    assert.equal(over.json.error, "not_owner");
    const del = await c.invoke(r.id, bob, "_delete_action", { id: "act" });
    assert.equal(del.status, 403);
    assert.equal(del.json.error, "not_owner");
    assert.equal((await reg(alice, { ...base, description: "v2" })).status, 200);
    assert.equal((await c.http("GET", `/rooms/${r.id}/actions/act`, { token: bob })).json.description, "v2");
    assert.equal((await reg(r.token, { ...base, description: "admin" })).status, 200);
    assert.equal((await c.invoke(r.id, r.token, "_delete_action", { id: "act" })).status, 200);
    const gone = await c.invoke(r.id, alice, "act");
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error, "action_not_found");
    // the same rules for views
    await c.ok(r.id, alice, "_register_view", { id: "v", expr: "1" });
    assert.equal(
      (await c.invoke(r.id, bob, "_register_view", { id: "v", expr: "2" })).json.error,
      "not_owner",
    );
    assert.equal((await c.invoke(r.id, bob, "_delete_view", { id: "v" })).json.error, "not_owner");
    assert.equal((await c.invoke(r.id, r.token, "_delete_view", { id: "v" })).status, 200);
  });
});

Deno.test("invocation: params, enabled, write authority, listings", async (t) => {
  const { s, c, r, alice, bob, get } = await fixture();
  await using _s = s;
  await c.ok(r.id, r.token, "_register_action", {
    id: "cfg",
    description: "configure",
    params: {
      mode: { type: "string", enum: ["a", "b"], required: true, description: "the mode" },
      level: { type: "integer", default: 1 },
      ratio: { type: "number" },
      flags: { type: "array" },
      opts: { type: "object" },
      on: { type: "boolean" },
    },
    writes: [{ scope: "_cfg", key: "${self}", value: { mode: "${params.mode}", level: "${params.level}" } }],
  });

  await t.step("params: each bad param named, unknown refused, defaults applied", async () => {
    const bad = await c.invoke(r.id, alice, "cfg", {
      mode: "z",
      level: 1.5,
      ratio: "x",
      flags: {},
      opts: [],
      on: "yes",
      extra: 1,
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "invalid_params");
    const named = bad.json.params.map((p: { param: string }) => p.param).sort();
    assert.deepEqual(named, ["extra", "flags", "level", "mode", "on", "opts", "ratio"]);
    const missing = await c.invoke(r.id, alice, "cfg", {});
    assert.equal(missing.status, 400);
    assert.match(missing.json.message, /mode/);
    const ok = await c.ok(r.id, alice, "cfg", { mode: "b", ratio: 2, flags: [], opts: {}, on: false });
    assert.deepEqual(ok.writes[0].value, { mode: "b", level: 1 });
    assert.equal(ok.ok, true);
    assert.equal(ok.action, "cfg");
    assert.deepEqual(Object.keys(ok.writes[0]).sort(), ["key", "scope", "value", "version"]);
    assert.equal((await get("_cfg", "alice")).value.level, 1);
  });

  await t.step("enabled false → 409 action_disabled; hidden in /context, listed as disabled", async () => {
    await c.ok(r.id, r.token, "_register_action", {
      id: "open_door",
      enabled: 'state._shared.door == "unlocked"',
      writes: [{ scope: "_shared", key: "door", value: "open" }],
    });
    const no = await c.invoke(r.id, alice, "open_door");
    assert.equal(no.status, 409);
    assert.equal(no.json.error, "action_disabled");
    assert.equal((await c.context(r.id, alice)).actions.open_door, undefined);
    const listed = (await c.http("GET", `/rooms/${r.id}/actions/open_door`, { token: alice })).json;
    assert.deepEqual([listed.enabled, listed.available], [false, false]);
    await c.ok(r.id, r.token, "_set_state", { key: "door", value: "unlocked" });
    assert.equal((await c.context(r.id, alice)).actions.open_door.available, true);
    assert.equal((await c.invoke(r.id, alice, "open_door")).status, 200);
  });

  await t.step("write authority: system scopes, owner scope, invoker's own scope; else 403", async () => {
    await c.ok(r.id, alice, "_register_action", {
      id: "alice_box",
      scope: "alice",
      params: { v: { type: "any" } },
      writes: [{ scope: "alice", key: "box", append: true, value: "${params.v}" }, {
        scope: "${self}",
        key: "sent",
        value: true,
      }],
    });
    const w = await c.invoke(r.id, bob, "alice_box", { v: "from bob" });
    assert.equal(w.status, 200, w.text);
    assert.deepEqual((await get("alice", "box")).value, ["from bob"]);
    assert.equal((await get("bob", "sent")).value, true);
    await c.ok(r.id, r.token, "_register_action", {
      id: "poke_bob",
      writes: [{ scope: "bob", key: "poked", value: 1 }],
    });
    const denied = await c.invoke(r.id, alice, "poke_bob");
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error, "scope_denied");
    assert.equal((await c.invoke(r.id, bob, "poke_bob")).status, 200, "bob writing his own scope is fine");
  });

  await t.step("GET /actions lists builtins and custom actions with their fields", async () => {
    const list = (await c.http("GET", `/rooms/${r.id}/actions`, { token: alice })).json;
    assert.ok(Array.isArray(list));
    const set = list.find((a: { id: string }) => a.id === "_set_state");
    assert.equal(set.builtin, true);
    assert.ok(set.params.key.description);
    for (
      const b of [
        "_send_message",
        "_batch_set_state",
        "_delete_state",
        "_register_action",
        "_delete_action",
        "_register_view",
        "_delete_view",
        "_heartbeat",
        "_renew_timer",
        "_claim_message",
        "help",
      ]
    ) {
      assert.ok(list.some((a: { id: string }) => a.id === b), b);
    }
    const cfg = list.find((a: { id: string }) => a.id === "cfg");
    assert.equal(cfg.description, "configure");
    assert.equal(cfg.available, true);
    assert.equal(cfg.enabled, true);
    assert.equal(cfg.params.mode.description, "the mode");
    assert.equal(cfg.writes[0].key, "${self}");
    const ctx = await c.context(r.id, alice);
    assert.equal(ctx.actions.cfg.writes[0].value.mode, "${params.mode}");
    assert.equal(ctx.actions._set_state.builtin, true);
    const viewer = (await c.http("GET", `/rooms/${r.id}/actions/cfg`, { token: r.view })).json;
    assert.equal(viewer.available, false);
    const missing = await c.http("GET", `/rooms/${r.id}/actions/nope`, { token: alice });
    assert.equal(missing.status, 404);
  });
});

Deno.test("views: listings, context, CEL, chaining, failures", async () => {
  const { s, c, r, alice, bob } = await fixture();
  await using _s = s;
  await c.ok(r.id, alice, "_set_state", { key: "hp", value: 30 });
  const reg = await c.ok(r.id, alice, "_register_view", {
    id: "hp-band",
    expr: 'state["alice"].hp > 50 ? "high" : "low"',
    description: "band",
  });
  assert.equal(reg.value, "low");
  await c.ok(r.id, r.token, "_register_view", { id: "loud", expr: 'views["hp-band"] + "!"' });
  await c.ok(r.id, r.token, "_register_view", { id: "broken", expr: "state._shared.nope.deeper" });
  const list = (await c.http("GET", `/rooms/${r.id}/views`, { token: bob })).json;
  const by = Object.fromEntries(list.map((v: { id: string }) => [v.id, v]));
  assert.deepEqual([by["hp-band"].value, by["hp-band"].description, by["hp-band"].scope], [
    "low",
    "band",
    "alice",
  ]);
  assert.equal(by.loud.value, "low!");
  assert.equal(by.broken.value, null);
  assert.equal(typeof by.broken.error, "string");
  const one = await c.http("GET", `/rooms/${r.id}/views/loud`, { token: bob });
  assert.equal(one.json.value, "low!");
  assert.equal(
    (await c.http("GET", `/rooms/${r.id}/views/none`, { token: bob })).json.error,
    "view_not_found",
  );
  const ctx = await c.context(r.id, bob);
  assert.equal(ctx.views.loud, "low!");
  assert.equal(ctx.views.broken, null);
  const ev = await c.http("POST", `/rooms/${r.id}/eval`, {
    token: bob,
    body: { expr: 'views["hp-band"] == "low"' },
  });
  assert.equal(ev.json.value, true);
  await c.ok(r.id, alice, "_set_state", { key: "hp", value: 90 });
  assert.equal((await c.context(r.id, bob)).views.loud, "high!");
  await c.ok(r.id, alice, "_delete_view", { id: "hp-band" });
  assert.equal((await c.context(r.id, bob)).views["hp-band"], undefined);
  const bad = await c.invoke(r.id, alice, "_register_view", { id: "x", expr: "1 +" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, "invalid_cel");
  assert.equal(bad.json.field, "expr");
});

Deno.test("dry run returns the writes and commits nothing", async () => {
  const { s, c, r, alice, get } = await fixture();
  await using _s = s;
  await c.ok(r.id, r.token, "_register_action", {
    id: "bump",
    if: "state._shared.open == true",
    writes: [{ scope: "_shared", key: "n", increment: 1 }, {
      scope: "_messages",
      append: true,
      value: { body: "bumped" },
    }],
  });
  await c.ok(r.id, r.token, "_set_state", { key: "open", value: true });
  await c.ok(r.id, r.token, "_set_state", { key: "n", value: 1 });
  const before = (await c.http("GET", `/rooms/${r.id}/poll`, { token: r.token })).json;
  for (
    const path of [
      `/rooms/${r.id}/actions/bump/invoke?dry_run=true`,
      `/rooms/${r.id}/actions/_set_state/invoke?dry_run=true`,
    ]
  ) {
    const body = path.includes("_set_state") ? { params: { key: "z", value: 9 } } : { params: {} };
    const res = await c.http("POST", path, { token: alice, body });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.dry_run, true);
    assert.ok(res.json.writes.length >= 1);
  }
  const dry = await c.http("POST", `/rooms/${r.id}/actions/bump/invoke`, {
    token: alice,
    body: { params: {}, dry_run: true },
  });
  assert.equal(dry.json.writes[0].value, 2);
  assert.equal((await get("_shared", "n")).value, 1);
  assert.equal(await get("alice", "z"), undefined);
  const after = (await c.http("GET", `/rooms/${r.id}/poll`, { token: r.token })).json;
  assert.deepEqual(after.state, before.state);
  assert.equal(after.message_count, before.message_count);
  // a dry run of a refused invocation is refused the same way
  await c.ok(r.id, r.token, "_set_state", { key: "open", value: false });
  const refused = await c.http("POST", `/rooms/${r.id}/actions/bump/invoke?dry_run=true`, {
    token: alice,
    body: { params: {} },
  });
  assert.equal(refused.status, 409);
  assert.equal(refused.json.error, "precondition_failed");
  assert.deepEqual(refused.json.detail, { "state._shared.open": false });
});

Deno.test("Idempotency-Key: a retry returns the first response and changes nothing", async () => {
  const { s, c, r, alice, bob, get } = await fixture();
  await using _s = s;
  await c.ok(r.id, r.token, "_register_action", {
    id: "inc",
    writes: [{ scope: "_shared", key: "n", increment: 1 }],
  });
  const call = (tok: string, key: string) =>
    c.http("POST", `/rooms/${r.id}/actions/inc/invoke`, {
      token: tok,
      body: { params: {} },
      headers: { "idempotency-key": key },
    });
  const first = await call(alice, "k1");
  assert.equal(first.status, 200);
  const retry = await call(alice, "k1");
  assert.equal(retry.status, 200);
  assert.deepEqual(retry.json, first.json);
  assert.equal((await get("_shared", "n")).value, 1);
  const other = await call(bob, "k1");
  assert.equal(other.status, 200);
  assert.equal(other.json.writes[0].value, 2, "another identity with the same key is independent");
  const next = await call(alice, "k2");
  assert.equal(next.json.writes[0].value, 3);
  assert.equal((await call(alice, "k1")).json.writes[0].value, 1);
  assert.equal((await get("_shared", "n")).value, 3);
});

Deno.test("explained refusals: precondition_failed carries the values the expression read", async () => {
  const { s, c, r, alice } = await fixture();
  await using _s = s;
  await c.ok(r.id, r.token, "_set_state", { key: "phase", value: "lobby" });
  await c.ok(r.id, r.token, "_set_state", { key: "players", value: 3 });
  await c.ok(r.id, r.token, "_register_action", {
    id: "start",
    params: { min: { type: "integer", default: 4 } },
    if: 'state._shared.phase == "lobby" && state._shared.players >= params.min && state._shared.host == self',
    writes: [{ scope: "_shared", key: "phase", value: "playing" }],
  });
  const res = await c.invoke(r.id, alice, "start");
  assert.equal(res.status, 409);
  assert.equal(res.json.error, "precondition_failed");
  assert.equal(
    res.json.expression,
    'state._shared.phase == "lobby" && state._shared.players >= params.min && state._shared.host == self',
  );
  assert.equal(res.json.detail["state._shared.phase"], "lobby");
  assert.equal(res.json.detail["state._shared.players"], 3);
  assert.equal(res.json.detail["state._shared.host"].missing, true);
});

Deno.test("help: the builtin guide, and a room's own help replacing it", async () => {
  const { s, c, r, alice, get } = await fixture();
  await using _s = s;
  const builtin = await c.ok(r.id, alice, "help");
  assert.ok(builtin.help.workflow.length > 0);
  assert.ok(builtin.help.actions.some((a: { id: string }) => a.id === "_set_state"));
  let list = (await c.http("GET", `/rooms/${r.id}/actions`, { token: alice })).json;
  assert.equal(list.find((a: { id: string }) => a.id === "help").builtin, true);
  await c.ok(r.id, r.token, "_register_action", {
    id: "help",
    description: "House rules: be nice",
    writes: [{ scope: "_shared", key: "help_asked_by", value: "${self}" }],
  });
  list = (await c.http("GET", `/rooms/${r.id}/actions`, { token: alice })).json;
  const helps = list.filter((a: { id: string }) => a.id === "help");
  assert.equal(helps.length, 1);
  assert.equal(helps[0].description, "House rules: be nice");
  assert.notEqual(helps[0].builtin, true);
  const ctx = await c.context(r.id, alice);
  assert.equal(ctx.actions.help.description, "House rules: be nice");
  const custom = await c.ok(r.id, alice, "help");
  assert.equal(custom.help, undefined);
  assert.equal(custom.writes[0].value, "alice");
  assert.equal((await get("_shared", "help_asked_by")).value, "alice");
  await c.ok(r.id, r.token, "_delete_action", { id: "help" });
  assert.ok((await c.ok(r.id, alice, "help")).help);
});

Deno.test("Idempotency-Key reused for a different request is 409 idempotency_conflict and writes nothing", async () => {
  const { s, c, r, alice, get } = await fixture();
  await using _s = s;
  const call = (params: Record<string, unknown>) =>
    c.http("POST", `/rooms/${r.id}/actions/_set_state/invoke`, {
      token: alice,
      body: { params },
      headers: { "idempotency-key": "same" },
    });
  const first = await call({ scope: "alice", key: "k", value: 1 });
  assert.equal(first.status, 200);
  const reordered = await call({ value: 1, key: "k", scope: "alice" });
  assert.deepEqual(reordered.json, first.json, "the same params in another order are the same request");
  const other = await call({ scope: "alice", key: "k", value: 2 });
  assert.equal(other.status, 409);
  assert.equal(other.json.error, "idempotency_conflict");
  assert.equal((await get("alice", "k")).value, 1);
});
