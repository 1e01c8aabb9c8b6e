/**
 * @module engine/feed — the change feed (`/events`): one event per durable commit the caller may see
 * (privacy from changes.ts, as for cursors; the agents a membership commit created or changed), `presence`
 * events for what changes without a commit (coalesced), a `reset` when the cursor is older than memory
 * holds, and the feed following its room across reloads. The route only frames the events.
 */
import type { Caller } from "../auth.ts";
import { FEED_PRESENCE_MS } from "../config.ts";
import { ApiError } from "../errors.ts";
import { credentialOf, recheck } from "./credential.ts";
import { visibleAudit, visibleChanges } from "./changes.ts";
import type { Engine } from "./engine.ts";
import { agentJson } from "./membership.ts";
import { messageView } from "./messages.ts";
import type { Agent, AuditRow, Change } from "./model.ts";
import type { Op } from "./op.ts";
import { armGone, connect, disconnect, watchPresence } from "./presence.ts";
import { settleLeases } from "./lease_expiry.ts";
import { statusOf } from "./liveness.ts";
import type { Room } from "./room.ts";
import { readCtx } from "./context.ts";
import { visibleProposalIds } from "./proposal_views.ts";

/**
 * What a `presence` event carries of an agent, besides its id. `status` (`gone` once the agent is silent
 * for the room's window) and `waiting_on` decide whether a change is worth an event; a call or a beat that
 * only moves `last_heartbeat` / `last_seen` sends none.
 */
export const PRESENCE_FIELDS = ["status", "waiting_on", "last_heartbeat", "last_seen"] as const satisfies (
  keyof Agent
)[];
/** the fields that only move with every sign of life: never a reason for an event by themselves */
const HEARTBEAT_FIELDS: readonly string[] = ["last_heartbeat", "last_seen"];

/** One agent's presence as a `presence` event carries it. */
export type PresenceJson = { id: string } & Pick<Agent, (typeof PRESENCE_FIELDS)[number]>;

export type FeedEvent =
  | { event: "reset"; id: number; data: { cursor: number } }
  | {
    event: "change";
    id: number;
    data: {
      cursor: number;
      changes: Change[];
      messages: Record<string, unknown>[];
      audit: AuditRow | null;
      /** proposals the commit made or decided that the caller sees (their ids; read them for the rest) */
      proposals?: string[];
      /** the agents the commit created or changed, as `GET /agents` shows them (only when there are some) */
      agents?: Record<string, unknown>[];
    };
  }
  /** not a commit: no id (a client resuming with Last-Event-ID never moves back) */
  | { event: "presence"; data: { cursor: number; agents: PresenceJson[] } };

/**
 * Where events go: `send` each, `end` once when the engine ends the feed — with the refusal that ended it
 * (`invalid_token` once its token was rotated, `room_not_found` once the room was deleted), or none at
 * shutdown.
 */
export type FeedSink = { send(e: FeedEvent): void; end(error?: ApiError): void };

export type FeedRequest = Op & {
  /** the last commit the client has seen (`after` or `Last-Event-ID`); default: the current commit */
  after?: number;
};

export type Feed = {
  /** the room's newest durable commit when the feed opened */
  readonly cursor: number;
  /** Sends what the caller has not seen, then every new visible commit as it becomes durable. */
  start(sink: FeedSink): void;
  /** Stops listening (the client went away). */
  close(): void;
};

/**
 * The agents a reader sees, by id: every agent of the room, for every reader — the rule of `/context`'s
 * `agents` section (context.ts `jsonAgents`), which lists them all.
 */
function visibleAgents(_who: Caller, room: Room, ids: Iterable<string>): Agent[] {
  const out: Agent[] = [];
  for (const id of ids) {
    const a = room.agents.get(id);
    if (a) out.push(a);
  }
  return out;
}

/** An agent's presence fields as readers see them now (`status` with `gone`). */
function presenceOf(eng: Engine, room: Room, a: Agent): PresenceJson {
  const out: Record<string, unknown> = { id: a.id };
  for (const f of PRESENCE_FIELDS) out[f] = a[f];
  out.status = statusOf(room, a, eng.now(), eng.limits);
  return out as PresenceJson;
}

/**
 * A feed holds a place of the waiter quotas (`429 quota_exceeded` when none is left) and is bound to the
 * credential it was opened with: before each delivery the caller is resolved again (grants as they are now)
 * and a rotated token or a deleted room ends the feed.
 */
