/**
 * @module engine/room_at — the room as it stood right after commit SEQ (`/context?at=`, `/eval {at}`),
 * rebuilt from its history with one indexed read into a `Room` of its own that nothing writes or keeps.
 * Context, catalog and snapshot then answer for it exactly as for the live room, with the same privacy
 * (privacy.ts): the reader as it was then (membership, grants), timers and `enabled` judged at that
 * commit's time, the messages sent by then, the leases and proposals as that commit left them.
 */
import { actAs, type Caller, requireReader } from "../auth.ts";
import { CelBudget } from "../cel.ts";
import { ApiError } from "../errors.ts";
import { enterRoom } from "./access.ts";
import type { ReadCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import { HISTORY, type MemberRow } from "./history_rows.ts";
import type { ActionDef, Agent, Entry, Lease, Proposal, ViewDef } from "./model.ts";
import type { Op } from "./op.ts";
import { historyFrom } from "./retention.ts";
import { Room } from "./room.ts";
import type { Timer } from "../timers.ts";

/** A read of the room at commit `at`: its ReadCtx (room, reader, moment) and that commit's time. */
export type PastRead = ReadCtx & { at: { seq: number; ts: string } };

/**
 * The read of `at` for the request's token (the room token may read as `agent`, as that agent was then):
 * `400 invalid_query` for a commit the room has not made, `410 history_expired {oldest_seq}` before its
 * retained history.
 */
export async function openReadAt(
  eng: Engine,
  roomId: string,
  op: Op,
  at: number,
  agent?: string,
): Promise<PastRead> {
  const { room: live, caller } = await enterRoom(eng, roomId, op);
  const reader = actAs(live, requireReader(caller), agent);
  const { room, ts } = await roomAt(eng, live, at);
  return {
    room,
    caller: readerThen(room, reader, at),
    now: Date.parse(ts),
    limits: eng.limits,
    op,
    cel: op.cel ?? new CelBudget(eng.limits),
    at: { seq: at, ts },
  };
}

/** The reader as it was at the commit: an agent with its grants of then (none before it joined). */
function readerThen(room: Room, reader: Caller, at: number): Caller {
  if (reader.kind !== "agent") return reader;
  const then = room.agents.get(reader.id);
  if (then) return { kind: "agent", id: reader.id, agent: then, viaRoomToken: reader.viaRoomToken };
  if (reader.viaRoomToken) {
    throw new ApiError("agent_not_found", `agent ${reader.id} had not joined at commit ${at}`, {
      agent: reader.id,
      at,
    });
  }
  return {
    kind: "agent",
    id: reader.id,
    agent: { id: reader.id, grants: [], token_hash: "" },
    viaRoomToken: false,
  };
}

/** Rebuilds the room right after commit `seq` from its history rows and its message log. */
export async function roomAt(eng: Engine, live: Room, seq: number): Promise<{ room: Room; ts: string }> {
  if (seq > live.seq) {
    throw new ApiError("invalid_query", `at ${seq} is after the room's latest commit (${live.seq})`, {
      field: "at",
      cursor: live.seq,
    });
  }
  const expired = (oldest: number) =>
    new ApiError(
      "history_expired",
      `commit ${seq} is older than this room's history (it begins at ${oldest})`,
      {
        oldest_seq: oldest,
        field: "at",
      },
    );
  if (seq < historyFrom(live)) throw expired(historyFrom(live));
  await eng.rooms.settle(live);
  const h = await eng.rooms.history.readAt(live.id, seq);
  if (seq < h.from_seq) throw expired(h.from_seq); // another process trimmed it meanwhile
  const ts = h.head?.updated_at ?? (seq === historyFrom(live) ? live.history?.from_ts : undefined) ??
    live.created_at;
  const room = new Room({
    id: live.id,
    meta: live.meta,
    created_at: live.created_at,
    token_hash: "",
    view_token_hash: "",
    seq,
  });
  // never committed, listened to or kept: a write staged on it by mistake is dropped by the committer
  room.rt.alive = false;
  // signs of life are not history: at the commit every member reads as seen then, so a lease that had a
  // holder then is held, lapsing a ttl after the commit (its lapse, had it come, is a commit of its own)
  room.rt.floor = Date.parse(ts);
  // its CEL (views, `enabled`, the reader's expression) spends the live room's CEL time
  room.rt.useCelTime(live.rt.celTime);
  const views: { id: string; def: ViewDef; position: number }[] = [];
  const proposals: Proposal[] = [];
  for (const r of h.rows) {
    if (r.value === undefined) continue;
    if (r.scope === HISTORY.agent) {
      const m = r.value as MemberRow;
      const agent: Agent = {
        id: r.key,
        ...m,
        token_hash: "",
        waiting_on: null,
        last_seen_seq: 0,
        last_seen: null,
      };
      room.agents.set(r.key, agent);
    } else if (r.scope === HISTORY.action) room.actions.set(r.key, r.value as ActionDef);
    else if (r.scope === HISTORY.view) {
      views.push({ id: r.key, ...(r.value as { def: ViewDef; position: number }) });
    } else if (r.scope === HISTORY.tick) room.ticks.set(r.key, Number(r.value));
    else if (r.scope === HISTORY.lease) {
      const l = r.value as Lease;
      let m = room.leases.get(l.scope);
      if (!m) room.leases.set(l.scope, m = new Map());
      m.set(l.key, l);
    } else if (r.scope === HISTORY.proposal) proposals.push(r.value as Proposal);
    else {
      const e: Entry = {
        scope: r.scope,
        key: r.key,
        value: r.value,
        version: r.version,
        updated_at: r.updated_at ?? ts,
        timer: (r.timer ?? null) as Timer | null,
        enabled: r.enabled ?? null,
        sort_key: r.sort_key ?? null,
        seq: r.seq,
      };
      room.scope(e.scope).set(e.key, e);
      room.entryCount++;
    }
  }
  views.sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1));
  for (const v of views) {
    room.views.set(v.id, v.def);
    room.viewOrder.push(v.id);
  }
  // in the order they were made, as the live room keeps them
  proposals.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  for (const p of proposals) room.proposals.set(p.id, p);
  messagesAt(room, live, seq);
  return { room, ts };
}

/**
 * The messages sent by commit `seq`, unclaimed where the claim came later: the live log's first ones
 * (it is in commit order; unknown commits are from before history), with its per-agent indexes cut there.
 */
function messagesAt(room: Room, live: Room, seq: number): void {
  const sent = countWhile(live.messages.length, (i) => (live.messages[i].commit_seq ?? 0) <= seq);
  room.messages = live.messages.slice(0, sent);
  for (let i = 0; i < sent; i++) {
    const m = room.messages[i];
    if ((m.claim_seq ?? 0) > seq) room.messages[i] = { ...m, claimed_by: null, claimed_at: null };
  }
  const cut = (from: Map<string, number[]>, to: Map<string, number[]>) => {
    for (const [agent, seqs] of from) {
      const n = countWhile(seqs.length, (i) => seqs[i] <= sent);
      if (n) to.set(agent, seqs.slice(0, n));
    }
  };
  cut(live.ownSeqs, room.ownSeqs);
  cut(live.directedSeqs, room.directedSeqs);
  // read markers are not history: the present one, as far as the messages of then go
  for (const a of room.agents.values()) {
    a.last_seen_seq = Math.min(live.agents.get(a.id)?.last_seen_seq ?? 0, sent);
  }
}

/** How many of the first `n` indexes satisfy `holds` (which holds for a prefix of them). */
function countWhile(n: number, holds: (i: number) => boolean): number {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (holds(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
