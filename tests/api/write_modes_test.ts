/**
 * Every `_set_state` write mode (reference/api.md#_set_state) with its version numbers, CAS conflicts, and the all-or-nothing
 * `_batch_set_state`.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

async function room() {
  const s = await startServer();
  const c = client(s.base);
  const r = await c.createRoom();
  const alice = await c.join(r.id, "alice");
  const state = async (scope: string, key: string) => {
    const res = await c.http("GET", `/rooms/${r.id}/state?scope=${scope}&key=${encodeURIComponent(key)}`, {
      token: r.token,
    });
    return res.status === 200 ? res.json : undefined;
  };
  return { s, c, r, alice, state };
}

Deno.test("_set_state: every mode with its version numbers", async (t) => {
  const { s, c, r, alice, state } = await room();
  await using _s = s;
  const set = (p: Record<string, unknown>) => c.invoke(r.id, alice, "_set_state", p);

  await t.step(
    "value replaces; versions start at 1 and count every write; default scope is the caller's",
    async () => {
      const a = await set({ key: "hp", value: 10 });
      assert.equal(a.status, 200);
      assert.deepEqual(a.json.writes, [{ scope: "alice", key: "hp", value: 10, version: 1 }]);
      const b = await set({ key: "hp", value: { any: ["json", 1, null] } });
      assert.equal(b.json.writes[0].version, 2);
      assert.deepEqual((await state("alice", "hp")).value, { any: ["json", 1, null] });
      const admin = await c.ok(r.id, r.token, "_set_state", { key: "phase", value: "lobby" });
      assert.equal(admin.writes[0].scope, "_shared");
    },
  );

  await t.step("merge shallow-merges into an object (and creates one)", async () => {
    const a = await set({ key: "profile", merge: { name: "A", tags: ["x"] } });
    assert.deepEqual(a.json.writes[0].value, { name: "A", tags: ["x"] });
    const b = await set({ key: "profile", merge: { tags: ["y"], level: 2 } });
    assert.deepEqual(b.json.writes[0].value, { name: "A", tags: ["y"], level: 2 });
    assert.equal(b.json.writes[0].version, 2);
  });

  await t.step(
    "increment: true (default 1), true with value delta, a number, negative and decimal",
    async () => {
      assert.equal((await set({ key: "n", increment: true })).json.writes[0].value, 1);
      assert.equal((await set({ key: "n", increment: true, value: 5 })).json.writes[0].value, 6);
      assert.equal((await set({ key: "n", increment: 10 })).json.writes[0].value, 16);
      assert.equal((await set({ key: "n", increment: -6 })).json.writes[0].value, 10);
      const d = await set({ key: "n", increment: 0.5 });
      assert.equal(d.json.writes[0].value, 10.5);
      assert.equal(d.json.writes[0].version, 5);
      const bad = await set({ key: "profile", increment: 1 });
      assert.equal(bad.status, 400);
      assert.equal((await state("alice", "profile")).version, 2);
    },
  );

  await t.step("append without key: log rows 1, 2, … with sort_key", async () => {
    const a = await set({ scope: "_shared", append: true, value: { e: "first" } });
    assert.equal(a.status, 403, "alice has no grant on _shared");
    const one = await c.ok(r.id, r.token, "_set_state", {
      scope: "_log",
      append: true,
      value: { e: "first" },
    });
    const two = await c.ok(r.id, r.token, "_set_state", {
      scope: "_log",
      append: true,
      value: { e: "second" },
    });
    assert.equal(one.writes[0].key, "1");
    assert.equal(two.writes[0].key, "2");
    assert.equal(two.writes[0].version, 1);
    const row = await state("_log", "2");
    assert.equal(row.sort_key, 2);
    assert.deepEqual(row.value, { e: "second" });
    const mine = await set({ append: true, value: "x" });
    assert.equal(mine.json.writes[0].key, "1");
  });

  await t.step("append with key: push onto the array, wrapping a non-array", async () => {
    assert.deepEqual((await set({ key: "inv", append: true, value: "sword" })).json.writes[0].value, [
      "sword",
    ]);
    assert.deepEqual((await set({ key: "inv", append: true, value: "potion" })).json.writes[0].value, [
      "sword",
      "potion",
    ]);
    await set({ key: "single", value: "a" });
    const w = await set({ key: "single", append: true, value: "b" });
    assert.deepEqual(w.json.writes[0].value, ["a", "b"]);
    assert.equal(w.json.writes[0].version, 2);
  });

  await t.step("if: a CEL gate; false → 409 precondition_failed with detail, nothing written", async () => {
    const ok = await set({ key: "hp", value: 3, if: "state.self.n > 10" });
    assert.equal(ok.status, 200);
    const no = await set({ key: "hp", value: 99, if: "state.self.n > 100" });
    assert.equal(no.status, 409);
    assert.equal(no.json.error, "precondition_failed");
    assert.deepEqual(no.json.detail, { "state.self.n": 10.5 });
    const missing = await set({ key: "hp", value: 99, if: "state.self.nope == 1" });
    assert.equal(missing.status, 409);
    assert.equal((await state("alice", "hp")).value, 3);
  });

  await t.step("if_version: CAS; 0 means must not exist; conflict returns the current entry", async () => {
    const created = await set({ key: "cas", value: "a", if_version: 0 });
    assert.equal(created.json.writes[0].version, 1);
    const again = await set({ key: "cas", value: "b", if_version: 0 });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, "version_conflict");
    assert.equal(again.json.current.value, "a");
    assert.equal(again.json.current.version, 1);
    const ok = await set({ key: "cas", value: "b", if_version: 1 });
    assert.equal(ok.json.writes[0].version, 2);
    const stale = await set({ key: "cas", value: "c", if_version: 1 });
    assert.equal(stale.status, 409);
    assert.deepEqual([stale.json.current.value, stale.json.current.version], ["b", 2]);
    assert.equal((await state("alice", "cas")).value, "b");
  });

  await t.step("timer and enabled are stored on the entry", async () => {
    const w = await set({ key: "temp", value: 1, timer: { ms: 60_000, effect: "delete" } });
    assert.equal(w.status, 200);
    const row = await state("alice", "temp");
    assert.equal(row.timer.effect, "delete");
    assert.ok(row.timer.expires_at);
    const e = await set({ key: "hidden", value: 1, enabled: "state.self.hp > 100" });
    assert.equal(e.status, 200);
    const ctx = await c.context(r.id, alice);
    assert.equal(ctx.state.self.hidden, undefined);
    assert.equal(ctx.state.self.temp, 1);
    await set({ key: "hp", value: 101 });
    assert.equal((await c.context(r.id, alice)).state.self.hidden, 1);
  });

  await t.step("public: true publishes the view <agent>.<key>", async () => {
    await set({ key: "score", value: 42, public: true });
    const bob = await c.join(r.id, "bob");
    const v = await c.http("GET", `/rooms/${r.id}/views/alice.score`, { token: bob });
    assert.equal(v.status, 200);
    assert.equal(v.json.value, 42);
    await set({ key: "score", value: 43 });
    assert.equal((await c.context(r.id, bob)).views["alice.score"], 43);
  });

  await t.step("one mode at a time; value required without a mode", async () => {
    const two = await set({ key: "k", merge: { a: 1 }, increment: 1 });
    assert.equal(two.status, 400);
    const none = await set({ key: "k" });
    assert.equal(none.status, 400);
    assert.equal(await state("alice", "k"), undefined);
  });
});

Deno.test("_delete_state removes an entry; a later write starts again at version 1", async () => {
  const { s, c, r, alice, state } = await room();
  await using _s = s;
  await c.ok(r.id, alice, "_set_state", { key: "x", value: 1 });
  await c.ok(r.id, alice, "_set_state", { key: "x", value: 2 });
  const d = await c.ok(r.id, alice, "_delete_state", { key: "x" });
  assert.equal(d.deleted, true);
  assert.equal(await state("alice", "x"), undefined);
  const again = await c.ok(r.id, alice, "_set_state", { key: "x", value: 3 });
  assert.equal(again.writes[0].version, 1);
});

Deno.test("_batch_set_state: all or nothing — a failing 5th write leaves the first four unwritten", async (t) => {
  const { s, c, r, alice, state } = await room();
  await using _s = s;
  await c.ok(r.id, alice, "_set_state", { key: "guard", value: "v1" });
  const writes = [1, 2, 3, 4].map((i) => ({ key: `b${i}`, value: i }));

  for (
    const [name, fifth] of [
      ["version conflict", { key: "guard", value: "v2", if_version: 7 }],
      ["scope denied", { scope: "bob", key: "x", value: 1 }],
      ["false if", { key: "b5", value: 5, if: "false" }],
      ["bad increment", { key: "guard", increment: 1 }],
      ["unknown field", { key: "b5", value: 5, colour: "red" }],
    ] as const
  ) {
    await t.step(name, async () => {
      const res = await c.invoke(r.id, alice, "_batch_set_state", { writes: [...writes, fifth] });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text}`);
      for (let i = 1; i <= 5; i++) {
        assert.equal(await state("alice", `b${i}`), undefined, `b${i} was written`);
      }
      assert.equal((await state("alice", "guard")).version, 1);
    });
  }

  await t.step("one if gate, per-write if_version, then all committed", async () => {
    const gated = await c.invoke(r.id, alice, "_batch_set_state", { if: 'state.self.guard == "v0"', writes });
    assert.equal(gated.status, 409);
    assert.equal(gated.json.error, "precondition_failed");
    const ok = await c.invoke(r.id, alice, "_batch_set_state", {
      if: 'state.self.guard == "v1"',
      writes: [...writes, { key: "guard", value: "v2", if_version: 1 }],
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.writes.length, 5);
    assert.equal((await state("alice", "b4")).value, 4);
    assert.equal((await state("alice", "guard")).version, 2);
  });

  await t.step("more than 20 writes is a 400 and writes nothing", async () => {
    const many = Array.from({ length: 21 }, (_, i) => ({ key: `m${i}`, value: i }));
    const res = await c.invoke(r.id, alice, "_batch_set_state", { writes: many });
    assert.equal(res.status, 400);
    assert.equal(await state("alice", "m0"), undefined);
  });
});

Deno.test("compact=true strips null and empty fields of the envelope, never inside user data", async () => {
  const { s, c, r, alice } = await room();
  await using _s = s;
  await c.ok(r.id, alice, "_set_state", { key: "e", value: "" });
  await c.ok(r.id, alice, "_set_state", { key: "task", value: { claimed_by: null, tags: [], notes: {} } });
  const full = await c.http("GET", `/rooms/${r.id}/state?scope=alice&key=e`, { token: alice });
  assert.equal(full.json.timer, null);
  const res = await c.http("GET", `/rooms/${r.id}/state?scope=alice&key=e&compact=true`, { token: alice });
  assert.equal(res.status, 200);
  assert.ok(!("timer" in res.json), "an envelope field that is null is stripped");
  assert.ok(!("enabled" in res.json));
  assert.equal(res.json.value, "", "an empty string the agent stored is kept");
  assert.equal(res.json.version, 1);
  const task = await c.http("GET", `/rooms/${r.id}/state?scope=alice&key=task&compact=true`, {
    token: alice,
  });
  assert.deepEqual(task.json.value, { claimed_by: null, tags: [], notes: {} });
  const ctx = await c.http("GET", `/rooms/${r.id}/context?compact=true`, { token: alice });
  assert.deepEqual(ctx.json.state.self, { e: "", task: { claimed_by: null, tags: [], notes: {} } });
  // outside user data nothing is null or empty
  const walk = (v: unknown, at: string): void => {
    if (Array.isArray(v)) {
      assert.ok(v.length > 0, at);
      v.forEach((x, i) => walk(x, `${at}[${i}]`));
    } else if (v !== null && typeof v === "object") {
      assert.ok(Object.keys(v).length > 0, at);
      for (const [k, x] of Object.entries(v)) {
        if (["state", "views", "params", "writes", "meta", "body", "value"].includes(k)) continue;
        assert.notEqual(x, null, `${at}.${k}`);
        assert.notEqual(x, "", `${at}.${k}`);
        walk(x, `${at}.${k}`);
      }
    }
  };
  walk(ctx.json, "context");
  const err = await c.http("GET", `/rooms/${r.id}/state?scope=bob&compact=true`, { token: alice });
  assert.equal(err.status, 403);
  assert.equal(err.json.error, "scope_denied");
});
