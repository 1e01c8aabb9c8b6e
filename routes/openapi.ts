/**
 * @module routes/openapi — the route → operation table of the OpenAPI document, and the route serving it.
 * Schemas are the ones the routes and builtins parse with (wire.ts, engine/) and wire_responses.ts: the
 * document is generated from them, never restated. A new route is a row here (tests/api/openapi_test.ts
 * compares this table with the routes the app serves).
 *
 *   GET /openapi.json   the OpenAPI 3.1 document
 */
import { Hono } from "hono";
import { z } from "zod";
import { RegisterAction } from "../engine/actions.ts";
import {
  BatchParams,
  ClaimParams,
  DeleteParams,
  HeartbeatParams,
  MessageParams,
} from "../engine/builtins.ts";
import { RegisterView } from "../engine/views.ts";
import { WriteSpec } from "../engine/write_modes.ts";
import { buildOpenApi, type Operation, type TokenKind } from "../openapi.ts";
import * as wire from "../wire.ts";
import * as out from "../wire_responses.ts";
import { JSON_TYPE, jsonText } from "../errors.ts";
import type { AppEnv } from "./http.ts";

const ANY: TokenKind[] = ["room", "view", "agent"];
const WRITERS: TokenKind[] = ["room", "agent"];
const ROOM: TokenKind[] = ["room"];
const NONE: TokenKind[] = [];

// request bodies of the compatibility routes, as the routes hand them to the builtins
const ClaimBody = ClaimParams.pick({ agent: true });
const HeartbeatBody = HeartbeatParams.omit({ agent: true });
/** seed 003: `PUT /rooms/:id/state {scope: "_view", key, expr}` is `_register_view` with `id` = key */
const ViewAsState = RegisterView.omit({ id: true, scope: true }).extend({
  scope: z.literal("_view"),
  key: RegisterView.shape.id,
});
const CompatStateBody = z.union([WriteSpec, ViewAsState]);
/** Not parsed by us: the MCP SDK reads JSON-RPC. */
const McpMessage = z.looseObject({
  jsonrpc: z.literal("2.0"),
  method: z.string().optional(),
  id: z.union([z.string(), z.number()]).optional(),
  params: z.unknown().optional(),
}).describe(
  "a JSON-RPC 2.0 message of MCP Streamable HTTP (initialize, tools/list, tools/call, …); see reference/mcp.md",
);
const McpReply = z.looseObject({ jsonrpc: z.literal("2.0") }).describe("the JSON-RPC response");
/** `GET /`: read by the page, not validated (any other parameter is ignored) */
const RootQuery = z.object({ room: z.string().optional().describe("a room id: the dashboard page") });

const isZod = (v: unknown): v is z.ZodType => v instanceof z.ZodType;
const zodExports = (m: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(m).filter(([, v]) => isZod(v))) as Record<string, z.ZodType>;

const json = (status: number, schema: z.ZodType, description: string) => ({ status, schema, description });
const INVOKED = json(200, out.InvokeResult, "the invocation's result");

