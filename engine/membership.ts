/**
 * @module engine/membership — rooms and agents: create, join (with inline state, public keys and views),
 * re-join with token rotation, PATCH by the room token, view-token rotation, listings. Tokens are shown
 * once. Every write runs under the registry's stale-commit policy, on fresh state each attempt.
 */
import { type Caller, checkAgentId, hashToken, mintToken, requireAdmin, requireReader } from "../auth.ts";
import { ApiError, asRefusal } from "../errors.ts";
import type { Limits } from "../config.ts";
import type { CreateRoom, JoinAgent, PatchAgent } from "../wire.ts";
import { enterRoom } from "./access.ts";
import type { Engine } from "./engine.ts";
import { lastSeenOf, statusOf } from "./liveness.ts";
import type { Agent } from "./model.ts";
import type { Op } from "./op.ts";
import { retentionJson, setRetention } from "./retention.ts";
import { Room } from "./room.ts";
import { applyTx, Tx } from "./tx.ts";
import { publishKey, registerView } from "./views.ts";
import { checkQuotas } from "./quotas.ts";
import { checkKey, checkValue } from "./write_checks.ts";
import { applyWrite } from "./write_modes.ts";

export const randomId = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** A room as anyone may know it. */
export function roomJson(room: Room): Record<string, unknown> {
  return { id: room.id, created_at: room.created_at, meta: room.meta };
}

/** An agent as listings show it at `now`: `status` is `gone` once it is silent for the room's window. */
export function agentJson(room: Room, a: Agent, now: number, limits: Limits): Record<string, unknown> {
  return {
    id: a.id,
    room_id: room.id,
    name: a.name,
    role: a.role,
    meta: a.meta,
    grants: a.grants,
    status: statusOf(room, a, now, limits),
    waiting_on: a.waiting_on,
    last_heartbeat: a.last_heartbeat,
    last_seen: lastSeenOf(a),
    joined_at: a.joined_at,
  };
}

/** `POST /rooms`: a new room with its room and view tokens (shown once). */
export async function createRoom(eng: Engine, p: CreateRoom) {
  if (p.meta !== undefined) checkMeta(eng, p.meta, "meta");
  const token = mintToken("room");
  const viewToken = mintToken("view");
  const room = new Room({
    id: p.id ?? randomId("room"),
    meta: p.meta ?? {},
    created_at: new Date(eng.now()).toISOString(),
    token_hash: hashToken(token),
    view_token_hash: hashToken(viewToken),
    seq: 0,
    liveness_ms: p.liveness_ms ?? null,
  });
  if (!p.history) {
    await eng.rooms.create(room);
    return { ...roomJson(room), token, view_token: viewToken };
  }
  // a room with settings is written whole in one transaction of its own (rarer than a plain create)
  setRetention(eng.limits, room, p.history);
  await eng.rooms.restore(room);
  return { ...roomJson(room), token, view_token: viewToken, history: retentionJson(eng.limits, room) };
}

/** `GET /rooms/:id`: what anyone may know of a room. */
export async function describeRoom(eng: Engine, roomId: string) {
  return roomJson(await eng.rooms.get(roomId));
}

/** `GET /rooms`: the rooms a token belongs to. */
export function roomsOfToken(eng: Engine, op: Op) {
  return op.token ? eng.rooms.roomsForToken(hashToken(op.token)) : Promise.resolve([]);
}

/** `GET /rooms/:id/agents`: the presence list (any token of the room). */
export async function listAgents(eng: Engine, roomId: string, op: Op) {
  const { room, caller } = await enterRoom(eng, roomId, op);
  requireReader(caller);
  const now = eng.now();
  return [...room.agents.values()].map((a) => agentJson(room, a, now, eng.limits));
}

/**
 * Join, or re-join with the agent's current token or the room token (rotating the agent token).
 * Inline state, public keys and views are staged in one Tx with the agent: all or nothing.
 */
export function joinAgent(eng: Engine, roomId: string, op: Op, p: JoinAgent) {
  if (p.id !== undefined) checkAgentId(p.id);
  const id = p.id ?? randomId("agent");
  if (p.meta !== undefined) checkMeta(eng, p.meta, "meta");
  return eng.rooms.retrying(async () => {
    const { room, caller: who } = await enterRoom(eng, roomId, op);
    const existing = room.agents.get(id);
    if (existing) {
      const allowed = who?.kind === "admin" || (who?.kind === "agent" && who.id === id);
      if (!allowed) {
        throw new ApiError(
          "agent_exists",
          `agent ${id} already exists; re-join with its token or the room token`,
          {
            agent: id,
          },
        );
      }
    } else if (who?.kind === "viewer") {
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
      last_seen: iso,
    };
    const self: Caller = { kind: "agent", id, agent, viaRoomToken: false };
    const tx = new Tx(room, self, now, eng.limits, op);
    tx.label = existing ? "_rejoin" : "_join";
    tx.agents.set(id, agent);
    try {
      for (const [k, v] of Object.entries(p.state ?? {})) {
        applyWrite(tx, { key: checkKey(k, `state.${k}`), value: v }, id, () => ({}), `state.${k}`);
      }
      for (const k of p.public_keys ?? []) publishKey(tx, id, checkKey(k, "public_keys"));
      (p.views ?? []).forEach((v, i) => registerView(tx, v, `views[${i}]`));
      checkQuotas(tx);
    } catch (e) {
      throw asRefusal(e);
    }
    applyTx(tx);
    await eng.rooms.commit(room);
    return { ...agentJson(room, agent, eng.now(), eng.limits), token };
  });
}

/** `PATCH /rooms/:id/agents/:agent` (room token): grants, role, name, meta, status. */
export function patchAgent(eng: Engine, roomId: string, op: Op, agentId: string, p: PatchAgent) {
  return eng.rooms.retrying(async () => {
    const { room, caller } = await enterRoom(eng, roomId, op);
    const admin = requireAdmin(caller);
    const a = room.agents.get(agentId);
    if (!a) throw new ApiError("agent_not_found", `no agent ${agentId} in this room`, { agent: agentId });
    if (p.meta !== undefined) checkMeta(eng, p.meta, "meta");
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
    const tx = new Tx(room, admin, eng.now(), eng.limits, op);
    tx.label = "_patch_agent";
    tx.agents.set(agentId, next);
    checkQuotas(tx);
    applyTx(tx);
    await eng.rooms.commit(room);
    return agentJson(room, next, eng.now(), eng.limits);
  });
}

/** A room's or an agent's `meta`: plain JSON of at most SYNC_MAX_META_BYTES (`400 value_too_large`). */
export function checkMeta(eng: Engine, meta: unknown, field: string): void {
  checkValue(meta, eng.limits, field, eng.limits.maxMetaBytes);
}

/** `POST /rooms/:id/rotate-view-token` (room token): the old view token stops working. */
export function rotateViewToken(eng: Engine, roomId: string, op: Op) {
  return eng.rooms.retrying(async () => {
    const { room, caller } = await enterRoom(eng, roomId, op);
    const admin = requireAdmin(caller);
    const token = mintToken("view");
    room.view_token_hash = hashToken(token);
    room.rt.dirty.room = true;
    const tx = new Tx(room, admin, eng.now(), eng.limits, op);
    tx.label = "_rotate_view_token";
    applyTx(tx);
    await eng.rooms.commit(room);
    return { id: room.id, view_token: token };
  });
}
