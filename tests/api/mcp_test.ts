/**
 * /mcp through the SDK's own client over real HTTP: tools, auth by bearer token, wait_for, privacy, errors.
 */
import { CLAIM_TASK, POST_TASK } from "../_seed_actions.ts";
import assert from "node:assert/strict";
import type { Resource, Tool } from "@modelcontextprotocol/sdk/types.js";
import { ALL_TOOLS, INITIALIZE, mcp } from "../_mcp.ts";
import { client, http, startServer } from "../_server.ts";
import { until } from "../_setup.ts";

Deno.test("/mcp without a token: create_room and join_room return tokens; the session then acts as them", async () => {
  await using s = await startServer();
  await using anon = await mcp(s.base);
  assert.ok(anon.transport.sessionId, "a connection without a token gets an MCP session");
  assert.deepEqual(await anon.tools(), ALL_TOOLS, "a session may become someone: every tool is listed");
  const early = await anon.call("read_context");
  assert.equal(early.isError, true);
  assert.equal(early.json.error, "unauthorized");
  assert.match(early.json.message, /join_room/);

  const room = await anon.call("create_room", { id: "mcp-open" });
  assert.equal(room.isError, false);
  assert.match(room.json.token, /^room_/);
  assert.match(room.json.view_token, /^view_/);
  assert.equal((await anon.call("read_context")).json.self, "admin", "create_room: the room's admin");

  await using other = await mcp(s.base);
  const joined = await other.call("join_room", { room: "mcp-open", id: "alice" });
  assert.equal(joined.isError, false);
  assert.match(joined.json.token, /^as_/);
  assert.equal((await other.call("read_context")).json.self, "alice", "join_room: the joined agent");
  await using third = await mcp(s.base);
  const again = await third.call("join_room", { room: "mcp-open", id: "alice" });
  assert.equal(again.isError, true);
  assert.equal(again.json.error, "agent_exists", "another session cannot take alice's id");

  await using alice = await mcp(s.base, joined.json.token);
  assert.equal(alice.transport.sessionId, undefined, "a connection with a token needs no session");
  const { tools } = await alice.client.listTools();
  assert.deepEqual(tools.map((t: Tool) => t.name).sort(), ALL_TOOLS);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", t.name);
    assert.ok(t.description && t.description.length < 200, `${t.name} has a short description`);
  }
  const ctx = await alice.call("read_context");
  assert.equal(ctx.json.self, "alice");
});

Deno.test("/mcp runs the task-queue walk-through entirely through tools", async (t) => {
  await using s = await startServer();
  await using anon = await mcp(s.base);
  const room = (await anon.call("create_room", { id: "demo" })).json;
  const aliceTok = (await anon.call("join_room", { room: "demo", id: "alice" })).json.token;
  const bobTok = (await anon.call("join_room", { room: "demo", id: "bob" })).json.token;
  await using admin = await mcp(s.base, room.token);
  await using alice = await mcp(s.base, aliceTok);
  await using bob = await mcp(s.base, bobTok);

  await t.step("the room token registers post_task and claim_task", async () => {
    const post = await admin.call("invoke_action", {
      action: "_register_action",
      params: POST_TASK,
    });
    assert.equal(post.isError, false, post.text);
    const claim = await admin.call("invoke_action", {
      action: "_register_action",
      params: CLAIM_TASK,
    });
    assert.equal(claim.isError, false, claim.text);
  });

  await t.step("alice posts a task (key 1)", async () => {
    const r = await alice.call("invoke_action", {
      action: "post_task",
      params: { body: "analyze the dataset" },
    });
    assert.equal(r.isError, false, r.text);
    assert.equal(r.json.writes[0].key, "1");
    assert.equal(typeof r.json.cursor, "number");
  });

  await t.step("a dry run checks without writing", async () => {
    const r = await bob.call("invoke_action", { action: "claim_task", params: { key: "1" }, dry_run: true });
    assert.equal(r.isError, false, r.text);
    assert.equal(r.json.dry_run, true);
    const ctx = await bob.call("read_context", { only: "state._tasks" });
    assert.equal(ctx.json.state._tasks["1"].claimed_by, null, "user data keeps its nulls");
  });

  await t.step("bob claims it", async () => {
    const r = await bob.call("invoke_action", { action: "claim_task", params: { key: "1" } });
    assert.equal(r.isError, false, r.text);
    const ctx = await bob.call("read_context", { only: ["state._tasks"] });
    assert.equal(ctx.json.state._tasks["1"].claimed_by, "bob");
  });

  await t.step("alice's second claim is refused with precondition_failed", async () => {
    const r = await alice.call("invoke_action", { action: "claim_task", params: { key: "1" } });
    assert.equal(r.isError, true);
    assert.equal(r.json.error, "precondition_failed");
    assert.equal(typeof r.json.message, "string");
  });

  await t.step("help lists the room's actions", async () => {
    const r = await bob.call("help");
    assert.equal(r.isError, false, r.text);
    const ids = r.json.help.actions.map((a: { id: string }) => a.id);
    assert.ok(ids.includes("claim_task") && ids.includes("post_task"));
  });
});

