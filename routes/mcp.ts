/**
 * @module routes/mcp — the MCP endpoint (Streamable HTTP; a fresh SDK server and transport per request). The
 * bearer token finds its room and caller, as on every REST route; a connection opened without one gets an
 * MCP session (mcp_sessions.ts) that acts as whoever its `join_room` / `create_room` made it. The tools
 * (mcp_tools.ts) call the same engine functions; the README and reference docs are resources.
 *
 *   POST   /mcp   JSON-RPC: a JSON response, or SSE for a blocking call that asked for progress
 *   DELETE /mcp   ends the session named by Mcp-Session-Id
 *   GET    /mcp   405 (no server-initiated stream)
 *   GET    /.well-known/:document[/mcp]   404: no OAuth here, the bearer token is the whole of it
 */
import { Hono } from "hono";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { ApiError, fromZod, JSON_TYPE, jsonText, toApiError } from "../errors.ts";
import { enterRoom } from "../engine/access.ts";
import type { Engine } from "../engine/engine.ts";
import { roomsOfToken } from "../engine/membership.ts";
import { type AppEnv, compact, type Ctx, readJson, token, withBudgetFlag } from "./http.ts";
import { McpSessions, type Session } from "./mcp_sessions.ts";
import { findTool, type McpSession, type Progress, toolList, TOOLS } from "./mcp_tools.ts";

const root = new URL("../", import.meta.url);
const DOC_SCHEME = "agent-sync://docs/";
const SESSION_HEADER = "mcp-session-id";

const sessionsOf = new WeakMap<Engine, McpSessions>();
function sessions(eng: Engine): McpSessions {
  let s = sessionsOf.get(eng);
  if (!s) sessionsOf.set(eng, s = new McpSessions(eng.limits, () => eng.now()));
  return s;
}

/**
 * `401` with the challenge the MCP authorization spec asks of a resource server (RFC 6750): clients report
 * it instead of guessing. There is no authorization server to discover (`/.well-known/*` is 404).
 */
function unauthorized(code: "unauthorized" | "invalid_token", message: string): ApiError {
  const description = message.replace(/["\\]/g, "'");
  return new ApiError(code, message, {}, {
    headers: {
      "www-authenticate":
        `Bearer realm="agent-sync", error="invalid_token", error_description="${description}"`,
    },
  });
}

/** The room a token belongs to (a token is minted for one room) and who it is there. */
async function identify(eng: Engine, bearer: string) {
  const [row] = await roomsOfToken(eng, { token: bearer });
  if (!row) throw new ApiError("invalid_token", "the bearer token belongs to no room");
  return await enterRoom(eng, row.id, { token: bearer });
}

/**
 * Who this request is: the header's token (a bad one is 401), else the session's adopted token (one that
 * stopped being valid — a re-join elsewhere, a deleted room — is reported by the tools that need it), else
 * nobody.
 */
async function resolve(
  eng: Engine,
  header: string | undefined,
  session: Session | undefined,
  signal: () => AbortSignal,
  cel: McpSession["cel"],
): Promise<McpSession> {
  const base: McpSession = { eng, signal, cel, session: header === undefined ? session : undefined };
  const bearer = header ?? session?.token;
  if (bearer === undefined) return base;
  try {
    const { room, caller } = await identify(eng, bearer);
    return { ...base, token: bearer, room, caller };
  } catch (e) {
    const err = toApiError(e);
    if (header !== undefined) {
      throw err.code === "invalid_token" ? unauthorized("invalid_token", err.message) : err;
    }
    return { ...base, lost: err };
  }
}

function instructions(s: McpSession): string {
  if (!s.caller) {
    const how = s.session
      ? "Call join_room to take part as an agent (or create_room to run a new room): this MCP session then " +
        "acts as that agent (or as the room's admin), no reconfiguration needed."
      : "Call create_room or join_room, then connect with the returned token as the Authorization: Bearer " +
        "header.";
    return `agent-sync: coordination rooms for agents. ${how}`;
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

async function callTool(s: McpSession, req: CallToolRequest, progress?: Progress): Promise<CallToolResult> {
  const { name, arguments: args } = req.params;
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
    let out = await tool.run(s, parsed.data, { progress });
    if (s.cel?.exhausted) out = withBudgetFlag(out);
    return { content: [{ type: "text", text: JSON.stringify(compact(out)) }] };
  } catch (e) {
    return toolError(e);
  }
}

/** README.md, every reference/*.md and docs/*.md, read when asked (the docs may change while the server runs). */
async function docFiles(): Promise<string[]> {
  const files = ["README.md"];
  for (const dir of ["reference", "docs"]) {
    try {
      for await (const f of Deno.readDir(new URL(`${dir}/`, root))) {
        if (f.isFile && /^[a-z_-]+\.md$/.test(f.name)) files.push(`${dir}/${f.name}`);
      }
    } catch { /* no such directory */ }
  }
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
    (req: CallToolRequest, extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => {
      const token = req.params._meta?.progressToken;
      const progress: Progress | undefined = token === undefined ? undefined : (p) =>
        extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken: token, ...p },
        });
      return callTool(s, req, progress);
    },
  );
  return mcp;
}

