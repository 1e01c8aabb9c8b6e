/**
 * @module routes/mcp — the MCP endpoint (Streamable HTTP, stateless: a fresh server and transport per request).
 * The bearer token finds its room and caller, as on every REST route; the tools (mcp_tools.ts) call the
 * same engine functions; the README and reference docs are resources.
 *
 *   POST /mcp   JSON-RPC over Streamable HTTP (JSON responses)
 *   *    /mcp   405 (no server-initiated stream, no sessions)
 */
import { Hono } from "hono";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { ApiError, fromZod, toApiError } from "../errors.ts";
import { enterRoom } from "../engine/access.ts";
import type { Engine } from "../engine/engine.ts";
import { roomsOfToken } from "../engine/membership.ts";
import { type AppEnv, compact, readJson, token, withBudgetFlag } from "./http.ts";
import { findTool, type McpSession, toolList, TOOLS } from "./mcp_tools.ts";

const root = new URL("../", import.meta.url);
const DOC_SCHEME = "agent-sync://docs/";

/** Finds the room a token belongs to (a token is minted for one room) and who it is there. */
async function session(
  eng: Engine,
  bearer: string | undefined,
  signal: () => AbortSignal,
  cel: McpSession["cel"],
): Promise<McpSession> {
  if (bearer === undefined) return { eng, signal, cel };
  const [row] = await roomsOfToken(eng, { token: bearer });
  if (!row) throw new ApiError("invalid_token", "the bearer token belongs to no room");
  const { room, caller } = await enterRoom(eng, row.id, { token: bearer });
  return { eng, token: bearer, room, caller, signal, cel };
}

function instructions(s: McpSession): string {
  if (!s.caller) {
    return "agent-sync: coordination rooms for agents. Call create_room or join_room, then reconnect " +
      "with the returned token as the Authorization: Bearer header.";
  }
  const who = `agent-sync room ${s.room!.id}; you are ${s.caller.id}.`;
  return `${who} read_context shows what you may see and the cursor; invoke_action changes things; ` +
    "wait_for blocks until a CEL condition holds; help lists the room's actions.";
}

/** A failed tool call: the same error body a REST route would answer, as the tool's result. */
function toolError(e: unknown): CallToolResult {
  const err = toApiError(e, { zodCode: "invalid_params" });
  return { content: [{ type: "text", text: JSON.stringify(err.toBody()) }], isError: true };
}

async function callTool(s: McpSession, name: string, args: unknown): Promise<CallToolResult> {
  try {
    const tool = findTool(name);
    if (!tool) {
      throw new ApiError(
        "not_found",
        `no tool ${JSON.stringify(name)}; tools: ${TOOLS.map((t) => t.name).join(", ")}`,
      );
    }
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) throw fromZod(parsed.error, "invalid_params");
    let out = await tool.run(s, parsed.data);
    if (s.cel?.exhausted) out = withBudgetFlag(out);
    return { content: [{ type: "text", text: JSON.stringify(compact(out)) }] };
  } catch (e) {
    return toolError(e);
  }
}

/** README.md and every reference/*.md, read when asked (the docs may change while the server runs). */
async function docFiles(): Promise<string[]> {
  const files = ["README.md"];
  try {
    for await (const f of Deno.readDir(new URL("reference/", root))) {
      if (f.isFile && /^[a-z_-]+\.md$/.test(f.name)) files.push(`reference/${f.name}`);
    }
  } catch { /* no reference directory */ }
  return files.sort();
}

async function buildServer(s: McpSession): Promise<McpServer> {
  const mcp = new McpServer(
    { name: "agent-sync", version: "1.0.0" },
    { capabilities: { tools: {} }, instructions: instructions(s) },
  );
  for (const path of await docFiles()) {
    mcp.registerResource(path, DOC_SCHEME + path, {
      mimeType: "text/markdown",
      description: `agent-sync ${path}`,
    }, async (uri: URL) => ({
      contents: [{
        uri: uri.href,
        mimeType: "text/markdown",
        text: await Deno.readTextFile(new URL(path, root)),
      }],
    }));
  }
  // tools are handled here rather than by registerTool so that bad arguments carry our error codes
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolList(s) }));
  mcp.server.setRequestHandler(
    CallToolRequestSchema,
    (req: CallToolRequest) => callTool(s, req.params.name, req.params.arguments),
  );
  return mcp;
}

export const mcpRoutes = new Hono<AppEnv>()
  .post("/mcp", async (c) => {
    const eng = c.get("eng");
    // the one body reader (size, time, nesting, shape) before the SDK sees anything; the transport gets the
    // parsed value. One POST is one JSON-RPC request, with one CEL budget: a batch (MCP 2025-06-18 removed
    // them) is refused before any of it runs
    const body = await readJson(c, {
      array: "JSON-RPC batches are not supported (MCP 2025-06-18 removed them): send one request per POST",
    });
    const s = await session(eng, token(c), () => c.req.raw.signal, c.get("cel"));
    const mcp = await buildServer(s);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await mcp.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, { parsedBody: body });
    } finally {
      await mcp.close();
    }
  })
  .all("/mcp", (c) => {
    throw new ApiError(
      "method_not_allowed",
      `${c.req.method} /mcp is not supported; this endpoint is stateless: POST only`,
      {},
      { headers: { allow: "POST" } },
    );
  });
