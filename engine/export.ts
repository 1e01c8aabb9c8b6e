/**
 * @module engine/export — a room as one JSON snapshot (state, agents, actions, views, messages, ticks and
 * the whole audit log), restoring such a snapshot under a new id, and deleting a room. Token hashes are
 * secrets and never leave the server: an import mints new room, view and agent tokens, shown once.
 */
import { z } from "zod";
import { type Caller, hashToken, mintToken, requireAdmin } from "../auth.ts";
import { compile } from "../cel.ts";
import { ID_PATTERN, MAX_KEY_LENGTH } from "../config.ts";
import { ApiError } from "../errors.ts";
import { deleteRoomRows, insertWholeRoom, readAllAudit } from "../store/room_admin_sql.ts";
import { RegisterAction } from "./actions.ts";
import type { Engine } from "./engine.ts";
import { type ActionDef, entryId, type Message, Room, type ViewDef } from "./model.ts";
import { RegisterView } from "./views.ts";
import { TimerSpec } from "../timers.ts";
import { entryJson } from "./write_modes.ts";

export const EXPORT_FORMAT = "agent-sync.room/v1";

const Id = z.string().regex(ID_PATTERN, "must be 1-128 characters of [A-Za-z0-9._:-]");
const Iso = z.string().max(64);
const Scope = z.string().regex(/^_?[A-Za-z0-9._:-]{1,128}$/, "must be a scope name");
const StoredTimer = TimerSpec.extend({
  expires_at: Iso.optional(),
  expires_tick: z.number().int().optional(),
  started_at: Iso.optional(),
}).nullable().optional();

const SnapshotAgent = z.strictObject({
  id: Id,
  name: z.string().max(256),
  role: z.string().max(128),
  meta: z.unknown().optional(),
  grants: z.array(z.string().min(1).max(129)).max(1000),
  joined_at: Iso,
  status: z.enum(["active", "idle", "busy", "waiting", "done", "unknown"]),
  last_heartbeat: Iso.nullable(),
  last_seen_seq: z.number().int().min(0),
});
const SnapshotEntry = z.strictObject({
  scope: Scope,
  key: z.string().min(1).max(MAX_KEY_LENGTH),
  value: z.unknown(),
  version: z.number().int().min(1),
  updated_at: Iso,
  timer: StoredTimer,
  enabled: z.string().nullable().optional(),
  sort_key: z.number().int().nullable().optional(),
  seq: z.number().int().min(0),
});
const SnapshotMessage = z.strictObject({
  seq: z.number().int().min(1),
  from: z.string().max(129).nullable(),
  kind: z.string().max(128),
  body: z.unknown(),
  to: z.union([z.string(), z.array(z.string())]).nullable(),
  reply_to: z.number().int().nullable(),
  claimed_by: z.string().nullable(),
  claimed_at: Iso.nullable(),
  ts: Iso,
  extra: z.record(z.string(), z.unknown()).nullable().optional(),
});
const SnapshotAudit = z.strictObject({
  seq: z.number().int().min(1),
  ts: Iso,
  agent: z.string().max(129),
  action: z.string().max(256),
  builtin: z.boolean(),
  params: z.unknown(),
  ok: z.boolean(),
  status: z.number().int(),
  error: z.string().nullable(),
});
const Stored = { registrar: z.string().max(129), created_at: Iso, timer: StoredTimer };

export const ImportBody = z.strictObject({
  id: Id.optional(),
  format: z.literal(EXPORT_FORMAT),
  exported_at: Iso.optional(),
  room: z.strictObject({
    id: Id,
    meta: z.unknown().optional(),
    created_at: Iso,
    seq: z.number().int().min(0),
  }),
  agents: z.array(SnapshotAgent),
  state: z.array(SnapshotEntry),
  actions: z.array(z.record(z.string(), z.unknown())),
  views: z.array(z.record(z.string(), z.unknown())),
  messages: z.array(SnapshotMessage),
  audit: z.array(SnapshotAudit),
  ticks: z.record(z.string(), z.number().int().min(0)).default({}),
});
export type ImportBody = z.infer<typeof ImportBody>;

/** Waits until everything the room holds in memory is committed (so the snapshot matches the database). */
async function settle(eng: Engine, room: Room): Promise<void> {
  for (let i = 0; i < 10 && room.committedSeq < room.seq; i++) await eng.committer.submit(room);
}

