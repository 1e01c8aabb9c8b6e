/**
 * @module engine/room_admin — whole-room operations: a room as one JSON snapshot (state, agents, actions,
 * views, messages, ticks, leases, proposals, the whole audit log and the retained history), restoring such a
 * snapshot under a new id, and deleting a room. Token hashes are secrets and never leave the server: an import
 * mints new tokens, shown once.
 */
import { z } from "zod";
import { checkAgentId, hashToken, mintToken, requireAdmin } from "../auth.ts";
import { compile } from "../cel.ts";
import { ApiError, fromZod } from "../errors.ts";
import { EXPORT_FORMAT, type ImportBody, StampedDef, StoredTimer } from "../wire.ts";
import { RegisterAction } from "./actions.ts";
import { checkApproval } from "./approval.ts";
import { enterRoom } from "./access.ts";
import type { Engine } from "./engine.ts";
import { linkWrites, snapshotRow, storedRow } from "./history_export.ts";
import { baselineRows } from "./history_rows.ts";
import { checkMeta, randomId } from "./membership.ts";
import {
  type ActionDef,
  actionExpressions,
  entryExpressions,
  entryId,
  type Lease,
  type Message,
  type Proposal,
  type ViewDef,
  viewExpressions,
} from "./model.ts";
import { checkExpiryWrites } from "./leases.ts";
import type { Op } from "./op.ts";
import { checkSnapshotQuotas } from "./quotas.ts";
import { historyFrom, setRetention } from "./retention.ts";
import { Room } from "./room.ts";
import { RegisterView } from "./views.ts";
import { checkRecipients } from "./message_writes.ts";
import { checkKey, checkValue } from "./write_checks.ts";
import { entryJson } from "./write_modes.ts";

/** `GET /rooms/:id/export` (room token). */
export async function exportRoom(eng: Engine, roomId: string, op: Op): Promise<Record<string, unknown>> {
  const { room, caller } = await enterRoom(eng, roomId, op);
  requireAdmin(caller);
  await eng.rooms.settle(room);
  // synchronous from here to the audit read's start: the snapshot is one commit's view of the room
  const auditSeq = room.auditSeq;
  const seq = room.seq;
  const history = {
    oldest_seq: historyFrom(room),
    oldest_ts: room.history?.from_ts ?? null,
    settings: {
      ...(room.history?.commits !== undefined ? { commits: room.history.commits } : {}),
      ...(room.history?.max_age_ms !== undefined ? { max_age_ms: room.history.max_age_ms } : {}),
    },
    rows: [] as unknown[],
  };
  const snapshot = {
    format: EXPORT_FORMAT,
    exported_at: new Date(eng.now()).toISOString(),
    room: {
      id: room.id,
      meta: room.meta,
      created_at: room.created_at,
      seq: room.seq,
      ...(room.liveness_ms !== null ? { liveness_ms: room.liveness_ms } : {}),
    },
    agents: [...room.agents.values()].map((a) => ({
      id: a.id,
      name: a.name,
      role: a.role,
      meta: a.meta,
      grants: a.grants,
      joined_at: a.joined_at,
      status: a.status === "waiting" ? "active" : a.status,
      last_heartbeat: a.last_heartbeat,
      last_seen_seq: a.last_seen_seq,
      last_seen: a.last_seen,
    })),
    state: [...room.scopes.values()].flatMap((m) =>
      [...m.values()].map((e) => ({ ...entryJson(e), seq: e.seq }))
    ),
    actions: [...room.actions.values()],
    views: room.viewOrder.map((id) => room.views.get(id)).filter(Boolean),
    messages: room.messages.map((m) => ({ ...m, extra: m.extra ?? null })),
    ticks: Object.fromEntries(room.ticks),
    // every key ever leased: live leases and the epochs of ended ones
    leases: [...room.leases.values()].flatMap((m) => [...m.values()]),
    proposals: [...room.proposals.values()],
    audit: [] as unknown[],
    history,
  };
  const reads = [
    eng.rooms.readAudit(room, { limit: Number.MAX_SAFE_INTEGER, max_seq: auditSeq }),
    eng.rooms.history.readHistory(room.id, seq),
  ] as const;
  snapshot.audit = await reads[0];
  history.rows = (await reads[1]).map(snapshotRow);
  return snapshot;
}