export function openFeed(eng: Engine, first: Room, caller: Caller, req: FeedRequest): Feed {
  const release = eng.listeners.admit(eng.limits, first.id);
  eng.metrics.feeds++;
  const cred = credentialOf(first, caller, req);
  let who = caller;
  let room = first;
  let sent = req.after ?? first.rt.committedSeq;
  let sink: FeedSink | undefined;
  let closed = false;
  let offShutdown = () => {};
  let offPresence = () => {};
  // presence: the agents that changed since the last `presence` event, what each event showed of them
  const pending = new Set<string>();
  const shown = new Map<string, string>();
  let presenceTimer: ReturnType<typeof setTimeout> | undefined;
  let presenceAt = -Infinity;
  // an open feed is a sign of life of its agent for as long as it is open (presence.ts)
  let connected: string | undefined;
  const end = (error?: unknown) => {
    if (closed) return;
    close();
    sink?.end(error instanceof ApiError ? error : undefined);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    release();
    eng.metrics.feeds--;
    offShutdown();
    offPresence();
    clearTimeout(presenceTimer);
    room.rt.listeners.delete(flush);
    if (connected !== undefined) disconnect(eng, room, connected);
  };
  const follow = (r: Room) => {
    room = r;
    room.rt.listeners.add(flush);
    offPresence = watchPresence(room, onPresence);
    connected = connect(eng, room, caller);
    armGone(eng, room);
    // a room loaded anew (following a successor) has its lapses to find
    settleLeases(eng, room)?.catch(() => {});
  };
  const flush = () => {
    if (closed || !sink) return;
    if (!room.rt.alive) {
      room.rt.listeners.delete(flush);
      offPresence();
      eng.rooms.successor(room).then((fresh) => {
        if (!closed) follow(fresh), flush();
      }, end);
      return;
    }
    try {
      who = recheck(room, cred, who);
    } catch (e) {
      return end(e);
    }
    const { log, committedSeq } = room.rt;
    const oldest = log.length ? log[0].seq : committedSeq + 1;
    if (sent < oldest - 1 && sent < committedSeq) {
      sink.send({ event: "reset", id: committedSeq, data: { cursor: committedSeq } });
      sent = committedSeq;
    }
    for (const rec of log) {
      if (rec.seq <= sent || rec.seq > committedSeq) continue;
      const changes = visibleChanges(who, rec);
      const messages = rec.messages.map((s) => room.messages[s - 1]).filter(Boolean).map(messageView);
      const audit = visibleAudit(who, rec);
      const proposals = rec.proposals ? visibleProposalIds(readCtx(eng, room, who), rec.proposals) : [];
      const agents = rec.agents ? visibleAgents(who, room, rec.agents) : [];
      sent = rec.seq;
      if (!changes.length && !messages.length && !audit && !proposals.length && !agents.length) continue;
      for (const a of agents) shown.set(a.id, fingerprint(eng, room, a)); // a presence event need not repeat it
      const data = {
        cursor: rec.seq,
        changes,
        messages,
        audit,
        ...(proposals.length ? { proposals } : {}),
        ...(agents.length ? { agents: agents.map((a) => agentJson(room, a, eng.now(), eng.limits)) } : {}),
      };
      sink.send({ event: "change", id: rec.seq, data });
    }
  };
  // presence is not a commit: the latest state of each agent that changed, at most once per FEED_PRESENCE_MS
  const sendPresence = () => {
    presenceTimer = undefined;
    if (closed || !sink || !room.rt.alive) return;
    try {
      who = recheck(room, cred, who);
    } catch (e) {
      return end(e);
    }
    const agents: PresenceJson[] = [];
    for (const a of visibleAgents(who, room, pending)) {
      const f = fingerprint(eng, room, a);
      if (shown.get(a.id) === f) continue; // only a heartbeat moved
      shown.set(a.id, f);
      agents.push(presenceOf(eng, room, a));
    }
    pending.clear();
    if (!agents.length) return;
    presenceAt = performance.now();
    sink.send({ event: "presence", data: { cursor: room.rt.committedSeq, agents } });
  };
  const onPresence = (agentId: string) => {
    if (closed) return;
    pending.add(agentId);
    if (presenceTimer !== undefined) return;
    const wait = Math.max(0, presenceAt + FEED_PRESENCE_MS - performance.now());
    presenceTimer = setTimeout(sendPresence, wait);
  };
  return {
    cursor: first.rt.committedSeq,
    start(s) {
      sink = s;
      follow(room);
      offShutdown = eng.onShutdown(() => end());
      flush();
    },
    close,
  };
}

/** What a `presence` event shows of an agent, as one string (a heartbeat alone does not change it). */
function fingerprint(eng: Engine, room: Room, a: Agent): string {
  const p = presenceOf(eng, room, a);
  return JSON.stringify(PRESENCE_FIELDS.filter((f) => !HEARTBEAT_FIELDS.includes(f)).map((f) => p[f]));
}
