/**
 * @module engine/reads — every read endpoint's answer: context, state rows, eval, poll, views, actions
 * (changes since a cursor: changes.ts). Privacy comes from privacy.ts through context.ts; nothing here
 * bypasses it.
 */
import { celKeys, type CelMap, compile, evaluateOrLimit } from "../cel.ts";
import {
  CONTEXT_MESSAGES_DEFAULT,
  CONTEXT_MESSAGES_MAX,
  MESSAGES_LIST_DEFAULT,
  MESSAGES_LIST_MAX,
  POLL_LIMIT_DEFAULT,
  POLL_LIMIT_MAX,
} from "../config.ts";
import { ApiError } from "../errors.ts";
import type { ActionsForm, MessagesQuery } from "../wire.ts";
import { actionCatalog, jsonActions, withActions } from "./catalog.ts";
import {
  celContext,
  jsonAgents,
  jsonLeases,
  jsonState,
  jsonViews,
  lastSeen,
  type ReadCtx,
  visibleScopes,
} from "./context.ts";
import type { Engine } from "./engine.ts";
import type { Entry } from "./model.ts";
import { filterMessages, messageCounts, messagesAfter, messageView, recentMessages } from "./messages.ts";
import { agentJson, roomJson } from "./membership.ts";
import { markRead } from "./presence.ts";
import { scopeEntries, viewHidden } from "./hidden.ts";
import { canReadAudit, canReadScope, seesHidden } from "./privacy.ts";
import { auditFor } from "./refusals.ts";
import { liveScope, viewValues } from "./snapshot.ts";
import { contextProposals, listProposals, withProposals } from "./proposal_views.ts";
import { entryJson } from "./write_modes.ts";
import { entryLease } from "./leases.ts";
import { windowOf } from "./liveness.ts";

export const SECTIONS = ["state", "views", "agents", "actions", "messages", "proposals", "leases"] as const;

type Row = Record<string, unknown>;

export type ContextQuery = {
  only?: string[];
  /** `brief`: builtins without their params (briefBuiltin) */
  actions?: ActionsForm;
  messages_after?: number;
  messages_limit?: number;
  /** with `after`: only what changed since this cursor (issue: contexts sized by what matters). */
  after?: number;
  /** a read of the past (room_at.ts): shown messages are not marked read */
  past?: boolean;
};

/** Parses `only`/`include` lists: section names or `state.<scope>`; unknown names are a 400. */
export function parseSections(
  raw: string | undefined,
  field: string,
  extra: string[] = [],
): string[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const parts = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    if ((SECTIONS as readonly string[]).includes(p) || extra.includes(p) || /^state\..+/.test(p)) continue;
    throw new ApiError(
      "invalid_query",
      `${field} has unknown section ${JSON.stringify(p)} (use ${
        [...SECTIONS, ...extra].join(", ")
      } or state.<scope>)`,
      {
        field,
      },
    );
  }
  return parts;
}

/** `/context`: what the caller may see, in one object; reading messages marks them read. */
export function buildContext(eng: Engine, rc: ReadCtx, q: ContextQuery = {}): Record<string, unknown> {
  const want = (s: string) =>
    !q.only || q.only.includes(s) || (s === "state" && q.only.some((o) => o.startsWith("state.")));
  const out: Record<string, unknown> = {};
  const elided: Record<string, number> = {};
  if (want("state")) {
    const scoped = q.only?.filter((o) => o.startsWith("state.")).map((o) => o.slice(6));
    if (scoped?.length && !q.only!.includes("state")) {
      const st: Record<string, unknown> = {};
      for (const s of scoped) Object.assign(st, jsonState(rc, s));
      out.state = st;
    } else out.state = jsonState(rc);
  }
  if (want("leases")) {
    // shown when something is leased (or asked for by name): a room without leases reads as before
    const leases = jsonLeases(rc);
    if (q.only?.includes("leases") || Object.keys(leases).length) out.leases = leases;
  }
  if (want("views")) out.views = jsonViews(rc);
  if (want("agents")) out.agents = jsonAgents(rc);
  if (want("actions")) {
    const actions = jsonActions(rc);
    if (q.actions === "brief") {
      for (const [id, a] of Object.entries(actions)) actions[id] = briefBuiltin(a as Row);
    }
    out.actions = actions;
  }
  if (want("proposals")) out.proposals = contextProposals(rc);
  if (want("messages")) {
    const limit = Math.min(q.messages_limit ?? CONTEXT_MESSAGES_DEFAULT, CONTEXT_MESSAGES_MAX);
    const me = rc.caller.kind === "agent" ? rc.caller.id : null;
    const counts = messageCounts(rc.room, me, lastSeen(rc));
    const list = q.messages_after !== undefined
      ? messagesAfter(rc.room, q.messages_after, limit)
      : recentMessages(rc.room, limit);
    out.messages = { ...counts, recent: list.map(messageView) };
    const shownFrom = list.length ? list[0].seq : rc.room.messages.length + 1;
    const notShown = q.messages_after !== undefined
      ? rc.room.messages.length - (q.messages_after + list.length)
      : shownFrom - 1;
    if (notShown > 0) elided.messages = notShown;
    if (list.length && !q.past && !rc.op.head) markRead(eng, rc.room, rc.caller, list[list.length - 1].seq);
  }
  out.self = rc.caller.id;
  out.cursor = rc.room.seq;
  if (Object.keys(elided).length) out._elided = elided;
  return out;
}