/** Restores a snapshot under `body.id` (or a fresh id); answers with the new tokens, shown once. */
export async function importRoom(eng: Engine, s: ImportBody) {
  const bytes = checkImportLimits(eng, s);
  const id = s.id ?? randomId("room");
  const token = mintToken("room");
  const viewToken = mintToken("view");
  const room = new Room({
    id,
    meta: s.room.meta ?? {},
    created_at: s.room.created_at,
    token_hash: hashToken(token),
    view_token_hash: hashToken(viewToken),
    seq: 0,
    liveness_ms: s.room.liveness_ms ?? null,
  });
  room.seq = Math.max(1, s.room.seq);
  const dirty = room.rt.dirty;
  const agentTokens: Record<string, string> = {};
  s.agents.forEach((a, i) => checkAgentId(a.id, `agents[${i}].id`));
  for (const a of s.agents) {
    const t = mintToken("agent");
    agentTokens[a.id] = t;
    room.agents.set(a.id, {
      ...a,
      meta: a.meta ?? {},
      token_hash: hashToken(t),
      waiting_on: null,
      last_seen: a.last_seen ?? null,
    });
    dirty.agent(a.id);
  }
  for (const e of s.state) {
    if (e.scope === "_audit" || e.scope === "_messages") continue;
    const id = entryId(e.scope, e.key);
    if (dirty.entries?.has(id)) throw bad(`state has ${e.scope}.${e.key} twice`, "state");
    room.scope(e.scope).set(e.key, {
      ...e,
      timer: (e.timer ?? null) as never,
      enabled: e.enabled ?? null,
      sort_key: e.sort_key ?? null,
    });
    dirty.entry(id);
  }
  let defBytes = 0;
  s.actions.forEach((a, i) => {
    const def = checkAction(eng, a, `actions[${i}]`);
    defBytes += checkValue(def, eng.limits, `actions[${i}]`, eng.limits.maxDefinitionBytes);
    room.actions.set(def.id, def);
    dirty.action(def.id);
  });
  s.views.forEach((v, i) => {
    const def = checkView(eng, v, `views[${i}]`);
    defBytes += checkValue(def, eng.limits, `views[${i}]`, eng.limits.maxDefinitionBytes);
    if (room.views.has(def.id)) throw bad(`views has ${def.id} twice`, `views[${i}]`);
    room.views.set(def.id, def);
    room.viewOrder.push(def.id);
    dirty.view(def.id);
  });
  // the definitions' bytes are known once they are checked: the room's total again with them
  checkSnapshotQuotas(eng.limits, { bytes: bytes + defBytes });
  s.messages.forEach((m, i) => {
    if (m.seq !== i + 1) {
      throw bad(
        `messages must be numbered 1, 2, … without gaps (messages[${i}].seq is ${m.seq})`,
        `messages[${i}].seq`,
      );
    }
    room.messages.push({ ...m, extra: m.extra ?? null } as Message);
    dirty.message(m.seq);
  });
  let last = 0;
  for (const [i, a] of s.audit.entries()) {
    if (a.seq <= last) {
      throw bad(`audit rows must have increasing seq (audit[${i}].seq is ${a.seq})`, `audit[${i}].seq`);
    }
    last = a.seq;
    dirty.addAudit(a);
  }
  for (const [target, n] of Object.entries(s.ticks)) {
    room.ticks.set(target, n);
    dirty.tick(target);
  }
  s.leases.forEach((l, i) => {
    if (l.holder !== null && l.holder !== "admin" && !room.agents.has(l.holder)) {
      throw bad(
        `leases[${i}].holder ${JSON.stringify(l.holder)} is not an agent of the snapshot`,
        `leases[${i}]`,
      );
    }
    if (typeof l.on_expire === "object") {
      checkExpiryWrites(l.on_expire.writes, `leases[${i}]`, eng.limits);
      if (l.on_expire.by !== "admin" && !room.agents.has(l.on_expire.by)) {
        throw bad(`leases[${i}].on_expire.by is not an agent of the snapshot`, `leases[${i}].on_expire.by`);
      }
    }
    let m = room.leases.get(l.scope);
    if (!m) room.leases.set(l.scope, m = new Map());
    if (m.has(l.key)) throw bad(`leases has ${l.scope}.${l.key} twice`, `leases[${i}]`);
    m.set(l.key, l as Lease);
    dirty.lease(entryId(l.scope, l.key));
  });
  s.proposals.forEach((p, i) => {
    compile(p.from, celLimits(eng), `proposals[${i}].from`);
    if (room.proposals.has(p.id)) throw bad(`proposals has ${p.id} twice`, `proposals[${i}].id`);
    room.proposals.set(p.id, p as Proposal);
    dirty.proposal(p.id);
  });
  importHistory(eng, room, s);
  await eng.rooms.restore(room);
  const loaded = await eng.rooms.get(id);
  return {
    id: loaded.id,
    created_at: loaded.created_at,
    meta: loaded.meta,
    token,
    view_token: viewToken,
    agent_tokens: agentTokens,
    imported: {
      from: s.room.id,
      agents: s.agents.length,
      state: s.state.length,
      actions: s.actions.length,
      views: s.views.length,
      messages: s.messages.length,
      audit: s.audit.length,
      proposals: s.proposals.length,
    },
  };
}

/**
 * The snapshot's history (v2), or — from a snapshot without one — a history that begins at its last commit
 * with what the room holds then.
 */
function importHistory(eng: Engine, room: Room, s: ImportBody): void {
  const h = s.history;
  if (h && h.oldest_seq > room.seq) {
    throw bad(`history.oldest_seq is after the room's last commit (${room.seq})`, "history.oldest_seq");
  }
  room.history = h
    ? { from: h.oldest_seq, ...(h.oldest_ts ? { from_ts: h.oldest_ts } : {}) }
    : { from: room.seq, from_ts: s.exported_at ?? new Date(eng.now()).toISOString() };
  setRetention(eng.limits, room, h?.settings ?? {});
  const rows = h ? h.rows.map((r, i) => storedRow(r, room.seq, `history.rows[${i}]`)) : baselineRows(room);
  if (h) linkWrites(rows, room.messages);
  for (const r of rows) room.rt.dirty.addHistory(r);
}

