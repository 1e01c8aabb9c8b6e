/**
 * What real MCP clients need (issue 14.4), through the SDK's own client: results keep user data exactly as
 * stored (a task's `"claimed_by": null`, in state and in the registered template), blocking calls send
 * progress notifications when asked, argument errors name the argument, the tool definitions stay under
 * 4 KB and read_context lists the builtins briefly.
 */
import assert from "node:assert/strict";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { CLAIM_TASK, POST_TASK } from "../_seed_actions.ts";
import { mcp } from "../_mcp.ts";
import { client, startServer } from "../_server.ts";
import { until } from "../_setup.ts";

async function taskRoom(opts: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(opts);
  const c = client(s.base);
  const room = await c.createRoom("tasks");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", POST_TASK);
  await c.ok(room.id, room.token, "_register_action", CLAIM_TASK);
  return { s, c, room, alice };
}

Deno.test("MCP results keep nulls and empty values inside user data: state, templates, writes, changes", async () => {
  const { s, c, room, alice } = await taskRoom();
  await using _ = s;
  await using m = await mcp(s.base, alice);
  const posted = await m.call("invoke_action", { action: "post_task", params: { body: "index the docs" } });
  assert.equal(posted.isError, false, posted.text);
  assert.equal(posted.json.writes[0].value.claimed_by, null, "the write as stored");
  assert.ok("claimed_by" in posted.json.writes[0].value);

  const ctx = await m.call("read_context");
  assert.deepEqual(ctx.json.state._tasks["1"], {
    from: "alice",
    kind: "task",
    body: "index the docs",
    claimed_by: null,
  });
  const template = ctx.json.actions.post_task.writes[0].value;
  assert.equal(template.claimed_by, null, "the registered template, as registered");
  assert.equal(ctx.json.actions.claim_task.if, "state._tasks[params.key].claimed_by == null");
  // the envelope is still compact: no null or empty field outside user data
  assert.equal("waiting_on" in ctx.json.agents.alice, false);

  await c.ok(room.id, room.token, "_set_state", {
    scope: "_shared",
    key: "empty",
    value: { list: [], note: "" },
  });
  const w = await m.call("wait_for", { condition: "true", after: posted.json.cursor, include: "changes" });
  assert.deepEqual(w.json.changes.find((x: { key: string }) => x.key === "empty").value, {
    list: [],
    note: "",
  });
  const ev = await m.call("eval_cel", { expr: "state._tasks['1'].claimed_by == null" });
  assert.equal(ev.json.value, true);

  // REST with ?compact=true: the same rule
  const rest = await c.http("GET", `/rooms/${room.id}/context?compact=true&only=state,actions`, {
    token: alice,
  });
  assert.equal(rest.json.state._tasks["1"].claimed_by, null);
  assert.equal(rest.json.actions.post_task.writes[0].value.claimed_by, null);
  const row = await c.http("GET", `/rooms/${room.id}/state?scope=_shared&key=empty&compact=true`, {
    token: alice,
  });
  assert.deepEqual(row.json.value, { list: [], note: "" });
  assert.equal("timer" in row.json, false);
});

Deno.test("wait_for and invoke-and-wait send progress notifications while they block, when asked", async () => {
  const { s, c, room, alice } = await taskRoom({ limits: { mcpProgressMs: 50 } });
  await using _ = s;
  await using m = await mcp(s.base, alice);
  for (const tool of ["wait_for", "invoke_action"] as const) {
    const seen: Progress[] = [];
    let first = () => {};
    const progressed = new Promise<void>((r) => first = r);
    const key = `go_${tool}`;
    const args = tool === "wait_for" ? { condition: `has(state._shared.${key})`, timeout: 20_000 } : {
      action: "_set_state",
      params: { key: "ready", value: true },
      wait: { condition: `has(state._shared.${key})`, timeout: 20_000 },
    };
    const call = m.call(tool, args, {
      onprogress: (p) => {
        seen.push(p);
        first();
      },
    });
    await progressed; // the call is blocked and says so
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key, value: 1 });
    const r = await call;
    assert.equal(r.isError, false, r.text);
    assert.equal((tool === "wait_for" ? r.json : r.json.wait).triggered, true);
    assert.ok(seen.length >= 1);
    assert.equal(seen[0].total, 20_000, "total: the wait's timeout in ms");
    assert.ok(seen[0].progress >= 0 && seen[0].progress <= 20_000);
    assert.match(seen[0].message ?? "", new RegExp(`waiting for has\\(state._shared.${key}\\)`));
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i].progress > seen[i - 1].progress, "progress grows");
    }
  }
  // without a progressToken: a plain JSON answer, no stream
  const plain = await fetch(`${s.base}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${alice}`,
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "wait_for", arguments: { condition: "true" } },
    }),
  });
  assert.match(plain.headers.get("content-type") ?? "", /^application\/json/);
  assert.ok((await plain.text()).endsWith("\n"));
  await until(() => s.eng.metrics.waiters === 0, { what: "no waiter left" });
});

Deno.test("MCP argument errors name the argument", async () => {
  const { s, alice } = await taskRoom();
  await using _ = s;
  await using m = await mcp(s.base, alice);
  const cases: [string, Record<string, unknown>, string][] = [
    ["read_context", { extra: 1 }, "extra"],
    ["wait_for", { condition: "true", timeot: 5 }, "timeot"],
    ["invoke_action", { action: "_set_state", wait: { condition: "true", tiemout: 1 } }, "wait.tiemout"],
    ["read_context", { actions: "short" }, "actions"],
  ];
  for (const [tool, args, field] of cases) {
    const r = await m.call(tool, args);
    assert.equal(r.isError, true, r.text);
    assert.equal(r.json.error, "invalid_params");
    assert.equal(r.json.field, field, r.text);
  }
});

Deno.test("tool definitions stay under 4 KB; read_context lists builtins briefly (full with actions: full)", async () => {
  const { s, c, room, alice } = await taskRoom();
  await using _ = s;
  await using m = await mcp(s.base, alice);
  const { tools } = await m.client.listTools();
  const bytes = new TextEncoder().encode(JSON.stringify(tools)).length;
  assert.equal(tools.length, 7);
  assert.ok(bytes < 4096, `tools/list: ${bytes} bytes`);

  const brief = await m.call("read_context", { only: "actions" });
  assert.deepEqual(Object.keys(brief.json.actions._set_state).sort(), ["builtin", "description"]);
  assert.match(brief.json.actions._set_state.description, /^Write one state entry/);
  assert.ok(brief.json.actions.post_task.params, "the room's own actions in full");
  const full = await m.call("read_context", { only: "actions", actions: "full" });
  assert.ok(full.json.actions._set_state.params.scope, "full: the builtins' params");
  assert.ok(full.text.length > brief.text.length * 2, `${full.text.length} vs ${brief.text.length}`);

  // REST: full by default, brief on request, on /context and GET /actions alike
  const ctx = (q: string) => c.http("GET", `/rooms/${room.id}/context?only=actions${q}`, { token: alice });
  assert.ok((await ctx("")).json.actions._set_state.params);
  assert.equal((await ctx("&actions=brief")).json.actions._set_state.params, undefined);
  const list = await c.http("GET", `/rooms/${room.id}/actions?actions=brief`, { token: alice });
  const set = list.json.find((a: { id: string }) => a.id === "_set_state");
  assert.deepEqual(Object.keys(set).sort(), ["builtin", "description", "id"]);
  assert.ok(list.json.find((a: { id: string }) => a.id === "claim_task").if);
  const bad = await c.http("GET", `/rooms/${room.id}/actions?actions=tiny`, { token: alice });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, "actions");
});
