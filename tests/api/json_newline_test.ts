/**
 * Every JSON response ends with a newline (issue 14.6), so pasted curl output never runs together: REST
 * answers and errors, the compatibility routes, MCP's JSON-RPC answers and errors (the SDK's included), the
 * OpenAPI document, operations, the OAuth 404s.
 */
import assert from "node:assert/strict";
import { INITIALIZE, MCP_HEADERS } from "../_mcp.ts";
import { setupRoom } from "../_setup.ts";

Deno.test("every kind of JSON response ends with exactly one newline", async () => {
  const { s, c, room, alice } = await setupRoom({ room: "newlines" });
  await using _ = s;
  const mcpCall = (token: string | undefined, body: unknown, headers: Record<string, string> = MCP_HEADERS) =>
    c.http("POST", "/mcp", { token, body, headers });
  const cases: [string, () => ReturnType<typeof c.http>][] = [
    ["GET /context", () => c.http("GET", `/rooms/${room.id}/context`, { token: alice })],
    [
      "GET /context?compact=true",
      () => c.http("GET", `/rooms/${room.id}/context?compact=true`, { token: alice }),
    ],
    ["an invoke", () =>
      c.http("POST", `/rooms/${room.id}/actions/_set_state/invoke`, {
        token: alice,
        body: { params: { key: "k", value: 1 } },
      })],
    ["an error", () => c.http("GET", `/rooms/${room.id}/state?scope=bob`, { token: alice })],
    ["an unknown route", () => c.http("GET", "/nope")],
    ["PUT /state (compatibility)", () =>
      c.http("PUT", `/rooms/${room.id}/state`, {
        token: alice,
        body: { key: "c", value: 2 },
      })],
    ["POST /messages (compatibility)", () =>
      c.http("POST", `/rooms/${room.id}/messages`, {
        token: alice,
        body: { body: "hi" },
      })],
    ["GET /messages (compatibility)", () => c.http("GET", `/rooms/${room.id}/messages`, { token: alice })],
    ["MCP initialize", () => mcpCall(alice, INITIALIZE)],
    ["MCP tools/call", () =>
      mcpCall(alice, {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "read_context", arguments: { only: "state" } },
      })],
    ["MCP bad token", () => mcpCall("as_wrong", INITIALIZE)],
    [
      "MCP refused Accept (the SDK's own error)",
      () => mcpCall(alice, INITIALIZE, { accept: "text/plain", "content-type": "application/json" }),
    ],
    ["GET /openapi.json", () => c.http("GET", "/openapi.json")],
    ["GET /healthz", () => c.http("GET", "/healthz")],
    ["GET /rooms/:id/export", () => c.http("GET", `/rooms/${room.id}/export`, { token: room.token })],
    ["an OAuth discovery 404", () => c.http("GET", "/.well-known/oauth-protected-resource/mcp")],
  ];
  for (const [what, call] of cases) {
    const r = await call();
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/, `${what}: ${r.status} ${r.text}`);
    assert.ok(
      r.text.endsWith("\n") && !r.text.endsWith("\n\n"),
      `${what} ends with one newline: ${r.text.slice(-40)}`,
    );
    JSON.parse(r.text);
  }
});