export async function exportRoom(
  eng: Engine,
  room: Room,
  caller: Caller | undefined,
): Promise<Record<string, unknown>> {
  requireAdmin(caller);
  await settle(eng, room);
  // synchronous from here to the audit read's start: the snapshot is one commit's view of the room
  const auditSeq = room.auditSeq;
  const snapshot = {
    format: EXPORT_FORMAT,
    exported_at: new Date(eng.now()).toISOString(),
    room: { id: room.id, meta: room.meta, created_at: room.created_at, seq: room.seq },
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
    })),
    state: [...room.scopes.values()].flatMap((m) =>
      [...m.values()].map((e) => ({ ...entryJson(e), seq: e.seq }))
    ),
    actions: [...room.actions.values()],
    views: room.viewOrder.map((id) => room.views.get(id)).filter(Boolean),
    messages: room.messages.map((m) => ({ ...m, extra: m.extra ?? null })),
    ticks: Object.fromEntries(room.ticks),
    audit: [] as unknown[],
  };
  snapshot.audit = await readAllAudit(eng.db, room.id, auditSeq);
  return snapshot;
}

/** Restores a snapshot under `body.id` (or a fresh id); answers with the new tokens, shown once. */
export async function importRoom(eng: Engine, raw: unknown) {
  const s = ImportBody.parse(raw);
  checkImportLimits(eng, s);
  const id = s.id ?? `room-${crypto.randomUUID().slice(0, 8)}`;
  const token = mintToken("room");
  const viewToken = mintToken("view");
  const room = new Room({
    id,
    meta: s.room.meta ?? {},
    created_at: s.room.created_at,
    token_hash: hashToken(token),
    view_token_hash: hashToken(viewToken),
    seq: 0,
  });
  room.seq = Math.max(1, s.room.seq);
  const agentTokens: Record<string, string> = {};
  for (const a of s.agents) {
    const t = mintToken("agent");
    agentTokens[a.id] = t;
    room.agents.set(a.id, { ...a, meta: a.meta ?? {}, token_hash: hashToken(t), waiting_on: null });
    room.dirty.agents.add(a.id);
  }
  for (const e of s.state) {
    if (e.scope === "_audit" || e.scope === "_messages") continue;
    const id = entryId(e.scope, e.key);
    if (room.dirty.entries.has(id)) throw bad(`state has ${e.scope}.${e.key} twice`, "state");
    room.scope(e.scope).set(e.key, {
      ...e,
      timer: (e.timer ?? null) as never,
      enabled: e.enabled ?? null,
      sort_key: e.sort_key ?? null,
    });
    room.dirty.entries.add(id);
  }
  s.actions.forEach((a, i) => {
    const def = checkAction(eng, a, `actions[${i}]`);
    room.actions.set(def.id, def);
    room.dirty.actions.add(def.id);
  });
  s.views.forEach((v, i) => {
    const def = checkView(eng, v, `views[${i}]`);
    if (room.views.has(def.id)) throw bad(`views has ${def.id} twice`, `views[${i}]`);
    room.views.set(def.id, def);
    room.viewOrder.push(def.id);
    room.dirty.views.add(def.id);
  });
  s.messages.forEach((m, i) => {
    if (m.seq !== i + 1) {
      throw bad(
        `messages must be numbered 1, 2, … without gaps (messages[${i}].seq is ${m.seq})`,
        `messages[${i}].seq`,
      );
    }
    room.messages.push({ ...m, extra: m.extra ?? null } as Message);
    room.dirty.messages.add(m.seq);
  });
  let last = 0;
  for (const [i, a] of s.audit.entries()) {
    if (a.seq <= last) {
      throw bad(`audit rows must have increasing seq (audit[${i}].seq is ${a.seq})`, `audit[${i}].seq`);
    }
    last = a.seq;
    room.dirty.audit.push(a);
  }
  for (const [target, n] of Object.entries(s.ticks)) {
    room.ticks.set(target, n);
    room.dirty.ticks.add(target);
  }
  if (eng.rooms.get(id)?.alive) throw new ApiError("room_exists", `room ${id} already exists`, { room: id });
  try {
    await insertWholeRoom(eng.db, room);
  } catch (e) {
    if (/UNIQUE|PRIMARY KEY|constraint/i.test(String((e as Error).message))) {
      throw new ApiError("room_exists", `room ${id} already exists`, { room: id });
    }
    throw e;
  }
  const loaded = await eng.room(id);
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
    },
  };
}