Deno.test("/mcp wait_for wakes on another client's write and returns the cursor on timeout", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("waits");
  const bobTok = await c.join(room.id, "bob");
  await using admin = await mcp(s.base, room.token);
  await using bob = await mcp(s.base, bobTok);

  const timedOut = await bob.call("wait_for", { condition: "has(state._shared.go)", timeout: 30 });
  assert.equal(timedOut.isError, false, timedOut.text);
  assert.equal(timedOut.json.triggered, false);
  assert.equal(timedOut.json.timeout, true);
  assert.equal(typeof timedOut.json.cursor, "number");

  const pending = bob.call("wait_for", {
    condition: "has(state._shared.go)",
    after: timedOut.json.cursor,
    include: "changes",
  });
  // the write must come while bob is blocked: his presence says so
  await until(async () => {
    const agents = await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token });
    return agents.json.find((a: { id: string }) => a.id === "bob").status === "waiting";
  }, { what: "bob to block" });
  const w = await admin.call("invoke_action", {
    action: "_set_state",
    params: { scope: "_shared", key: "go", value: true },
  });
  assert.equal(w.isError, false, w.text);
  const woke = await pending;
  assert.equal(woke.isError, false, woke.text);
  assert.equal(woke.json.triggered, true);
  assert.equal(woke.json.cursor, w.json.cursor);
  assert.deepEqual(woke.json.changes.map((ch: { key: string }) => ch.key), ["go"]);

  const invokeWait = await admin.call("invoke_action", {
    action: "_set_state",
    params: { scope: "_shared", key: "turn", value: 1 },
    wait: { condition: "state._shared.turn == 2", include: "changes", timeout: 20 },
  });
  assert.equal(invokeWait.isError, false, invokeWait.text);
  assert.equal(invokeWait.json.ok, true);
  assert.equal(invokeWait.json.wait.triggered, false);
  assert.equal(typeof invokeWait.json.cursor, "number");
  assert.equal(invokeWait.json.wait.timeout, true);

  // invoke-and-wait: the write commits, then the call blocks until another client's write makes it true
  const both = admin.call("invoke_action", {
    action: "_set_state",
    params: { scope: "_shared", key: "ready", value: true },
    wait: { condition: "state._shared.turn == 2", include: "changes" },
  });
  await until(() => s.eng.metrics.waiters > 0, { what: "admin to block" });
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 2 });
  const done = await both;
  assert.equal(done.isError, false, done.text);
  assert.equal(done.json.writes[0].key, "ready");
  assert.equal(done.json.wait.triggered, true);
});