type RpcMessage = { method?: unknown; params?: { name?: unknown; _meta?: { progressToken?: unknown } } };

/** A tools/call asking for progress is answered as an SSE stream, so the notifications can go first. */
function wantsProgress(m: RpcMessage): boolean {
  return m.method === "tools/call" && m.params?._meta?.progressToken !== undefined;
}

/** A call of a tool that needs a token, on a connection that cannot have one (no token, no session). */
function needsToken(m: RpcMessage, s: McpSession): boolean {
  if (s.caller || s.session || m.method !== "tools/call") return false;
  const tool = typeof m.params?.name === "string" ? findTool(m.params.name) : undefined;
  return tool !== undefined && !tool.open;
}

/** Our JSON ends with a newline, the SDK's too (pasted curl output stays apart). */
async function newlineEnded(res: Response): Promise<Response> {
  if (!(res.headers.get("content-type") ?? "").startsWith("application/json")) return res;
  const text = await res.text();
  return new Response(text.endsWith("\n") ? text : text + "\n", { status: res.status, headers: res.headers });
}

async function post(c: Ctx): Promise<Response> {
  const eng = c.get("eng");
  // the one body reader (size, time, nesting, shape) before the SDK sees anything; the transport gets the
  // parsed value. One POST is one JSON-RPC request, with one CEL budget: a batch (MCP 2025-06-18 removed
  // them) is refused before any of it runs
  const body = await readJson(c, {
    array: "JSON-RPC batches are not supported (MCP 2025-06-18 removed them): send one request per POST",
  }) as RpcMessage;
  const header = token(c);
  const sid = c.req.header(SESSION_HEADER);
  // a session matters only without a token in the header (the header's token is who the request is)
  let session = sid !== undefined && header === undefined ? sessions(eng).get(sid) : undefined;
  const s = await resolve(eng, header, session, () => c.req.raw.signal, c.get("cel"));
  // a connection without a token gets a session at initialize: it may become an agent (join_room) or the
  // admin of a new room (create_room), and then stays that for its later requests
  let opened: string | undefined;
  if (body.method === "initialize" && header === undefined && session === undefined) {
    ({ id: opened, session } = sessions(eng).open());
    s.session = session;
  }
  if (needsToken(body, s)) {
    throw unauthorized(
      "unauthorized",
      "this tool needs a token: send Authorization: Bearer <token>, or initialize an MCP session and call " +
        "join_room or create_room first",
    );
  }
  const mcp = await buildServer(s);
  const streamed = wantsProgress(body);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: !streamed,
  });
  await mcp.connect(transport);
  let res: Response;
  try {
    res = await transport.handleRequest(c.req.raw, { parsedBody: body });
  } catch (e) {
    await mcp.close();
    throw e;
  }
  if (streamed && res.body && (res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // the call runs on after the headers went out: the server closes when the stream ends or the client leaves
    const close = () => void mcp.close();
    c.req.raw.signal.addEventListener("abort", close, { once: true });
    res = new Response(res.body.pipeThrough(new TransformStream({ flush: close })), res);
  } else {
    await mcp.close();
    res = await newlineEnded(res);
  }
  if (opened !== undefined) res.headers.set(SESSION_HEADER, opened);
  return res;
}

const NO_OAUTH = "this server does not use OAuth: send the room's token as Authorization: Bearer <token> " +
  "(see /reference/mcp.md)";
const noOAuth = (c: Ctx) => {
  throw new ApiError("not_found", `no ${new URL(c.req.url).pathname}: ${NO_OAUTH}`);
};

export const mcpRoutes = new Hono<AppEnv>()
  .post("/mcp", post)
  .delete("/mcp", (c) => {
    const sid = c.req.header(SESSION_HEADER);
    if (sid === undefined) {
      throw new ApiError(
        "method_not_allowed",
        "DELETE /mcp ends an MCP session: send its Mcp-Session-Id (connections with a token have none)",
        {},
        { headers: { allow: "POST, DELETE" } },
      );
    }
    sessions(c.get("eng")).close(sid);
    return new Response(jsonText({ closed: true }), { headers: { "content-type": JSON_TYPE } });
  })
  .all("/mcp", (c) => {
    throw new ApiError(
      "method_not_allowed",
      `${c.req.method} /mcp is not supported: there is no server-initiated stream (POST, and DELETE to end a session)`,
      {},
      { headers: { allow: "POST, DELETE" } },
    );
  })
  // OAuth discovery (RFC 9728, RFC 8414, OpenID), also with the /mcp path suffix clients probe: a fast 404
  // lets them report the real error instead of starting an authorization flow
  .get("/.well-known/:document", noOAuth)
  .get("/.well-known/:document/mcp", noOAuth);