/** Deletes the room and every row it owns; in-memory listeners (waiters, feeds) are answered. */
export async function deleteRoom(eng: Engine, room: Room, caller: Caller | undefined) {
  requireAdmin(caller);
  const existed = await deleteRoomRows(eng.db, room.id);
  eng.invalidate(room);
  const again = eng.rooms.get(room.id);
  if (again) eng.invalidate(again);
  if (!existed) throw new ApiError("room_not_found", `no room ${JSON.stringify(room.id)}`, { room: room.id });
  return { ok: true, deleted: room.id };
}

function checkImportLimits(eng: Engine, s: ImportBody): void {
  const l = eng.limits;
  const over = (what: string, n: number, limit: number) => {
    if (n > limit) {
      throw new ApiError("quota_exceeded", `the snapshot has ${n} ${what}; the limit is ${limit}`, {
        quota: what,
        limit,
      });
    }
  };
  over("room_entries", s.state.length, l.roomMaxEntries);
  over("room_actions", s.actions.length, l.roomMaxActions);
  over("room_views", s.views.length, l.roomMaxViews);
  let bytes = 0;
  s.state.forEach((e, i) => {
    const n = JSON.stringify(e.value ?? null).length;
    if (n > l.maxValueBytes) {
      throw new ApiError(
        "value_too_large",
        `state[${i}].value is ${n} bytes; the limit is ${l.maxValueBytes}`,
        { field: `state[${i}].value` },
      );
    }
    bytes += n;
  });
  over("room_bytes", bytes, l.roomMaxBytes);
}

function celLimits(eng: Engine) {
  return { maxLength: eng.limits.maxCelLength, timeoutMs: eng.limits.celTimeoutMs };
}

/** An action definition as registration would accept it, plus the fields the server stamped on it. */
function checkAction(eng: Engine, raw: Record<string, unknown>, field: string): ActionDef {
  const { registrar, created_at, cooldown, timer, ...spec } = raw;
  const st = z.strictObject({ ...Stored, cooldown: StoredTimer }).safeParse({
    registrar,
    created_at,
    timer,
    cooldown,
  });
  if (!st.success) {
    throw bad(`${field}: ${st.error.issues[0]?.path.join(".")} ${st.error.issues[0]?.message}`, field);
  }
  const p = RegisterAction.safeParse(dropUndefined(spec));
  if (!p.success) {
    throw bad(`${field}.${p.error.issues[0]?.path.join(".")}: ${p.error.issues[0]?.message}`, field);
  }
  const l = celLimits(eng);
  if (p.data.if !== undefined) compile(p.data.if, l, `${field}.if`);
  if (p.data.enabled !== undefined) compile(p.data.enabled, l, `${field}.enabled`);
  (p.data.writes ?? []).forEach((w, i) => {
    if (typeof w.if === "string") compile(w.if, l, `${field}.writes[${i}].if`);
    if (typeof w.enabled === "string") compile(w.enabled, l, `${field}.writes[${i}].enabled`);
    if (w.expr) compile(w.value, l, `${field}.writes[${i}].value`);
  });
  return { ...p.data, scope: p.data.scope ?? "_shared", ...st.data } as ActionDef;
}

function checkView(eng: Engine, raw: Record<string, unknown>, field: string): ViewDef {
  const { registrar, created_at, timer, ...spec } = raw;
  const st = z.strictObject(Stored).safeParse({ registrar, created_at, timer });
  if (!st.success) {
    throw bad(`${field}: ${st.error.issues[0]?.path.join(".")} ${st.error.issues[0]?.message}`, field);
  }
  const p = RegisterView.safeParse(dropUndefined(spec));
  if (!p.success) {
    throw bad(`${field}.${p.error.issues[0]?.path.join(".")}: ${p.error.issues[0]?.message}`, field);
  }
  const l = celLimits(eng);
  compile(p.data.expr, l, `${field}.expr`);
  if (p.data.enabled !== undefined) compile(p.data.enabled, l, `${field}.enabled`);
  return { ...p.data, scope: p.data.scope ?? "_shared", ...st.data } as ViewDef;
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
}

function bad(message: string, field: string): ApiError {
  return new ApiError("invalid_body", message, { field });
}