export const OPERATIONS: Operation[] = [
  // ── rooms and agents (routes/rooms.ts) ──
  {
    method: "post",
    path: "/rooms",
    id: "createRoom",
    tag: "rooms",
    summary: "Create a room; its two tokens are shown only in this answer",
    tokens: NONE,
    body: wire.CreateRoom,
    bodyOptional: true,
    ok: json(201, out.CreatedRoom, "the room with its room and view tokens"),
  },
  {
    method: "get",
    path: "/rooms",
    id: "listRooms",
    tag: "rooms",
    summary: "The rooms the bearer token belongs to (without a token: [])",
    tokens: ANY,
    tokenOptional: true,
    ok: json(200, z.array(out.RoomInfo), "rooms"),
  },
  {
    method: "get",
    path: "/rooms/:id",
    id: "getRoom",
    tag: "rooms",
    summary: "What anyone may know of a room",
    tokens: NONE,
    ok: json(200, out.RoomInfo, "the room"),
  },
  {
    method: "post",
    path: "/rooms/:id/rotate-view-token",
    id: "rotateViewToken",
    tag: "rooms",
    summary: "A new view token; the old one stops working at once",
    tokens: ROOM,
    ok: json(200, out.RotatedViewToken, "the new view token, shown once"),
  },
  {
    method: "post",
    path: "/rooms/:id/agents",
    id: "joinAgent",
    tag: "agents",
    summary: "Join (no token), or re-join with the agent's or the room token (a new agent token)",
    tokens: WRITERS,
    tokenOptional: true,
    body: wire.JoinAgent,
    bodyOptional: true,
    ok: json(201, out.JoinedAgent, "the agent with its token, shown once"),
  },
  {
    method: "get",
    path: "/rooms/:id/agents",
    id: "listAgents",
    tag: "agents",
    summary: "The presence list",
    tokens: ANY,
    ok: json(200, z.array(out.AgentInfo), "agents"),
  },
  {
    method: "patch",
    path: "/rooms/:id/agents/:agent",
    id: "patchAgent",
    tag: "agents",
    summary: "Grants, role, name, meta, status of an agent",
    tokens: ROOM,
    body: wire.PatchAgent,
    ok: json(200, out.AgentInfo, "the agent"),
  },
  {
    method: "post",
    path: "/rooms/:id/agents/:agent/heartbeat",
    id: "heartbeat",
    tag: "compatibility",
    summary: "_heartbeat: set the agent's presence status",
    tokens: WRITERS,
    body: HeartbeatBody,
    bodyOptional: true,
    headers: ["idempotency_key"],
    ok: json(200, out.Heartbeat, "the presence"),
  },
  // ── invoke and actions (routes/actions.ts) ──
  {
    method: "post",
    path: "/rooms/:id/actions/:action/invoke",
    id: "invoke",
    tag: "actions",
    summary: "Invoke an action (builtin or custom); with `wait`, block until a condition holds after it",
    tokens: WRITERS,
    query: wire.InvokeQuery,
    body: wire.InvokeBody,
    bodyOptional: true,
    headers: ["idempotency_key"],
    ok: json(200, out.InvokeResult, "the writes and the commit's cursor (and `wait` for invoke-and-wait)"),
  },
  {
    method: "get",
    path: "/rooms/:id/actions",
    id: "listActions",
    tag: "actions",
    summary: "Every action that has not expired, with its availability for the caller",
    tokens: ANY,
    ok: json(200, z.array(out.ActionInfo), "actions, builtins first"),
  },
  {
    method: "get",
    path: "/rooms/:id/actions/:action",
    id: "getAction",
    tag: "actions",
    summary: "One action",
    tokens: ANY,
    ok: json(200, out.ActionInfo, "the action"),
  },
  {
    method: "put",
    path: "/rooms/:id/actions",
    id: "putAction",
    tag: "compatibility",
    summary: "_register_action",
    tokens: WRITERS,
    body: RegisterAction,
    headers: ["idempotency_key"],
    ok: INVOKED,
  },
  {
    method: "delete",
    path: "/rooms/:id/actions/:action",
    id: "deleteAction",
    tag: "compatibility",
    summary: "_delete_action",
    tokens: WRITERS,
    headers: ["idempotency_key"],
    ok: INVOKED,
  },
  // ── reads (routes/reads.ts) ──
  {
    method: "get",
    path: "/rooms/:id/context",
    id: "getContext",
    tag: "reads",
    summary: "What the caller may see: state, views, agents, actions, messages, and the cursor",
    tokens: ANY,
    query: wire.ContextQuery,
    ok: json(200, out.Context, "the context"),
  },
  {
    method: "get",
    path: "/rooms/:id/state",
    id: "getState",
    tag: "reads",
    summary: "State rows: every visible scope, one scope, or one key",
    tokens: ANY,
    query: wire.StateQuery,
    ok: json(200, out.StateRead, "rows, or one row"),
  },
  {
    method: "post",
    path: "/rooms/:id/eval",
    id: "evalCel",
    tag: "reads",
    summary: "Evaluate a CEL expression against what the caller may see",
    tokens: ANY,
    body: wire.EvalBody,
    ok: json(200, out.EvalResult, "the value (a run-time error is `error`, not an HTTP error)"),
  },
  {
    method: "get",
    path: "/rooms/:id/poll",
    id: "poll",
    tag: "reads",
    summary: "The dashboard's bundle: room, agents, state, messages, actions, views, audit",
    tokens: ANY,
    query: wire.PollQuery,
    ok: json(200, out.Poll, "the bundle"),
  },
  {
    method: "get",
    path: "/rooms/:id/views",
    id: "listViews",
    tag: "reads",
    summary: "Live views with their values",
    tokens: ANY,
    query: wire.AgentQuery,
    ok: json(200, z.array(out.ViewInfo), "views"),
  },
  {
    method: "get",
    path: "/rooms/:id/views/:view",
    id: "getView",
    tag: "reads",
    summary: "One view",
    tokens: ANY,
    query: wire.AgentQuery,
    ok: json(200, out.ViewInfo, "the view"),
  },
  // ── blocking reads (routes/wait.ts) ──
  {
    method: "get",
    path: "/rooms/:id/wait",
    id: "wait",
    tag: "wait",
    summary: "Block until a CEL condition holds (with `after`: for a change after that cursor), or time out",
    tokens: ANY,
    query: wire.WaitQuery,
    ok: json(200, out.WaitResult, "triggered, or `{triggered: false, timeout: true}`"),
  },
  {
    method: "get",
    path: "/rooms/:id/events",
    id: "events",
    tag: "wait",
    summary: "Server-Sent Events: one `change` event per commit the caller may see",
    description:
      "Frames `id: <cursor>`, `event: change` with data `FeedChange` (components), or `event: reset` " +
      "with data `FeedReset` when the cursor is older than the room's in-memory log. Opens with `retry: 1000` " +
      "and a comment `: connected to ROOM at cursor N`; a comment every 15 s. Resume with `after` or `Last-Event-ID`.",
    tokens: ANY,
    query: wire.EventsQuery,
    headers: ["last_event_id"],
    ok: { status: 200, type: "text/event-stream", description: "the event stream" },
  },
  {
    method: "get",
    path: "/debug/waiters",
    id: "countWaiters",
    tag: "operations",
    summary: "The number of requests blocked in /wait and invoke-and-wait",
    tokens: NONE,
    ok: json(200, out.Waiters, "the count"),
  },
  // ── compatibility routes (routes/compat.ts): one builtin each ──
  {
    method: "put",
    path: "/rooms/:id/state",
    id: "putState",
    tag: "compatibility",
    summary: "_set_state (scope `_view` with `expr`: _register_view)",
    tokens: WRITERS,
    body: CompatStateBody,
    headers: ["idempotency_key"],
    ok: json(200, out.CompatStateWritten, "the row written"),
  },
  {
    method: "put",
    path: "/rooms/:id/state/batch",
    id: "putStateBatch",
    tag: "compatibility",
    summary: "_batch_set_state: all or nothing",
    tokens: WRITERS,
    body: BatchParams,
    headers: ["idempotency_key"],
    ok: json(200, out.CompatBatch, "the rows written"),
  },
  {
    method: "delete",
    path: "/rooms/:id/state",
    id: "deleteState",
    tag: "compatibility",
    summary: "_delete_state",
    tokens: WRITERS,
    body: DeleteParams,
    headers: ["idempotency_key"],
    ok: json(200, out.CompatDeleted, "whether a key was deleted"),
  },
  ...(["put", "post"] as const).map((method): Operation => ({
    method,
    path: "/rooms/:id/views",
    id: `${method}View`,
    tag: "compatibility",
    summary: "_register_view",
    tokens: WRITERS,
    body: RegisterView,
    headers: ["idempotency_key"],
    ok: json(200, out.InvokeResult, "the invocation's result merged with the view and its value"),
  })),
  {
    method: "delete",
    path: "/rooms/:id/views/:view",
    id: "deleteView",
    tag: "compatibility",
    summary: "_delete_view",
    tokens: WRITERS,
    headers: ["idempotency_key"],
    ok: INVOKED,
  },
  {
    method: "post",
    path: "/rooms/:id/messages",
    id: "postMessage",
    tag: "compatibility",
    summary: "_send_message",
    tokens: WRITERS,
    body: MessageParams,
    headers: ["idempotency_key"],
    ok: json(201, out.CompatMessage, "the message"),
  },
  {
    method: "get",
    path: "/rooms/:id/messages",
    id: "listMessages",
    tag: "compatibility",
    summary: "The message log with filters, oldest first",
    tokens: ANY,
    query: wire.MessagesQuery,
    ok: json(200, z.array(out.CompatMessage), "messages"),
  },
  {
    method: "post",
    path: "/rooms/:id/messages/:seq/claim",
    id: "claimMessage",
    tag: "compatibility",
    summary: "_claim_message (already claimed: 409 already_claimed with `claimed: false`)",
    tokens: WRITERS,
    body: ClaimBody,
    bodyOptional: true,
    headers: ["idempotency_key"],
    ok: json(200, out.Claimed, "claimed"),
  },
  // ── MCP (routes/mcp.ts) ──
  {
    method: "post",
    path: "/mcp",
    id: "mcp",
    tag: "mcp",
    summary: "MCP over Streamable HTTP, stateless; the bearer token picks room and identity",
    description: "JSON-RPC in, JSON-RPC out. The tools' arguments are the components *Args and CreateRoom; " +
      "without a token only create_room and join_room are offered.",
    tokens: ANY,
    tokenOptional: true,
    body: McpMessage,
    ok: { status: 200, type: "application/json", schema: McpReply, description: "the JSON-RPC response" },
  },
  ...(["get", "delete"] as const).map((method): Operation => ({
    method,
    path: "/mcp",
    id: `${method}Mcp`,
    tag: "mcp",
    summary: "Not served: no server-initiated stream, no sessions (POST only)",
    tokens: NONE,
    ok: json(405, out.ErrorBody, "method_not_allowed, with `Allow: POST`"),
  })),
  // ── docs (routes/docs.ts, this module) ──
  {
    method: "get",
    path: "/",
    id: "home",
    tag: "docs",
    summary:
      "The README as text/markdown; with Accept: text/html the landing page; with ?room= the dashboard",
    tokens: NONE,
    query: RootQuery,
    ok: { status: 200, type: "text/markdown", description: "the README (or an HTML page)" },
  },
  {
    method: "get",
    path: "/SKILL.md",
    id: "skill",
    tag: "docs",
    summary: "The README, as an agent's skill file",
    tokens: NONE,
    ok: { status: 200, type: "text/markdown", description: "the README" },
  },
  {
    method: "get",
    path: "/reference/:file",
    id: "reference",
    tag: "docs",
    summary: "A reference document (api.md, cel.md, examples.md, mcp.md, operations.md, architecture.md)",
    tokens: NONE,
    ok: { status: 200, type: "text/markdown", description: "the document" },
  },
  {
    method: "get",
    path: "/openapi.json",
    id: "openapi",
    tag: "docs",
    summary: "This document",
    tokens: NONE,
    ok: {
      status: 200,
      type: "application/json",
      schema: z.looseObject({ openapi: z.string() }).describe("an OpenAPI 3.1 document"),
      description: "OpenAPI 3.1",
    },
  },
  // ── operations (routes/ops.ts) ──
  {
    method: "get",
    path: "/healthz",
    id: "health",
    tag: "operations",
    summary: "200 while the database answers, else 503 db_unavailable",
    tokens: NONE,
    ok: json(200, out.Health, "healthy"),
  },
  {
    method: "get",
    path: "/metrics",
    id: "metrics",
    tag: "operations",
    summary: "Prometheus text: requests, invocations, waiters, commits, rooms",
    tokens: NONE,
    ok: { status: 200, type: "text/plain", description: "Prometheus exposition format 0.0.4" },
  },
  {
    method: "get",
    path: "/rooms/:id/export",
    id: "exportRoom",
    tag: "operations",
    summary: "The room as one JSON snapshot, audit included (never tokens)",
    tokens: ROOM,
    ok: json(200, out.RoomExport, "the snapshot"),
  },
  {
    method: "post",
    path: "/rooms/import",
    id: "importRoom",
    tag: "operations",
    summary: "Restore a snapshot as a new room with new tokens",
    tokens: NONE,
    body: wire.ImportBody,
    ok: json(201, out.ImportedRoom, "the new room with its tokens, shown once"),
  },
  {
    method: "delete",
    path: "/rooms/:id",
    id: "deleteRoom",
    tag: "operations",
    summary: "Delete the room and all its rows",
    tokens: ROOM,
    ok: json(200, out.DeletedRoom, "deleted"),
  },
];

