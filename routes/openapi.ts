/**
 * @module routes/openapi — GET /openapi.json: the operations of routes/openapi_table.ts and every named
 * schema (wire.ts, the builtins' params, wire_responses.ts) built into one OpenAPI 3.1 document by openapi.ts.
 *
 *   GET /openapi.json   the OpenAPI 3.1 document
 */
import { Hono } from "hono";
import { z } from "zod";
import { JSON_TYPE, jsonText } from "../errors.ts";
import { buildOpenApi, type TokenKind } from "../openapi.ts";
import * as wire from "../wire.ts";
import * as out from "../wire_responses.ts";
import type { AppEnv } from "./http.ts";
import { OPERATIONS, TABLE_SCHEMAS } from "./openapi_table.ts";

const isZod = (v: unknown): v is z.ZodType => v instanceof z.ZodType;
const zodExports = (m: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(m).filter(([, v]) => isZod(v))) as Record<string, z.ZodType>;

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
      {
        name: "history",
        description: "the room's commits, each key's versions (the room at a commit: `at`)",
      },
      { name: "proposals", description: "actions waiting for approval (decided with _approve / _reject)" },
      { name: "wait", description: "blocking reads and the change feed" },
      { name: "compatibility", description: "the older API, each route one builtin action" },
      { name: "webhooks", description: "push to systems that do not poll: signed deliveries of commits" },
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
      proposal: "proposal id",
      seq: "message seq",
      file: "a file name (of reference/, docs/, or of dashboard/ for the pages)",
      version: "the pages' asset version (another one answers the current file, not cached)",
    },
    parameters: {
      compact: {
        name: "compact",
        in: "query",
        description: "`true`: drop null, empty strings, arrays and objects from the envelope of the answer " +
          "(even fields a response schema requires); user data (`value`, `state`, `params`, `writes`, " +
          "`body`, `meta`, …) is sent as stored",
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
    jsonParameters: ["compact"],
    requests: { ...zodExports(wire), ...TABLE_SCHEMAS.requests },
    responses: { ...zodExports(out), ...TABLE_SCHEMAS.responses },
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