/** `DELETE /rooms/:id` (room token): the room and every row it owns; its waiters and feeds are answered. */
export async function deleteRoom(eng: Engine, roomId: string, op: Op) {
  const { room, caller } = await enterRoom(eng, roomId, op);
  requireAdmin(caller);
  if (!(await eng.rooms.drop(room))) {
    throw new ApiError("room_not_found", `no room ${JSON.stringify(room.id)}`, { room: room.id });
  }
  return { ok: true, deleted: room.id };
}

/**
 * A snapshot is checked as the writes that built it would have been: keys, values, meta and definition
 * sizes, and every quota of the room it becomes. Returns the bytes of its state, messages and agents' meta
 * (the definitions' are added once they are checked).
 */
function checkImportLimits(eng: Engine, s: ImportBody): number {
  const l = eng.limits;
  let expressions = 0;
  for (const e of s.state) expressions += entryExpressions(e);
  for (const a of s.actions) expressions += actionExpressions(a as Parameters<typeof actionExpressions>[0]);
  for (const v of s.views) expressions += viewExpressions(v as Parameters<typeof viewExpressions>[0]);
  checkSnapshotQuotas(l, {
    entries: s.state.length,
    actions: s.actions.length,
    views: s.views.length,
    agents: s.agents.length,
    messages: s.messages.length,
    expressions,
    pendingProposals: s.proposals.filter((p) => p.status === "pending").length,
  });
  if (s.room.meta !== undefined) checkMeta(eng, s.room.meta, "room.meta");
  let bytes = 0;
  s.agents.forEach((a, i) => {
    if (a.meta !== undefined) bytes += checkValue(a.meta, l, `agents[${i}].meta`, l.maxMetaBytes);
  });
  s.state.forEach((e, i) => {
    checkKey(e.key, `state[${i}].key`);
    bytes += checkValue(e.value ?? null, l, `state[${i}].value`);
  });
  s.messages.forEach((m, i) => {
    checkValue(m.body, l, `messages[${i}].body`);
    checkRecipients(m.to, `messages[${i}].to`);
    bytes += JSON.stringify({ ...m, extra: m.extra ?? null }).length;
  });
  checkSnapshotQuotas(l, { bytes });
  return bytes;
}

function celLimits(eng: Engine) {
  return { maxLength: eng.limits.maxCelLength, timeoutMs: eng.limits.celTimeoutMs };
}

/** An action definition as registration would accept it, plus the fields the server stamped on it. */
function checkAction(eng: Engine, raw: Record<string, unknown>, field: string): ActionDef {
  const { registrar, created_at, cooldown, timer, ...spec } = raw;
  const stamped = parseAt(StampedAction, { registrar, created_at, timer, cooldown }, field);
  const p = parseAt(RegisterAction, dropUndefined(spec), field);
  const l = celLimits(eng);
  if (p.if !== undefined) compile(p.if, l, `${field}.if`);
  if (p.enabled !== undefined) compile(p.enabled, l, `${field}.enabled`);
  if (p.approval !== undefined) checkApproval(p.approval, l, `${field}.approval`);
  (p.writes ?? []).forEach((w, i) => {
    if (typeof w.if === "string") compile(w.if, l, `${field}.writes[${i}].if`);
    if (typeof w.enabled === "string") compile(w.enabled, l, `${field}.writes[${i}].enabled`);
    if (w.expr) compile(w.value, l, `${field}.writes[${i}].value`);
  });
  return { ...p, scope: p.scope ?? "_shared", ...stamped } as ActionDef;
}

function checkView(eng: Engine, raw: Record<string, unknown>, field: string): ViewDef {
  const { registrar, created_at, timer, ...spec } = raw;
  const stamped = parseAt(StampedView, { registrar, created_at, timer }, field);
  const p = parseAt(RegisterView, dropUndefined(spec), field);
  const l = celLimits(eng);
  compile(p.expr, l, `${field}.expr`);
  if (p.enabled !== undefined) compile(p.enabled, l, `${field}.enabled`);
  return { ...p, scope: p.scope ?? "_shared", ...stamped } as ViewDef;
}

const StampedAction = z.strictObject({ ...StampedDef, cooldown: StoredTimer });
const StampedView = z.strictObject(StampedDef);

/** A definition of a snapshot checked as registration would check it, errors naming where it sat. */
function parseAt<T extends z.ZodType>(schema: T, v: unknown, field: string): z.infer<T> {
  const r = schema.safeParse(v);
  if (!r.success) throw fromZod(r.error, "invalid_body", field);
  return r.data;
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
}

function bad(message: string, field: string): ApiError {
  return new ApiError("invalid_body", message, { field });
}
