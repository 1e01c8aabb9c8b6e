/**
 * MCP sessions and authorization (issue 14.4), with the SDK's own client: a connection opened without a token
 * gets an `Mcp-Session-Id` and then acts as whoever its join_room / create_room made it (in the audit log
 * too); the session id is a credential; sessions are bounded and expire; a bad token, or a tool that needs
 * one called with neither token nor session, is 401 with `WWW-Authenticate`; OAuth discovery is a fast 404.
 */
import assert from "node:assert/strict";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { INITIALIZE, mcp, MCP_HEADERS } from "../_mcp.ts";
import { client, http, startServer } from "../_server.ts";

Deno.test("after join_room the MCP session acts as the joined agent: writes, privacy and audit are alice's", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("sessions");
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, bob, "_set_state", { key: "plan", value: "bob's secret" });
  await using claude = await mcp(s.base); // as Claude Code with no header configured
  const joined = await claude.call("join_room", { room: room.id, id: "alice" });
  assert.equal(joined.isError, false, joined.text);

  const w = await claude.call("invoke_action", { action: "_set_state", params: { key: "hp", value: 10 } });
  assert.equal(w.isError, false, w.text);
  assert.deepEqual(w.json.writes.map((x: { scope: string }) => x.scope), ["alice"], "her own scope");
  const ctx = await claude.call("read_context");
  assert.equal(ctx.json.self, "alice");
  assert.equal(ctx.json.state.self.hp, 10);
  assert.ok(!ctx.text.includes("bob's secret"), "privacy is alice's");
  const peek = await claude.call("eval_cel", { expr: "state.bob.plan" });
  assert.equal(peek.json.value, null);
  assert.ok(!peek.text.includes("bob's secret"));
  const audit = await c.http("GET", `/rooms/${room.id}/state?scope=_audit`, { token: room.token });
  const last = audit.json.at(-1).value;
  assert.equal(last.agent, "alice", "the audit log names the agent");
  assert.equal(last.action, "_set_state");

  // the session id is a credential: whoever holds it is alice
  await using same = await mcp(s.base, undefined, claude.transport.sessionId);
  assert.equal((await same.call("read_context", { only: "state" })).json.state.self.hp, 10);
  // ended by DELETE: the id is worth nothing after
  await claude.transport.terminateSession();
  const after = await http(s.base, "POST", "/mcp", {
    body: { jsonrpc: "2.0", id: 2, method: "tools/list" },
    headers: { ...MCP_HEADERS, "mcp-session-id": claude.transport.sessionId ?? same.transport.sessionId! },
  });
  assert.equal(after.status, 404);
  assert.equal(after.json.error, "session_not_found");
});

Deno.test("create_room makes the session the room's admin; a later join_room makes it that agent", async () => {
  await using s = await startServer();
  await using anon = await mcp(s.base);
  const created = await anon.call("create_room", { id: "made-here" });
  assert.equal(created.isError, false, created.text);
  const reg = await anon.call("invoke_action", {
    action: "_register_action",
    params: { id: "ping", writes: [{ scope: "_shared", key: "pinged", value: "${self}" }] },
  });
  assert.equal(reg.isError, false, "the admin registers actions: " + reg.text);
  const joined = await anon.call("join_room", { room: "made-here", id: "carol" });
  assert.equal(joined.isError, false, joined.text);
  const ping = await anon.call("invoke_action", { action: "ping" });
  assert.equal(ping.json.writes[0].value, "carol", "now the session is carol");
  // carol re-joining from her own session rotates her token: the session keeps up
  const rejoin = await anon.call("join_room", { room: "made-here", id: "carol" });
  assert.equal(rejoin.isError, false, rejoin.text);
  assert.notEqual(rejoin.json.token, joined.json.token);
  assert.equal((await anon.call("read_context", { only: "agents" })).json.self, "carol");
  const stale = await http(s.base, "GET", "/rooms/made-here/context", { token: joined.json.token });
  assert.equal(stale.status, 401, "the old token stopped working");
});