Deno.test("/mcp keeps alice's private scope from bob in every tool, errors included", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("privacy");
  const aliceTok = await c.join(room.id, "alice");
  const bobTok = await c.join(room.id, "bob");
  const SECRET = "attack from the north";
  await c.ok(room.id, aliceTok, "_set_state", { key: "secret_plan", value: SECRET });
  await c.ok(room.id, aliceTok, "_set_state", { key: "health", value: 100 });
  await using alice = await mcp(s.base, aliceTok);
  await using bob = await mcp(s.base, bobTok);

  const own = await alice.call("read_context");
  assert.equal(own.json.state.self.secret_plan, SECRET, "the owner sees it (the probe is real)");

  const probes: [string, Record<string, unknown>][] = [
    ["read_context", {}],
    ["read_context", { only: "state.alice" }],
    ["eval_cel", { expr: "state.alice.secret_plan" }],
    ["eval_cel", { expr: 'state["alice"]' }],
    ["eval_cel", { expr: "state" }],
    ["invoke_action", { action: "_set_state", params: { scope: "alice", key: "secret_plan", value: "x" } }],
    ["invoke_action", { action: "_set_state", params: { key: "copy", value: "${state.alice.secret_plan}" } }],
    ["invoke_action", {
      action: "_set_state",
      params: { key: "n", value: 1, if: "state.alice.secret_plan == ''" },
    }],
    ["wait_for", { condition: "state.alice.secret_plan == 'x'", timeout: 20 }],
    ["wait_for", { condition: "true", include: "state.alice" }],
    ["help", {}],
  ];
  for (const [tool, args] of probes) {
    const r = await bob.call(tool, args);
    assert.ok(!r.text.includes("north"), `${tool} ${JSON.stringify(args)} leaked: ${r.text}`);
    assert.ok(!r.text.includes("secret_plan") || tool !== "read_context", `${tool} named the key: ${r.text}`);
  }
  const denied = await bob.call("invoke_action", {
    action: "_set_state",
    params: { scope: "alice", key: "k", value: 1 },
  });
  assert.equal(denied.isError, true);
  assert.equal(denied.json.error, "scope_denied");
});

Deno.test("/mcp invoke_action reports an action waiting for approval, and decides it with _approve / _reject", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("approvals");
  const aliceTok = await c.join(room.id, "alice");
  const revTok = await c.join(room.id, "rev", { role: "reviewer" });
  await c.ok(room.id, room.token, "_register_action", {
    id: "deploy",
    writes: [{ scope: "_shared", key: "deployed", value: true }],
    approval: { count: 1, from: "agents[approver].role == 'reviewer'" },
  });
  await using alice = await mcp(s.base, aliceTok);
  await using rev = await mcp(s.base, revTok);
  const made = await alice.call("invoke_action", { action: "deploy" });
  assert.equal(made.isError, false, made.text);
  const id = made.json.proposal.id;
  assert.equal(
    made.json.note.split(" — ")[0],
    `pending approval: proposal ${id}, needs 1 approval from agents[approver].role == 'reviewer'`,
  );
  assert.equal(made.json.pending, true);
  const ctx = await rev.call("read_context", { only: "proposals" });
  assert.equal(ctx.json.proposals[id].may_decide, true);
  const refused = await alice.call("invoke_action", { action: "_approve", params: { proposal: id } });
  assert.equal(refused.isError, true);
  assert.equal(refused.json.error, "not_an_approver");
  const done = await rev.call("invoke_action", { action: "_approve", params: { proposal: id } });
  assert.equal(done.isError, false, done.text);
  assert.equal(done.json.proposal.status, "executed");
  assert.equal((await rev.call("eval_cel", { expr: `proposals["${id}"].status` })).json.value, "executed");
  const other = (await alice.call("invoke_action", { action: "deploy" })).json.proposal.id;
  const no = await rev.call("invoke_action", {
    action: "_reject",
    params: { proposal: other, reason: "no" },
  });
  assert.equal(no.json.proposal.status, "rejected", no.text);
});

Deno.test("/mcp with a view token reads but cannot invoke (read_only_token)", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("viewer");
  await using view = await mcp(s.base, room.view);
  assert.deepEqual(await view.tools(), ALL_TOOLS);
  const ctx = await view.call("read_context");
  assert.equal(ctx.isError, false, ctx.text);
  assert.equal(ctx.json.self, "viewer");
  const r = await view.call("invoke_action", { action: "_set_state", params: { key: "k", value: 1 } });
  assert.equal(r.isError, true);
  assert.equal(r.json.error, "read_only_token");
});

