/**
 * @module routes/openapi_table — every route the app serves, as an OpenAPI operation: its tokens, the zod
 * schemas its body and query are parsed with (wire.ts, the builtins' params), the schema of its answer
 * (wire_responses.ts). A new route is a row here; tests/api/openapi_test.ts compares the table with the
 * routes the app serves and calls each operation.
 */
import { z } from "zod";
import { RegisterAction } from "../engine/actions.ts";
import { BatchParams, DeleteParams, MessageParams } from "../engine/builtin_params.ts";
import { RegisterView } from "../engine/views.ts";
import { WriteSpec } from "../engine/write_modes.ts";
import type { Operation } from "../openapi.ts";
import * as wire from "../wire.ts";
import * as out from "../wire_responses.ts";
import {
  ClaimBody,
  COMPAT_OPERATIONS,
  CompatStateBody,
  HeartbeatBody,
  McpMessage,
  McpReply,
  ViewAsState,
} from "./openapi_compat.ts";
import { group, IDEMPOTENT, json, NONE, ROOM, text, WRITERS } from "./openapi_rows.ts";

/** The schemas the table names beyond wire.ts and wire_responses.ts: components under these names. */
export const TABLE_SCHEMAS = {
  requests: {
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
  responses: { McpReply },
};
/** `GET /`: read by the page, not validated (any other parameter is ignored) */
const RootQuery = z.object({ room: z.string().optional().describe("a room id: the dashboard page") });

export const OPERATIONS: Operation[] = [
  ...group("rooms", [
    {
      route: "POST /rooms",
      id: "createRoom",
      tokens: NONE,
      summary: "Create a room; its two tokens are shown only in this answer",
      body: wire.CreateRoom,
      bodyOptional: true,
      ok: json(201, out.CreatedRoom, "the room with its room and view tokens"),
    },
    {
      route: "GET /rooms",
      id: "listRooms",
      tokenOptional: true,
      summary: "The rooms the bearer token belongs to (without a token: [])",
      ok: json(200, z.array(out.RoomInfo), "rooms"),
    },
    {
      route: "GET /rooms/:id",
      id: "getRoom",
      tokens: NONE,
      summary: "What anyone may know of a room",
      ok: json(200, out.RoomInfo, "the room"),
    },
    {
      route: "PATCH /rooms/:id",
      id: "patchRoom",
      tokens: ROOM,
      summary: "The room's settings: liveness_ms (when a silent agent is gone), history retention",
      body: wire.PatchRoom,
      ok: json(200, out.PatchedRoom, "the room with the settings in force"),
    },
    {
      route: "POST /rooms/:id/rotate-view-token",
      id: "rotateViewToken",
      tokens: ROOM,
      summary: "A new view token; the old one stops working at once",
      ok: json(200, out.RotatedViewToken, "the new view token, shown once"),
    },
  ]),
  ...group("agents", [
    {
      route: "POST /rooms/:id/agents",
      id: "joinAgent",
      tokens: WRITERS,
      tokenOptional: true,
      summary: "Join (no token), or re-join with the agent's or the room token (a new agent token)",
      body: wire.JoinAgent,
      bodyOptional: true,
      ok: json(201, out.JoinedAgent, "the agent with its token, shown once"),
    },
    {
      route: "GET /rooms/:id/agents",
      id: "listAgents",
      summary: "The presence list",
      ok: json(200, z.array(out.AgentInfo), "agents"),
    },
    {
      route: "PATCH /rooms/:id/agents/:agent",
      id: "patchAgent",
      tokens: ROOM,
      summary: "Grants, role, name, meta, status of an agent",
      body: wire.PatchAgent,
      ok: json(200, out.AgentInfo, "the agent"),
    },
  ]),
  ...group("actions", [
    {
      route: "POST /rooms/:id/actions/:action/invoke",
      id: "invoke",
      summary: "Invoke an action (builtin or custom); with `wait`, block until a condition holds after it",
      ...IDEMPOTENT,
      query: wire.InvokeQuery,
      body: wire.InvokeBody,
      bodyOptional: true,
      ok: json(200, out.InvokeResult, "the writes and the commit's cursor (and `wait` for invoke-and-wait)"),
      also: [json(202, out.Proposed, "the action waits for approval: its proposal (nothing ran)")],
    },
    {
      route: "GET /rooms/:id/actions",
      id: "listActions",
      summary: "Every action that has not expired, with its availability for the caller",
      query: wire.ActionsQuery,
      ok: json(200, z.array(out.ActionInfo), "the room's own actions first, then the builtins"),
    },
    {
      route: "GET /rooms/:id/actions/:action",
      id: "getAction",
      summary: "One action",
      query: wire.ActionsQuery,
      ok: json(200, out.ActionInfo, "the action"),
    },
  ]),
  ...group("reads", [
    {
      route: "GET /rooms/:id/context",
      id: "getContext",
      summary:
        "What the caller may see: state, views, agents, actions, messages, and the cursor (`at`: then)",
      query: wire.ContextQuery,
      ok: json(200, out.Context, "the context"),
    },
    {
      route: "GET /rooms/:id/state",
      id: "getState",
      summary: "State rows: every visible scope, one scope, or one key",
      query: wire.StateQuery,
      ok: json(200, out.StateRead, "rows, or one row"),
    },
    {
      route: "POST /rooms/:id/eval",
      id: "evalCel",
      summary: "Evaluate a CEL expression against what the caller may see",
      body: wire.EvalBody,
      ok: json(200, out.EvalResult, "the value (a run-time error is `error`, not an HTTP error)"),
    },
    {
      route: "GET /rooms/:id/poll",
      id: "poll",
      summary: "The dashboard's bundle: room, agents, state, messages, actions, views, audit",
      query: wire.PollQuery,
      ok: json(200, out.Poll, "the bundle"),
    },
    {
      route: "GET /rooms/:id/views",
      id: "listViews",
      summary: "Live views with their values",
      query: wire.AgentQuery,
      ok: json(200, z.array(out.ViewInfo), "views"),
    },
    {
      route: "GET /rooms/:id/views/:view",
      id: "getView",
      summary: "One view",
      query: wire.AgentQuery,
      ok: json(200, out.ViewInfo, "the view"),
    },
  ]),
  ...group("history", [
    {
      route: "GET /rooms/:id/history",
      id: "getHistory",
      summary:
        "The room's commits, newest first: who did what, the writes you may see, your refusals' reasons",
      query: wire.HistoryQuery,
      ok: json(200, out.HistoryPage, "a page of commits"),
    },
    {
      route: "GET /rooms/:id/state/history",
      id: "getKeyVersions",
      summary: "Every retained version of one key, newest first, with the commit that wrote it",
      query: wire.VersionsQuery,
      ok: json(200, out.KeyVersions, "the key's versions"),
    },
  ]),
  ...group("proposals", [
    {
      route: "GET /rooms/:id/proposals",
      id: "listProposals",
      summary: "Proposals of actions that wait for approval: those you proposed, took part in or approve",
      query: wire.ProposalsQuery,
      ok: json(200, z.array(out.ProposalInfo), "proposals, in the order they were made"),
    },
    {
      route: "GET /rooms/:id/proposals/:proposal",
      id: "getProposal",
      summary: "One proposal (404 proposal_not_found also for one you may not see)",
      query: wire.AgentQuery,
      ok: json(200, out.ProposalInfo, "the proposal"),
    },
  ]),
  ...group("wait", [
    {
      route: "GET /rooms/:id/wait",
      id: "wait",
      summary:
        "Block until a CEL condition holds (with `after`: for a change after that cursor), or time out",
      query: wire.WaitQuery,
      ok: json(200, out.WaitResult, "triggered, or `{triggered: false, timeout: true}`"),
    },
    {
      route: "GET /rooms/:id/events",
      id: "events",
      summary: "Server-Sent Events: one `change` event per commit the caller may see",
      description: "Frames `id: <cursor>`, `event: change` with data `FeedChange` (components), or " +
        "`event: reset` with data `FeedReset` when the cursor is older than the room's in-memory log; " +
        "`event: presence` (no `id:`) with data `FeedPresence` when agents start or stop waiting or change " +
        "status without a commit, at most one per 250 ms; `event: error` with the error body before the " +
        "server ends the feed. Opens with `retry: 1000` and a comment `: connected to ROOM at cursor N`; a " +
        "comment every 15 s.",
      query: wire.EventsQuery,
      headers: ["last_event_id"],
      ok: text("text/event-stream", "the event stream"),
    },
  ]),
  ...COMPAT_OPERATIONS,
  ...group("docs", [
    {
      route: "GET /",
      id: "home",
      tokens: NONE,
      summary:
        "The README as text/markdown; with Accept: text/html the landing page; with ?room= the dashboard",
      query: RootQuery,
      ok: text("text/markdown", "the README (or an HTML page)"),
    },
    {
      route: "GET /SKILL.md",
      id: "skill",
      tokens: NONE,
      summary: "The README, as an agent's skill file",
      ok: text("text/markdown", "the README"),
    },
    {
      route: "GET /reference/:file",
      id: "reference",
      tokens: NONE,
      summary:
        "A reference document (api.md, cel.md, examples.md, mcp.md, operations.md, security.md, architecture.md)",
      ok: text("text/markdown", "the document"),
    },
    {
      route: "GET /docs/:file",
      id: "guide",
      tokens: NONE,
      summary:
        "A guide (index.md, getting-started.md, agent-loop.md, mcp-clients.md, deployment.md, security-model.md)",
      ok: text("text/markdown", "the guide"),
    },
    {
      route: "GET /dashboard/:version/:file",
      id: "dashboardAsset",
      tokens: NONE,
      summary:
        "A script (text/javascript) or stylesheet (text/css) of the pages, cached for good under the current version",
      ok: text("text/javascript", "the file"),
    },
    {
      route: "GET /openapi.json",
      id: "openapi",
      tokens: NONE,
      summary: "This document",
      ok: {
        status: 200,
        type: "application/json",
        schema: z.looseObject({ openapi: z.string() }).describe("an OpenAPI 3.1 document"),
        description: "OpenAPI 3.1",
      },
    },
  ]),
  ...group("webhooks", [
    {
      route: "GET /rooms/:id/webhooks",
      id: "listWebhooks",
      tokens: ["room", "view"],
      summary: "The room's webhooks with their delivery state (never their secrets)",
      description:
        "Registered with the builtin `_register_webhook` (room token), deleted with `_delete_webhook`.",
      query: wire.WebhooksQuery,
      ok: json(200, z.array(out.WebhookInfo), "webhooks, by id"),
    },
    {
      route: "GET /rooms/:id/webhooks/:webhook/deliveries",
      id: "listDeliveries",
      tokens: ["room", "view"],
      summary: "A webhook's recent deliveries, pending and delivered, newest first",
      query: wire.DeliveriesQuery,
      ok: json(200, out.WebhookDeliveries, "deliveries"),
    },
  ]),
  ...group("operations", [
    {
      route: "GET /healthz",
      id: "health",
      tokens: NONE,
      summary: "200 while the database answers, else 503 db_unavailable",
      ok: json(200, out.Health, "healthy"),
    },
    {
      route: "GET /metrics",
      id: "metrics",
      tokens: NONE,
      summary: "Prometheus text: requests, invocations, waiters, commits, rooms",
      ok: text("text/plain", "Prometheus exposition format 0.0.4"),
    },
    {
      route: "GET /rooms/:id/export",
      id: "exportRoom",
      tokens: ROOM,
      summary: "The room as one JSON snapshot, audit included (never tokens)",
      ok: json(200, out.RoomExport, "the snapshot"),
    },
    {
      route: "POST /rooms/import",
      id: "importRoom",
      tokens: NONE,
      summary: "Restore a snapshot as a new room with new tokens",
      body: wire.ImportBody,
      ok: json(201, out.ImportedRoom, "the new room with its tokens, shown once"),
    },
    {
      route: "DELETE /rooms/:id",
      id: "deleteRoom",
      tokens: ROOM,
      summary: "Delete the room and all its rows",
      ok: json(200, out.DeletedRoom, "deleted"),
    },
  ]),
];