/** `/state`: rows of one scope, one row, or every visible scope (logs excluded unless asked for). */
export async function readState(eng: Engine, rc: ReadCtx, scope?: string, key?: string) {
  if (key !== undefined && scope === undefined) {
    throw new ApiError("invalid_query", "key needs scope", { field: "key" });
  }
  if (scope !== undefined && !canReadScope(rc.caller, scope) && scope !== "_audit") {
    throw new ApiError("scope_denied", `${rc.caller.id} may not read scope ${scope}`, { scope });
  }
  if (scope === "_view") {
    // seed 003: computed views read back as state rows of the `_view` scope, with their resolved values
    const rows = listViews(rc).map((v) => ({
      scope: "_view",
      key: v.id,
      expr: v.expr,
      value: v.expr,
      resolved_value: v.value,
      ...(v.error ? { error: v.error } : {}),
    }));
    if (key !== undefined) return one(rows.find((r) => r.key === key), scope, key);
    return rows;
  }
  if (scope === "_messages") {
    const rows = rc.room.messages.map((m) => ({
      scope: "_messages",
      key: String(m.seq),
      value: messageView(m),
      version: m.claimed_by ? 2 : 1,
      updated_at: m.claimed_at ?? m.ts,
      sort_key: m.seq,
      lease: entryLease(rc.room, "_messages", String(m.seq), rc.now),
    }));
    if (key !== undefined) return one(rows.find((r) => r.key === key), scope, key);
    return rows;
  }
  if (scope === "_audit") {
    await eng.rooms.settle(rc.room);
    const agent = rc.caller.kind === "agent" ? rc.caller.id : undefined;
    const rows = (await eng.rooms.readAudit(rc.room, { agent, limit: POLL_LIMIT_MAX }))
      .filter((a) => canReadAudit(rc.caller, a.agent))
      .map((a) => ({
        scope: "_audit",
        key: String(a.seq),
        value: auditFor(rc.caller, a),
        version: 1,
        updated_at: a.ts,
        sort_key: a.seq,
      }));
    if (key !== undefined) return one(rows.find((r) => r.key === key), scope, key);
    return rows;
  }
  const scopes = scope !== undefined ? [scope] : visibleScopes(rc);
  // the room and view tokens also see entries that are dormant or disabled, marked with why; every row shows
  // its entry's lease (null: none)
  const withLease = (e: Entry, row: Row): Row => ({
    ...row,
    lease: entryLease(rc.room, e.scope, e.key, rc.now),
  });
  const rows = seesHidden(rc.caller)
    ? scopes.flatMap((s) =>
      scopeEntries(rc, s).map(({ entry, hidden }) =>
        withLease(entry, hidden ? { ...entryJson(entry), hidden } : entryJson(entry))
      )
    )
    : scopes.flatMap((s) =>
      liveScope(rc.room, s, rc.now, rc.limits, rc.cel).entries.map((e) => withLease(e, entryJson(e)))
    );
  if (key !== undefined) return one(rows.find((r) => r.key === key), scope!, key);
  return rows;
}

function one<T>(row: T | undefined, scope: string, key: string): T {
  if (!row) throw new ApiError("state_not_found", `no entry ${scope}.${key}`, { scope, key });
  return row;
}

/** `/eval`: any expression against the caller's context. */
export function evalExpression(rc: ReadCtx, expr: unknown) {
  const program = compile(
    expr,
    { maxLength: rc.limits.maxCelLength, timeoutMs: rc.limits.celTimeoutMs },
    "expr",
  );
  const ctx = withProposals(withActions(celContext(rc), rc), rc);
  const r = evaluateOrLimit(program, ctx, rc.cel, rc.room.rt.celTime);
  const context_keys = {
    state: Object.keys(ctx.state as object),
    views: Object.keys(ctx.views as object),
    agents: celKeys(ctx.agents as CelMap),
    messages: messageCounts(rc.room, rc.caller.kind === "agent" ? rc.caller.id : null, lastSeen(rc)),
    self: rc.caller.id,
  };
  if (!r.ok) {
    return { expression: program.source, value: null, error: r.error, context_keys };
  }
  return { expression: program.source, value: r.value, context_keys };
}

