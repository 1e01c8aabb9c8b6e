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
import type { Session } from "./mcp_sessions.ts";
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

/**
 * Who the MCP request is: nobody (no token), or a caller in the room its token belongs to — the header's
 * token, or the one its MCP session adopted.
 */
export type McpSession = {
  eng: Engine;
  token?: string;
  room?: Room;
  caller?: Caller;
  /** aborts when the client goes away (read only by blocking tools) */
  signal: () => AbortSignal;
  /** the HTTP request's CEL budget: one JSON-RPC request per POST (batches are refused) */
  cel?: CelBudget;
  /** the MCP session of a connection without a token: join_room and create_room make it act as their result */
  session?: Session;
  /** why the session's adopted token no longer opens its room (the tools that need one answer it) */
  lost?: ApiError;
};

/** Sends one MCP progress notification for the call (the client gave a `progressToken`). */
export type Progress = (p: { progress: number; total?: number; message?: string }) => Promise<void>;

type Tool = {
  name: string;
  description: string;
  input: z.ZodObject;
  /** offered without a token */
  open?: boolean;
  // deno-lint-ignore no-explicit-any -- each tool's args are its own schema's output
  run(s: McpSession, args: any, call: { progress?: Progress }): Promise<unknown>;
};

const joinList = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(",") : v);

/** The room and caller of a session, or the tool error that says how to become someone. */
function member(s: McpSession): { room: Room; caller: Caller } {
  if (s.lost) throw s.lost;
  if (!s.room || !s.caller) {
    throw new ApiError(
      "unauthorized",
      "this tool needs a room: call join_room (or create_room) first, or connect with Authorization: Bearer <token>",
    );
  }
  return { room: s.room, caller: s.caller };
}

/** A session without a token of its own takes the one its join_room / create_room returned. */
function adopt<T extends { token: string }>(s: McpSession, result: T): T {
  if (s.session) s.session.token = result.token;
  return result;
}

/**
 * At most the server's wait limit; without progress notifications also at most MCP_MAX_WAIT_MS, so the call
 * returns within the common 60 s client timeout (a client that resets its timeout on progress may wait longer).
 */
function waitTimeout(eng: Engine, timeout: number | undefined, progress?: Progress): number {
  const cap = progress ? eng.limits.maxWaitMs : Math.min(eng.limits.maxWaitMs, MCP_MAX_WAIT_MS);
  return Math.min(timeout ?? cap, cap);
}

/** Runs a blocking call, sending a progress notification every `mcpProgressMs` while it blocks. */
async function withProgress<T>(
  eng: Engine,
  progress: Progress | undefined,
  total: number,
  condition: string,
  run: () => Promise<T>,
): Promise<T> {
  if (!progress) return await run();
  const started = performance.now();
  const timer = setInterval(() => {
    const elapsed = Math.round(performance.now() - started);
    progress({ progress: elapsed, total, message: `waiting for ${condition}` }).catch(() => {});
  }, eng.limits.mcpProgressMs);
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

export const TOOLS: Tool[] = [
  {
    name: "create_room",
    open: true,
    description:
      "Create a room. Returns its token (room_…, full authority) and view_token (view_…, read-only), shown once.",
    // history retention is an operator's setting (POST /rooms, PATCH /rooms/:id): not in the tool's schema
    input: CreateRoom.omit({ history: true }),
    run: async (s, a) => adopt(s, await createRoom(s.eng, a)),
  },
  {
    name: "join_room",
    open: true,
    description:
      "Join a room as an agent: this session then acts as it. Returns the agent token (as_…), shown once.",
    input: JoinRoomArgs,
    // the connection's token counts only in its own room (re-join with the agent or room token)
    run: async (s, { room, ...body }) =>
      adopt(s, await joinAgent(s.eng, room, s.room?.id === room ? { token: s.token } : {}, body)),
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
          // the builtins' params are in help: not repeated in every context
          actions: a.actions ?? "brief",
          messages_after: a.messages_after,
          messages_limit: a.messages_limit,
        }),
      );
    },
  },
  {
    name: "invoke_action",
    description:
      "Invoke an action (_set_state, _send_message, _approve, … or the room's own). Optional wait: block until a CEL condition holds after the write.",
    input: InvokeActionArgs,
    run: async (s, a, { progress }) => {
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
      const cap = waitTimeout(s.eng, undefined, progress);
      const r = a.wait
        ? await withProgress(
          s.eng,
          progress,
          Math.min(a.wait.timeout ?? cap, cap),
          a.wait.condition,
          () => invokeAndWait(s.eng, req, a.wait, cap),
        )
        : await invoke(s.eng, req);
      return r.status === 202
        ? { note: pendingNote(r.body.proposal as Record<string, unknown>), ...r.body }
        : r.body;
    },
  },
  {
    name: "wait_for",
    description: `Block until a CEL condition holds (with after: for a change after that cursor). At most ${
      MCP_MAX_WAIT_MS / 1000
    } s; on timeout returns triggered:false and the cursor — call again.`,
    input: WaitForArgs,
    run: (s, a, { progress }) => {
      const { room, caller } = member(s);
      const timeout = waitTimeout(s.eng, a.timeout, progress);
      return withProgress(s.eng, progress, timeout, a.condition, () =>
        waitFor(s.eng, room, caller, {
          token: s.token,
          cel: s.cel,
          signal: s.signal(),
          condition: a.condition,
          timeout,
          include: parseSections(joinList(a.include), "include", ["context", "changes"]),
          after: a.after,
        }));
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

/** What a tool result says first when the action waits for approval (the JSON follows). */
function pendingNote(p: Record<string, unknown>): string {
  const n = Number(p.count);
  return `pending approval: proposal ${p.id}, needs ${n} approval${n === 1 ? "" : "s"} from ${p.from}` +
    ` — wait for proposals["${p.id}"].status != "pending", or decide it with _approve / _reject`;
}

/** The guide's REST workflow, as the tools of this connection. */
const MCP_WORKFLOW = [
  "read_context → state, actions and cursor",
  "invoke_action {action, params} → write (409 precondition_failed carries detail; pending approval: a proposal)",
  "wait_for {condition, after: cursor} → block until it holds; on timeout call again with the returned cursor",
  "eval_cel {expr} → test a condition first",
];

/**
 * Tool definitions for tools/list: JSON Schemas from the zod schemas, without what costs tokens and says
 * nothing. A connection that is someone, or may become someone (an MCP session), sees all of them.
 */
export function toolList(s: McpSession) {
  return TOOLS.filter((t) => t.open || s.caller || s.session).map((t) => ({
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
