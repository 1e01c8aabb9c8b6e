/**
 * @module routes/mcp_tools — the MCP tools: a few generic ones, each a thin call into the same engine function
 * a REST route uses (same JSON out, compact). No rule lives here; arguments are validated with zod.
 */
import { z } from "zod";
import type { Caller } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { Engine } from "../engine/engine.ts";
import { invoke } from "../engine/invoke.ts";
import { createRoom, joinAgent } from "../engine/membership.ts";
import type { Room } from "../engine/model.ts";
import { buildContext, evalExpression, parseSections, readCtx } from "../engine/reads.ts";
import { invokeAndWait, wait } from "../waiters.ts";
import { ID_PATTERN } from "../config.ts";

/** A tool call returns well within the common 60 s client timeout, whatever the configured wait limit. */
export const MCP_MAX_WAIT_MS = 45_000;

/** Who the MCP request is: nobody (no token), or a caller in the room its token belongs to. */
export type McpSession = {
  eng: Engine;
  token?: string;
  room?: Room;
  caller?: Caller;
  /** aborts when the client goes away (read only by blocking tools) */
  signal: () => AbortSignal;
};

type Tool = {
  name: string;
  description: string;
  input: z.ZodObject;
  /** offered without a token */
  open?: boolean;
  // deno-lint-ignore no-explicit-any -- each tool's args are its own schema's output
  run(s: McpSession, args: any): Promise<unknown>;
};

const Id = z.string().regex(ID_PATTERN, "must be 1-128 characters of [A-Za-z0-9._:-]");
const Sections = z.union([z.string(), z.array(z.string())]);
const Cursor = z.number().int().min(0);
const WaitSpec = z.strictObject({
  condition: z.string().describe("CEL condition"),
  timeout: z.number().int().min(0).optional().describe("ms"),
  include: Sections.optional().describe(
    "context, changes, or sections: state, views, agents, actions, messages",
  ),
  after: Cursor.optional().describe("your last cursor: changes are listed from it"),
});

const joinList = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(",") : v);

/** The room and caller of a session, or 401 unauthorized for a tool that needs a token. */
function member(s: McpSession): { room: Room; caller: Caller } {
  if (!s.room || !s.caller) {
    throw new ApiError("unauthorized", "this tool needs Authorization: Bearer <token> on the MCP connection");
  }
  return { room: s.room, caller: s.caller };
}

function waitTimeout(eng: Engine, timeout: number | undefined): number {
  return Math.min(timeout ?? eng.limits.maxWaitMs, eng.limits.maxWaitMs, MCP_MAX_WAIT_MS);
}

