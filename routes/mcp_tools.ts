/**
 * @module routes/mcp_tools — the MCP tools: a few generic ones, each a thin call into the same engine function
 * a REST route uses (same JSON out, compact). No rule lives here; arguments are validated with zod.
 */
import { z } from "zod";
import type { Caller } from "../auth.ts";
import type { CelBudget } from "../cel.ts";
import { MCP_MAX_WAIT_MS } from "../config.ts";
import { ApiError } from "../errors.ts";
import { readCtx } from "../engine/context.ts";
import type { Engine } from "../engine/engine.ts";
import { invoke } from "../engine/invoke.ts";
import { invokeAndWait } from "../engine/invoke_wait.ts";
import { createRoom, joinAgent } from "../engine/membership.ts";
import { buildContext, evalExpression, parseSections } from "../engine/reads.ts";
import type { Room } from "../engine/room.ts";
import { waitFor } from "../engine/waiters.ts";
import {
  CreateRoom,
  EvalCelArgs,
  InvokeActionArgs,
  JoinRoomArgs,
  NoArgs,
  ReadContextArgs,
  WaitForArgs,
} from "../wire.ts";

/** Who the MCP request is: nobody (no token), or a caller in the room its token belongs to. */
export type McpSession = {
  eng: Engine;
  token?: string;
  room?: Room;
  caller?: Caller;
  /** aborts when the client goes away (read only by blocking tools) */
  signal: () => AbortSignal;
  /** the HTTP request's CEL budget: one JSON-RPC request per POST (batches are refused) */
  cel?: CelBudget;
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
    input: CreateRoom,
    run: (s, a) => createRoom(s.eng, a),
  },
  {
    name: "join_room",
    open: true,
    description:
      "Join a room as an agent. Returns the agent token (as_…), shown once; use it as the Bearer token of the MCP connection.",
    input: JoinRoomArgs,
    // the connection's token counts only in its own room (re-join with the agent or room token)
    run: (s, { room, ...body }) =>
      joinAgent(s.eng, room, s.room?.id === room ? { token: s.token } : {}, body),
  },
  {
    name: "read_context",
    description:
      "Everything you may see in the room: state, views, agents, actions, messages, and the cursor. Marks messages read.",
    input: ReadContextArgs,
    run: (s, a) => {
      const { room, caller } = member(s);
      return Promise.resolve(
        buildContext(s.eng, readCtx(s.eng, room, caller, { token: s.token, cel: s.cel }), {
          only: parseSections(joinList(a.only), "only"),
          messages_after: a.messages_after,
          messages_limit: a.messages_limit,
        }),
      );
    },
  },
  {
    name: "invoke_action",
    description:
      "Invoke an action (builtin _set_state, _send_message, _register_action, … or the room's own). Optional wait: block until a CEL condition holds after the write.",
    input: InvokeActionArgs,
    run: async (s, a) => {
      const { room } = member(s);
      const req = {
        token: s.token,
        cel: s.cel,
        signal: a.wait ? s.signal() : undefined,
        roomId: room.id,
        action: a.action,
        params: a.params ?? {},
        dryRun: a.dry_run === true,
      };
      if (a.wait) return await invokeAndWait(s.eng, req, a.wait, waitTimeout(s.eng, undefined));
      return (await invoke(s.eng, req)).body;
    },
  },
  {
    name: "wait_for",
    description: `Block until a CEL condition holds (with after: for a change after that cursor). At most ${
      MCP_MAX_WAIT_MS / 1000
    } s; on timeout returns triggered:false and the cursor — call again.`,
    input: WaitForArgs,
    run: (s, a) => {
      const { room, caller } = member(s);
      return waitFor(s.eng, room, caller, {
        token: s.token,
        cel: s.cel,
        signal: s.signal(),
        condition: a.condition,
        timeout: waitTimeout(s.eng, a.timeout),
        include: parseSections(joinList(a.include), "include", ["context", "changes"]),
        after: a.after,
      });
    },
  },
  {
    name: "eval_cel",
    description:
      "Evaluate a CEL expression against what you may see (state, views, agents, actions, messages, self).",
    input: EvalCelArgs,
    run: (s, a) => {
      const { room, caller } = member(s);
      return Promise.resolve(
        evalExpression(readCtx(s.eng, room, caller, { token: s.token, cel: s.cel }), a.expr),
      );
    },
  },
  {
    name: "help",
    description:
      "The room's participant guide: how to take part, key concepts, and every action with its params.",
    input: NoArgs,
    run: async (s) => {
      member(s);
      const r = await invoke(s.eng, {
        roomId: s.room!.id,
        token: s.token,
        cel: s.cel,
        action: "help",
        params: {},
      });
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