Deno.test("/mcp answers malformed tool arguments with tool errors, not transport failures", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("malformed");
  await using admin = await mcp(s.base, room.token);
  const cases: [string, Record<string, unknown>, string, string?][] = [
    ["invoke_action", { action: 5 }, "invalid_params", "action"],
    ["invoke_action", {}, "invalid_params", "action"],
    ["invoke_action", { action: "_set_state", bogus: 1 }, "invalid_params"],
    ["invoke_action", { action: "_set_state", params: "x" }, "invalid_params", "params"],
    [
      "invoke_action",
      { action: "_set_state", params: { key: "k", value: 1 }, wait: { condition: "((" } },
      "invalid_cel",
    ],
    ["invoke_action", { action: "nope" }, "action_not_found"],
    ["read_context", { only: 3 }, "invalid_params", "only"],
    ["read_context", { only: "bogus" }, "invalid_query", "only"],
    ["read_context", { messages_after: -1 }, "invalid_params", "messages_after"],
    ["wait_for", {}, "invalid_params", "condition"],
    ["wait_for", { condition: "state._shared.x ==" }, "invalid_cel"],
    ["eval_cel", { expr: "1 +" }, "invalid_cel"],
    ["eval_cel", { expr: ["x"] }, "invalid_params", "expr"],
    ["create_room", { id: "has spaces" }, "invalid_params", "id"],
    ["join_room", { room: "no-such-room" }, "room_not_found"],
    ["no_such_tool", {}, "not_found"],
  ];
  for (const [tool, args, code, field] of cases) {
    const r = await admin.call(tool, args);
    assert.equal(r.isError, true, `${tool} ${JSON.stringify(args)}: ${r.text}`);
    assert.equal(r.json.error, code, `${tool} ${JSON.stringify(args)}: ${r.text}`);
    assert.equal(typeof r.json.message, "string");
    if (field) assert.equal(r.json.field, field, `${tool} ${JSON.stringify(args)}: ${r.text}`);
  }
  assert.deepEqual(await admin.tools(), ALL_TOOLS, "the connection still works");
});

Deno.test("/mcp serves the README and reference docs as resources", async () => {
  await using s = await startServer();
  await using anon = await mcp(s.base);
  const { resources } = await anon.client.listResources();
  const readme = resources.find((r: Resource) => r.uri.endsWith("/README.md"));
  assert.ok(readme, JSON.stringify(resources));
  assert.equal(readme.mimeType, "text/markdown");
  const doc = await anon.client.readResource({ uri: readme.uri });
  const text = (doc.contents[0] as { text: string }).text;
  assert.equal(text, await Deno.readTextFile(new URL("../../README.md", import.meta.url)));
  for (const r of resources.filter((x: Resource) => x.uri.includes("/reference/"))) {
    assert.match(r.uri, /\/reference\/[a-z_-]+\.md$/);
  }
});

Deno.test("/mcp rejects an unknown token with 401 invalid_token and other methods with 405", async () => {
  await using s = await startServer();
  const headers = { accept: "application/json, text/event-stream" };
  const bad = await http(s.base, "POST", "/mcp", { token: "as_nope", body: INITIALIZE, headers });
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error, "invalid_token");
  assert.match(bad.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/);
  const get = await http(s.base, "GET", "/mcp", { headers });
  assert.equal(get.status, 405);
  assert.equal(get.json.error, "method_not_allowed");
  assert.equal(get.headers.get("allow"), "POST, DELETE");
  assert.equal(get.headers.get("x-error-code"), "method_not_allowed");
  const ok = await http(s.base, "POST", "/mcp", { body: INITIALIZE, headers });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.result.serverInfo.name, "agent-sync");
  assert.ok(ok.text.endsWith("}\n"), "the JSON-RPC answer ends with a newline");
});

Deno.test("/mcp wait_for releases its waiter when the client disconnects", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("gone");
  const bobTok = await c.join(room.id, "bob");
  const ac = new AbortController();
  const call = {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "wait_for", arguments: { condition: "has(state._shared.never)" } },
  };
  const pending = fetch(`${s.base}/mcp`, {
    method: "POST",
    signal: ac.signal,
    headers: {
      authorization: `Bearer ${bobTok}`,
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
    },
    body: JSON.stringify(call),
  }).then((r) => r.text(), (e) => e);
  await until(() => s.eng.metrics.waiters === 1, { what: "bob to block" });
  ac.abort();
  assert.ok((await pending) instanceof Error);
  await until(() => s.eng.metrics.waiters === 0, { what: "the server to release bob's wait" });
  const agents = await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token });
  assert.equal(agents.json.find((a: { id: string }) => a.id === "bob").status, "active");
});