Deno.test("a bad token is 401 with WWW-Authenticate, for the SDK client too; a tool needing one without token or session as well", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("auth");
  await c.join(room.id, "alice");
  await assert.rejects(
    () => mcp(s.base, "as_not-a-token"),
    (e) => {
      const err = e as { code?: number; message: string };
      return e instanceof StreamableHTTPError && err.code === 401 && /invalid_token/.test(err.message);
    },
  );
  const raw = (token: string | undefined, body: unknown) =>
    http(s.base, "POST", "/mcp", { token, body, headers: MCP_HEADERS });
  const bad = await raw("room_wrong", INITIALIZE);
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error, "invalid_token");
  assert.equal(bad.headers.get("x-error-code"), "invalid_token");
  const challenge = bad.headers.get("www-authenticate") ?? "";
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /error="invalid_token"/);
  assert.match(challenge, /error_description="[^"]+"/);

  // without token and without a session: the open part works, a tool that needs a token is 401
  const list = await raw(undefined, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.result.tools.map((t: { name: string }) => t.name).sort(), [
    "create_room",
    "join_room",
  ]);
  const join = await raw(undefined, {
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "join_room", arguments: { room: room.id, id: "dave" } },
  });
  assert.equal(join.status, 200);
  const needs = await raw(undefined, {
    jsonrpc: "2.0",
    id: 3,
    method: "tools/call",
    params: { name: "read_context", arguments: {} },
  });
  assert.equal(needs.status, 401);
  assert.equal(needs.json.error, "unauthorized");
  assert.match(needs.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/);
  assert.ok(needs.text.endsWith("\n"));
});

Deno.test("OAuth discovery documents answer a fast 404 JSON, with and without the /mcp suffix", async () => {
  await using s = await startServer();
  for (
    const path of [
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-authorization-server",
      "/.well-known/oauth-authorization-server/mcp",
      "/.well-known/openid-configuration",
    ]
  ) {
    const r = await http(s.base, "GET", path);
    assert.equal(r.status, 404, path);
    assert.equal(r.json.error, "not_found", path);
    assert.match(r.json.message, /Authorization: Bearer/, path);
  }
});

Deno.test("sessions are bounded: the idle one acting as nobody makes room, else 429; unused ones expire", async () => {
  await using s = await startServer({
    fakeClock: true,
    limits: { mcpMaxSessions: 2, mcpSessionIdleMs: 60_000 },
  });
  const c = client(s.base);
  const room = await c.createRoom("bounded");
  const init = async () => {
    const r = await http(s.base, "POST", "/mcp", { body: INITIALIZE, headers: MCP_HEADERS });
    return { r, id: r.headers.get("mcp-session-id")! };
  };
  const call = (id: string, name: string, args: Record<string, unknown>) =>
    http(s.base, "POST", "/mcp", {
      body: { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name, arguments: args } },
      headers: { ...MCP_HEADERS, "mcp-session-id": id },
    });
  const a = await init();
  const b = await init();
  assert.equal((await call(a.id, "join_room", { room: room.id, id: "a1" })).status, 200);
  const third = await init(); // full: b (nobody) makes room, a (an agent) stays
  assert.equal(third.r.status, 200);
  assert.equal((await call(b.id, "read_context", {})).status, 404);
  assert.equal((await call(a.id, "read_context", {})).status, 200);
  assert.equal((await call(third.id, "join_room", { room: room.id, id: "a3" })).status, 200);
  const refused = await init();
  assert.equal(refused.r.status, 429);
  assert.equal(refused.r.json.error, "quota_exceeded");
  assert.equal(refused.r.json.quota, "mcp_sessions");

  s.clock.advance(60_000);
  const expired = await call(a.id, "read_context", {});
  assert.equal(expired.status, 404);
  assert.equal(expired.json.error, "session_not_found");
  assert.equal((await init()).r.status, 200, "expired sessions free their places");
});
