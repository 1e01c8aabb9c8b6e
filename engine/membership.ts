/**
 * @module engine/membership — rooms and agents: create, join (with inline state, public keys and views),
 * re-join with token rotation, PATCH by the room token, view-token rotation. Tokens are shown once.
 */
import { z } from "zod";
import { type Caller, hashToken, mintToken, requireAdmin } from "../auth.ts";
import { ID_PATTERN } from "../config.ts";
import { ApiError } from "../errors.ts";
import { CommitError } from "../store/committer.ts";
import { insertRoomsStatement } from "../store/rooms_sql.ts";
import type { Engine } from "./engine.ts";
import { type Agent, Room } from "./model.ts";
import { applyTx, Tx } from "./tx.ts";
import { publishKey, registerView } from "./views.ts";
import { applyWrite, checkKey } from "./write_modes.ts";
import { toApiError } from "./invoke.ts";

const Id = z.string().regex(ID_PATTERN, "must be 1-128 characters of [A-Za-z0-9._:-]");

export const CreateRoom = z.strictObject({ id: Id.optional(), meta: z.unknown().optional() });
export const JoinAgent = z.strictObject({
  id: Id.optional(),
  name: z.string().max(256).optional(),
  role: z.string().max(128).optional(),
  meta: z.unknown().optional(),
  state: z.record(z.string(), z.unknown()).optional(),
  public_keys: z.array(z.string()).max(1000).optional(),
  views: z.array(z.record(z.string(), z.unknown())).max(100).optional(),
});
export const PatchAgent = z.strictObject({
  grants: z.array(z.string().min(1).max(129)).max(1000).optional(),
  role: z.string().max(128).optional(),
  name: z.string().max(256).optional(),
  meta: z.unknown().optional(),
  status: z.enum(["active", "idle", "busy", "waiting", "done", "unknown"]).optional(),
});

const randomId = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

export function roomJson(room: Room): Record<string, unknown> {
  return { id: room.id, created_at: room.created_at, meta: room.meta };
}

export async function createRoom(eng: Engine, body: unknown) {
  const p = CreateRoom.parse(body ?? {});
  const id = p.id ?? randomId("room");
  const token = mintToken("room");
  const viewToken = mintToken("view");
  const room = new Room({
    id,
    meta: p.meta ?? {},
    created_at: new Date(eng.now()).toISOString(),
    token_hash: hashToken(token),
    view_token_hash: hashToken(viewToken),
    seq: 0,
  });
  if (eng.rooms.get(id)?.alive) throw new ApiError("room_exists", `room ${id} already exists`, { room: id });
  if (!(await insertRoom(eng, room))) {
    throw new ApiError("room_exists", `room ${id} already exists`, { room: id });
  }
  eng.adopt(room);
  return { ...roomJson(room), token, view_token: viewToken };
}

type PendingRoom = { room: Room; resolve: (inserted: boolean) => void; reject: (e: unknown) => void };
const pendingRooms = new WeakMap<Engine, Map<string, PendingRoom>>();

/**
 * Inserts a new room; false if the id exists. Rooms created in the same turn of the event loop share one
 * INSERT, written at the head of the committer's next batch (one transaction with the turn's other writes).
 */
function insertRoom(eng: Engine, room: Room): Promise<boolean> {
  let pending = pendingRooms.get(eng);
  if (pending?.has(room.id)) return Promise.resolve(false);
  if (!pending) {
    const batch = new Map<string, PendingRoom>();
    pendingRooms.set(eng, pending = batch);
    writeRooms(eng, batch, 0);
  }
  return new Promise((resolve, reject) => pending.set(room.id, { room, resolve, reject }));
}

function writeRooms(eng: Engine, batch: Map<string, PendingRoom>, attempt: number): void {
  let list: PendingRoom[] = [];
  eng.committer.include(() => {
    if (pendingRooms.get(eng) === batch) pendingRooms.delete(eng);
    list = [...batch.values()];
    const stmts = [];
    for (let i = 0; i < list.length; i += 4000) {
      stmts.push(insertRoomsStatement(list.slice(i, i + 4000).map((p) => p.room)));
    }
    return stmts;
  }).then((rs) => {
    const inserted = new Set(rs.flatMap((r) => r.rows.map((row) => String(row.id))));
    for (const p of list) p.resolve(inserted.has(p.room.id));
  }, (e) => {
    // the shared batch lost a race on another room (another process): nothing was written, write these again
    if (e instanceof CommitError && e.stale && attempt < 3) writeRooms(eng, batch, attempt + 1);
    else for (const p of list) p.reject(e);
  });
}