export const TOOLS: Tool[] = [
  {
    name: "create_room",
    open: true,
    description:
      "Create a room. Returns its token (room_…, full authority) and view_token (view_…, read-only), shown once.",
    input: z.strictObject({
      id: Id.optional().describe("room id (generated if omitted)"),
      meta: z.unknown().optional(),
    }),
    run: (s, a) => createRoom(s.eng, a),
  },
  {
    name: "join_room",
    open: true,
    description:
      "Join a room as an agent. Returns the agent token (as_…), shown once; use it as the Bearer token of the MCP connection.",
    input: z.strictObject({
      room: Id.describe("room id"),
      id: Id.optional().describe("agent id"),
      name: z.string().optional(),
      role: z.string().optional(),
      meta: z.unknown().optional(),
      state: z.record(z.string(), z.unknown()).optional().describe("initial private state"),
      public_keys: z.array(z.string()).optional().describe("keys of state published as views"),
    }),
    run: async (s, { room: roomId, ...body }) => {
      const room = await s.eng.room(roomId);
      // the connection's token counts only in its own room (re-join with the agent or room token)
      return joinAgent(s.eng, room, s.room?.id === room.id ? s.caller : undefined, body);
    },
  },
  {
    name: "read_context",
    description:
      "Everything you may see in the room: state, views, agents, actions, messages, and the cursor. Marks messages read.",
    input: z.strictObject({
      only: Sections.optional().describe("sections: state, views, agents, actions, messages, state.<scope>"),
      messages_after: Cursor.optional().describe("message seq"),
      messages_limit: z.number().int().min(1).optional(),
    }),
    run: (s, a) => {
      const { room, caller } = member(s);
      return Promise.resolve(buildContext(s.eng, readCtx(s.eng, room, caller), {
        only: parseSections(joinList(a.only), "only"),
        messages_after: a.messages_after,
        messages_limit: a.messages_limit,
      }));
    },
  },
  {
    name: "invoke_action",
    description:
      "Invoke an action (builtin _set_state, _send_message, _register_action, … or the room's own). Optional wait: block until a CEL condition holds after the write.",
    input: z.strictObject({
      action: z.string().min(1).describe("action id"),
      params: z.record(z.string(), z.unknown()).optional(),
      dry_run: z.boolean().optional().describe("check without writing"),
      wait: WaitSpec.optional(),
    }),
    run: async (s, a) => {
      member(s);
      const r = await invokeAndWait(
        s.eng,
        {
          roomId: s.room!.id,
          token: s.token,
          action: a.action,
          params: a.params ?? {},
          dryRun: a.dry_run === true,
        },
        a.wait,
        { maxTimeout: waitTimeout(s.eng, undefined), signal: a.wait ? s.signal() : undefined },
      );
      return r.body;
    },
  },
  {
    name: "wait_for",
    description: `Block until a CEL condition holds (with after: for a change after that cursor). At most ${
      MCP_MAX_WAIT_MS / 1000
    } s; on timeout returns triggered:false and the cursor — call again.`,
    input: z.strictObject({
      condition: z.string().describe("CEL, e.g. state._shared.turn == self"),
      after: Cursor.optional().describe("cursor from a previous result"),
      timeout: z.number().int().min(0).optional().describe("ms"),
      include: Sections.optional().describe("context (default), changes, or sections"),
    }),
    run: (s, a) => {
      const { room, caller } = member(s);
      if (s.eng.closing) throw new ApiError("shutting_down", "the server is shutting down");
      return wait(s.eng, room, caller, {
        condition: a.condition,
        timeout: waitTimeout(s.eng, a.timeout),
        include: parseSections(joinList(a.include), "include", ["context", "changes"]),
        after: a.after,
        signal: s.signal(),
      });
    },
  },
  {
    name: "eval_cel",
    description:
      "Evaluate a CEL expression against what you may see (state, views, agents, actions, messages, self).",
    input: z.strictObject({ expr: z.string().describe("CEL expression") }),
    run: (s, a) => {
      const { room, caller } = member(s);
      return Promise.resolve(evalExpression(readCtx(s.eng, room, caller), a.expr));
    },
  },
  {
    name: "help",
    description:
      "The room's participant guide: how to take part, key concepts, and every action with its params.",
    input: z.strictObject({}),
    run: async (s) => {
      member(s);
      const r = await invoke(s.eng, { roomId: s.room!.id, token: s.token, action: "help", params: {} });
      return { ...r.body, mcp: MCP_WORKFLOW };
    },
  },
];

/** The guide's REST workflow, as the tools of this connection. */
const MCP_WORKFLOW = [
  "read_context → state, actions and cursor",
  "invoke_action {action, params} → write (409 precondition_failed carries detail)",
  "wait_for {condition, after: cursor} → block until it holds; on timeout call again with the returned cursor",
  "eval_cel {expr} → test a condition first",
];

/** Tool definitions for tools/list: JSON Schemas from the zod schemas, without what costs tokens and says nothing. */
export function toolList(s: McpSession) {
  return TOOLS.filter((t) => t.open || s.caller).map((t) => ({
    name: t.name,
    description: t.description,
    inputSchema: lean(z.toJSONSchema(t.input, { io: "input" })) as { type: "object" },
  }));
}

function lean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(lean);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "$schema" || (k === "maximum" && x === Number.MAX_SAFE_INTEGER)) continue;
    if (k === "propertyNames" && (x as { type?: string }).type === "string") continue;
    out[k] = lean(x);
  }
  return out;
}

/** Any tool by name: one that needs a token answers `unauthorized` itself when called without one. */
export function findTool(name: string): Tool | undefined {
  return TOOLS.find((t) => t.name === name);
}
