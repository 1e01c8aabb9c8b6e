/**
 * @module engine/feed — the change feed (`/events`): one event per durable commit the caller may see
 * (privacy from changes.ts, as for cursors), a `reset` when the cursor is older than memory holds, and the
 * feed following its room across reloads. The route only frames the events; nothing here knows SSE.
 */
import type { Caller } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { credentialOf, recheck } from "./credential.ts";
import { visibleAudit, visibleChanges } from "./changes.ts";
import type { Engine } from "./engine.ts";
import { messageView } from "./messages.ts";
import type { AuditRow, Change } from "./model.ts";
import type { Op } from "./op.ts";
import type { Room } from "./room.ts";

export type FeedEvent =
  | { event: "reset"; id: number; data: { cursor: number } }
  | {
    event: "change";
    id: number;
    data: { cursor: number; changes: Change[]; messages: Record<string, unknown>[]; audit: AuditRow | null };
  };

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
    room.rt.listeners.delete(flush);
  };
  const flush = () => {
    if (closed || !sink) return;
    if (!room.rt.alive) {
      room.rt.listeners.delete(flush);
      eng.rooms.successor(room).then((fresh) => {
        room = fresh;
        if (!closed) room.rt.listeners.add(flush), flush();
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
      sent = rec.seq;
      if (!changes.length && !messages.length && !audit) continue;
      sink.send({ event: "change", id: rec.seq, data: { cursor: rec.seq, changes, messages, audit } });
    }
  };
  return {
    cursor: first.rt.committedSeq,
    start(s) {
      sink = s;
      room.rt.listeners.add(flush);
      offShutdown = eng.onShutdown(() => end());
      flush();
    },
    close,
  };
}