export function agentJson(room: Room, a: Agent): Record<string, unknown> {
  return {
    id: a.id,
    room_id: room.id,
    name: a.name,
    role: a.role,
    meta: a.meta,
    grants: a.grants,
    status: a.status,
    waiting_on: a.waiting_on,
    last_heartbeat: a.last_heartbeat,
    joined_at: a.joined_at,
  };
}

/**
 * Join, or re-join with the agent's current token or the room token (rotating the agent token).
 * Inline state, public keys and views are staged in one Tx with the agent: all or nothing.
 */
export async function joinAgent(eng: Engine, room: Room, caller: Caller | undefined, body: unknown) {
  const p = JoinAgent.parse(body ?? {});
  const id = p.id ?? randomId("agent");
  const existing = room.agents.get(id);
  if (existing) {
    const allowed = caller?.kind === "admin" || (caller?.kind === "agent" && caller.id === id);
    if (!allowed) {
      throw new ApiError(
        "agent_exists",
        `agent ${id} already exists; re-join with its token or the room token`,
        { agent: id },
      );
    }
  } else if (caller?.kind === "viewer") {
    throw new ApiError("read_only_token", "a view token cannot join agents");
  }
  const token = mintToken("agent");
  const now = eng.now();
  const iso = new Date(now).toISOString();
  const agent: Agent = {
    id,
    name: p.name ?? existing?.name ?? id,
    role: p.role ?? existing?.role ?? "agent",
    meta: p.meta ?? existing?.meta ?? {},
    grants: existing?.grants ?? [],
    token_hash: hashToken(token),
    joined_at: existing?.joined_at ?? iso,
    status: "active",
    waiting_on: null,
    last_heartbeat: iso,
    last_seen_seq: existing?.last_seen_seq ?? 0,
  };
  const self: Caller = { kind: "agent", id, agent, viaRoomToken: false };
  const tx = new Tx(room, self, now, eng.limits);
  tx.agents.set(id, agent);
  try {
    for (const [k, v] of Object.entries(p.state ?? {})) {
      applyWrite(tx, { key: checkKey(k, `state.${k}`), value: v }, id, () => ({}), `state.${k}`);
    }
    for (const k of p.public_keys ?? []) publishKey(tx, id, checkKey(k, "public_keys"));
    (p.views ?? []).forEach((v) => registerView(tx, v));
  } catch (e) {
    throw toApiError(e);
  }
  applyTx(tx);
  await eng.committer.submit(room);
  return { ...agentJson(room, agent), token };
}

export async function patchAgent(
  eng: Engine,
  room: Room,
  caller: Caller | undefined,
  agentId: string,
  body: unknown,
) {
  requireAdmin(caller);
  const p = PatchAgent.parse(body ?? {});
  const a = room.agents.get(agentId);
  if (!a) throw new ApiError("agent_not_found", `no agent ${agentId} in this room`, { agent: agentId });
  for (const g of p.grants ?? []) {
    if (g === "_audit") throw new ApiError("invalid_body", "_audit cannot be granted", { field: "grants" });
  }
  const next: Agent = {
    ...a,
    grants: p.grants ?? a.grants,
    role: p.role ?? a.role,
    name: p.name ?? a.name,
    meta: p.meta ?? a.meta,
    status: p.status ?? a.status,
  };
  const tx = new Tx(room, caller!, eng.now(), eng.limits);
  tx.agents.set(agentId, next);
  applyTx(tx);
  await eng.committer.submit(room);
  return agentJson(room, next);
}

export async function rotateViewToken(eng: Engine, room: Room, caller: Caller | undefined) {
  requireAdmin(caller);
  const token = mintToken("view");
  room.view_token_hash = hashToken(token);
  room.dirty.room = true;
  const tx = new Tx(room, caller!, eng.now(), eng.limits);
  applyTx(tx);
  await eng.committer.submit(room);
  return { id: room.id, view_token: token };
}
