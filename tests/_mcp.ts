/**
 * An MCP client for tests: the official SDK's Client over its Streamable HTTP transport, with the calls the
 * tests make (a tool's JSON result, progress notifications, the tool names), released with `await using`.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Progress, Tool } from "@modelcontextprotocol/sdk/types.js";

export type Mcp = {
  client: Client;
  transport: StreamableHTTPClientTransport;
  call(
    name: string,
    args?: Record<string, unknown>,
    opts?: { onprogress?: (p: Progress) => void },
    // deno-lint-ignore no-explicit-any -- tool results are whatever JSON the server sent
  ): Promise<{ isError: boolean; json: any; text: string }>;
  tools(): Promise<string[]>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** Connects (initialize) with `token` as the bearer header, or without one; `sessionId` resumes a session. */
export async function mcp(base: string, token?: string, sessionId?: string): Promise<Mcp> {
  const c = new Client({ name: "mcp-test", version: "1.0.0" });
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers },
    sessionId,
  });
  await c.connect(transport);
  return {
    client: c,
    transport,
    async call(name, args = {}, opts = {}) {
      const r = await c.callTool({ name, arguments: args }, undefined, opts);
      const content = r.content as { type: string; text: string }[];
      assert.equal(content[0].type, "text");
      const text = content[0].text;
      return { isError: r.isError === true, json: JSON.parse(text), text };
    },
    async tools() {
      return (await c.listTools()).tools.map((t: Tool) => t.name).sort();
    },
    [Symbol.asyncDispose]: () => c.close(),
  };
}

export const ALL_TOOLS = [
  "create_room",
  "eval_cel",
  "help",
  "invoke_action",
  "join_room",
  "read_context",
  "wait_for",
];

export const MCP_HEADERS = {
  accept: "application/json, text/event-stream",
  "content-type": "application/json",
};

/** The JSON-RPC initialize request, as any client sends it first. */
export const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};
