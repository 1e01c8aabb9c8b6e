/**
 * @module routes/openapi_compat — the compatibility routes and the MCP endpoint as OpenAPI operations, with
 * the request bodies those routes hand to the builtins (part of the route table, openapi_table.ts).
 */
import { z } from "zod";
import {
  BatchParams,
  ClaimParams,
  DeleteParams,
  HeartbeatParams,
  MessageParams,
} from "../engine/builtin_params.ts";
import { RegisterAction } from "../engine/actions.ts";
import { RegisterView } from "../engine/views.ts";
import { WriteSpec } from "../engine/write_modes.ts";
import type { Operation } from "../openapi.ts";
import * as wire from "../wire.ts";
import * as out from "../wire_responses.ts";
import { group, IDEMPOTENT, INVOKED, json, NONE } from "./openapi_rows.ts";

// request bodies of the compatibility routes, as the routes hand them to the builtins
export const ClaimBody = ClaimParams.pick({ agent: true });
export const HeartbeatBody = HeartbeatParams.omit({ agent: true });
/** seed 003: `PUT /rooms/:id/state {scope: "_view", key, expr}` is `_register_view` with `id` = key */
export const ViewAsState = RegisterView.omit({ id: true, scope: true }).extend({
  scope: z.literal("_view"),
  key: RegisterView.shape.id,
});
export const CompatStateBody = z.union([WriteSpec, ViewAsState]);
/** Not parsed by us: the MCP SDK reads JSON-RPC. */
export const McpMessage = z.looseObject({
  jsonrpc: z.literal("2.0"),
  method: z.string().optional(),
  id: z.union([z.string(), z.number()]).optional(),
  params: z.unknown().optional(),
}).describe(
  "a JSON-RPC 2.0 message of MCP Streamable HTTP (initialize, tools/list, tools/call, …); see reference/mcp.md",
);
export const McpReply = z.looseObject({ jsonrpc: z.literal("2.0") }).describe("the JSON-RPC response");

export const COMPAT_OPERATIONS: Operation[] = [
  ...group("compatibility", [
    {
      route: "PUT /rooms/:id/state",
      id: "putState",
      summary: "_set_state (scope `_view` with `expr`: _register_view)",
      ...IDEMPOTENT,
      body: CompatStateBody,
      ok: json(200, out.CompatStateWritten, "the row written"),
    },
    {
      route: "PUT /rooms/:id/state/batch",
      id: "putStateBatch",
      summary: "_batch_set_state: all or nothing",
      ...IDEMPOTENT,
      body: BatchParams,
      ok: json(200, out.CompatBatch, "the rows written"),
    },
    {
      route: "DELETE /rooms/:id/state",
      id: "deleteState",
      summary: "_delete_state",
      ...IDEMPOTENT,
      body: DeleteParams,
      ok: json(200, out.CompatDeleted, "whether a key was deleted"),
    },
    {
      route: "PUT /rooms/:id/actions",
      id: "putAction",
      summary: "_register_action",
      ...IDEMPOTENT,
      body: RegisterAction,
      ok: INVOKED,
    },
    {
      route: "DELETE /rooms/:id/actions/:action",
      id: "deleteAction",
      summary: "_delete_action",
      ...IDEMPOTENT,
      ok: INVOKED,
    },
    ...(["PUT", "POST"] as const).map((m) => ({
      route: `${m} /rooms/:id/views`,
      id: `${m.toLowerCase()}View`,
      summary: "_register_view",
      ...IDEMPOTENT,
      body: RegisterView,
      ok: json(200, out.InvokeResult, "the invocation's result merged with the view and its value"),
    })),
    {
      route: "DELETE /rooms/:id/views/:view",
      id: "deleteView",
      summary: "_delete_view",
      ...IDEMPOTENT,
      ok: INVOKED,
    },
    {
      route: "POST /rooms/:id/messages",
      id: "postMessage",
      summary: "_send_message",
      ...IDEMPOTENT,
      body: MessageParams,
      ok: json(201, out.CompatMessage, "the message"),
    },
    {
      route: "GET /rooms/:id/messages",
      id: "listMessages",
      summary: "The message log with filters, oldest first",
      query: wire.MessagesQuery,
      ok: json(200, z.array(out.CompatMessage), "messages"),
    },
    {
      route: "POST /rooms/:id/messages/:seq/claim",
      id: "claimMessage",
      summary: "_claim_message (already claimed: 409 already_claimed with `claimed: false`)",
      ...IDEMPOTENT,
      body: ClaimBody,
      bodyOptional: true,
      ok: json(200, out.Claimed, "claimed"),
    },
    {
      route: "POST /rooms/:id/agents/:agent/heartbeat",
      id: "heartbeat",
      summary: "_heartbeat: set the agent's presence status",
      ...IDEMPOTENT,
      body: HeartbeatBody,
      bodyOptional: true,
      ok: json(200, out.Heartbeat, "the presence"),
    },
  ]),
  ...group("mcp", [
    {
      route: "POST /mcp",
      id: "mcp",
      tokenOptional: true,
      summary: "MCP over Streamable HTTP; the bearer token picks room and identity",
      description: "JSON-RPC in, JSON-RPC out (an SSE stream for a tools/call with a progressToken). The " +
        "tools' arguments are the components *Args and CreateRoom. Without a token, `initialize` opens an " +
        "MCP session (`Mcp-Session-Id`) that acts as whoever its join_room / create_room made it; a tool " +
        "that needs a token, called with neither, is `401` with `WWW-Authenticate`, as is a bad token.",
      body: McpMessage,
      ok: { status: 200, type: "application/json", schema: McpReply, description: "the JSON-RPC response" },
    },
    {
      route: "DELETE /mcp",
      id: "deleteMcp",
      tokens: NONE,
      summary: "Ends the MCP session named by the Mcp-Session-Id header",
      description: "`404 session_not_found` for an unknown or expired session; without the header `405`.",
      ok: json(200, z.object({ closed: z.literal(true) }), "the session is gone"),
    },
    {
      route: "GET /mcp",
      id: "getMcp",
      tokens: NONE,
      summary: "Not served: there is no server-initiated stream",
      ok: json(405, out.ErrorBody, "method_not_allowed, with `Allow: POST, DELETE`"),
    },
    ...["", "/mcp"].map((suffix) => ({
      route: `GET /.well-known/:document${suffix}`,
      id: `wellKnown${suffix ? "Mcp" : ""}`,
      tokens: NONE,
      summary: `OAuth discovery documents${suffix ? " (with the MCP path)" : ""}: there are none`,
      description: "The bearer token is the whole of authorization (no OAuth): a fast `404 not_found` lets " +
        "MCP clients report the real error instead of starting an authorization flow.",
      ok: json(404, out.ErrorBody, "not_found"),
    })),
  ]),
];