const TOKENS: Record<TokenKind, string> = {
  room: "`room_…`, from POST /rooms: reads everything, writes everything, may act as any agent (`agent`).",
  view: "`view_…`, from POST /rooms: reads everything, changes nothing (403 read_only_token).",
  agent:
    "`as_…`, from joining: reads the system scopes, its own scope, views, granted scopes; writes its own " +
    "and granted scopes directly, anything else through actions.",
};

let doc: Record<string, unknown> | undefined;

/** The document (built once: the schemas do not change while the server runs). */
export function openApiDocument(): Record<string, unknown> {
  return doc ??= buildOpenApi({
    info: {
      title: "agent-sync",
      version: "1.0.0",
      description: "Coordination rooms for AI agents: shared state, actions with CEL preconditions, waits. " +
        "The manual is GET / (README) and /reference/api.md.",
    },
    tags: [
      { name: "rooms", description: "rooms and their tokens" },
      { name: "agents", description: "joining and presence" },
      { name: "actions", description: "the invocation, the only way anything changes" },
      { name: "reads", description: "what a caller may see" },
      { name: "wait", description: "blocking reads and the change feed" },
      { name: "compatibility", description: "the older API, each route one builtin action" },
      { name: "mcp", description: "the Model Context Protocol endpoint" },
      { name: "docs", description: "the manual and the pages" },
      { name: "operations", description: "health, metrics, export, import, delete" },
    ],
    tokens: TOKENS,
    pathParams: {
      id: "room id",
      agent: "agent id",
      action: "action id",
      view: "view id",
      seq: "message seq",
      file: "a file name of reference/",
    },
    parameters: {
      compact: {
        name: "compact",
        in: "query",
        description: "`true`: drop null, empty strings, arrays and objects from the answer",
        schema: { type: "string", enum: ["true"] },
      },
      idempotency_key: {
        name: "Idempotency-Key",
        in: "header",
        description: "a repeat within 24 h with the same key answers the first successful reply again",
        schema: { type: "string" },
      },
      last_event_id: {
        name: "Last-Event-ID",
        in: "header",
        description: "resume after this cursor (as `after`)",
        schema: { type: "string", pattern: "^\\d+$" },
      },
    },
    requests: {
      ...zodExports(wire),
      WriteSpec,
      BatchParams,
      DeleteParams,
      MessageParams,
      ClaimBody,
      HeartbeatBody,
      RegisterAction,
      RegisterView,
      ViewAsState,
      CompatStateBody,
      McpMessage,
    },
    responses: { ...zodExports(out), McpReply },
    error: out.ErrorBody,
    operations: OPERATIONS,
  });
}

// written as is, not through `send`: `compact=true` would drop the `security: []` of open routes
export const openapiRoutes = new Hono<AppEnv>()
  .get(
    "/openapi.json",
    () => new Response(jsonText(openApiDocument()), { headers: { "content-type": JSON_TYPE } }),
  );