/** Live views with their values; for the room and view tokens also the dormant and disabled ones. */
export function listViews(rc: ReadCtx) {
  const values = viewValues(rc.room, rc.now, rc.limits);
  const withHidden = seesHidden(rc.caller);
  const out = [];
  for (const id of rc.room.viewOrder) {
    const v = rc.room.views.get(id)!;
    const hidden = values.has(id) || !withHidden ? undefined : viewHidden(rc, v);
    const val = values.get(id) ?? (hidden ? { value: null } : undefined);
    if (!val) continue;
    out.push({
      id,
      value: val.value,
      ...(hidden ? { hidden } : {}),
      // an error message can quote values of the owner scope: only shown to those who may read it
      ...(val.error
        ? { error: canReadScope(rc.caller, v.scope) ? val.error : "the view failed at run time" }
        : {}),
      description: v.description ?? null,
      scope: v.scope,
      expr: v.expr,
      render: v.render ?? null,
      registrar: v.registrar,
      timer: v.timer ?? null,
      enabled: v.enabled ?? null,
    });
  }
  return out;
}

export function getView(rc: ReadCtx, id: string) {
  const v = listViews(rc).find((x) => x.id === id);
  if (!v) throw new ApiError("view_not_found", `no view ${JSON.stringify(id)} in this room`, { view: id });
  return v;
}

/**
 * `actions=brief`: a builtin as its id, its description's first line and `builtin: true` (its params are in
 * the full listing and in `help`); the room's own actions in full. Saves an agent ~5 KB per context.
 */
export function briefBuiltin(a: Record<string, unknown>): Record<string, unknown> {
  if (a.builtin !== true) return a;
  const out: Record<string, unknown> = {};
  if (a.id !== undefined) out.id = a.id;
  out.description = String(a.description ?? "").split("\n")[0];
  out.builtin = true;
  return out;
}

export function listActions(rc: ReadCtx, form: ActionsForm = "full") {
  const list = actionCatalog(rc, false);
  return form === "brief" ? list.map(briefBuiltin) : list;
}

export function getAction(rc: ReadCtx, id: string, form: ActionsForm = "full") {
  const a = listActions(rc, form).find((x) => x.id === id);
  if (!a) {
    throw new ApiError("action_not_found", `no action ${JSON.stringify(id)} in this room`, { action: id });
  }
  return a;
}

export type PollQuery = { messages_limit?: number; audit_limit?: number };

/** `/poll`: the dashboard bundle, raw rows; audit limited to what the caller may read. */
export async function poll(eng: Engine, rc: ReadCtx, q: PollQuery) {
  const ml = Math.min(q.messages_limit ?? POLL_LIMIT_DEFAULT, POLL_LIMIT_MAX);
  const al = Math.min(q.audit_limit ?? POLL_LIMIT_DEFAULT, POLL_LIMIT_MAX);
  const agent = rc.caller.kind === "agent" ? rc.caller.id : undefined;
  await eng.rooms.settle(rc.room);
  return {
    room: { ...roomJson(rc.room), liveness_ms: windowOf(rc.room, rc.limits) },
    self: rc.caller.id,
    cursor: rc.room.seq,
    agents: [...rc.room.agents.values()].map((a) => agentJson(rc.room, a, rc.now, rc.limits)),
    state: await readState(eng, rc),
    messages: recentMessages(rc.room, ml).map(messageView),
    message_count: rc.room.messages.length,
    actions: listActions(rc),
    views: listViews(rc),
    audit: (await eng.rooms.readAudit(rc.room, { agent, limit: al })).map((a) => auditFor(rc.caller, a)),
    audit_count: rc.room.auditCount,
    proposals: listProposals(rc),
  };
}

/** `GET /messages` (seed 000): the log with filters, oldest first. */
export function listMessages(rc: ReadCtx, q: MessagesQuery) {
  const list = filterMessages(rc.room, {
    after: q.after,
    kind: q.kind,
    thread: q.thread,
    unclaimed: q.unclaimed === "true",
    limit: Math.min(q.limit ?? MESSAGES_LIST_DEFAULT, MESSAGES_LIST_MAX),
  });
  return list.map(messageView);
}
