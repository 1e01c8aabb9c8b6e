/**
 * @module routes/wait — blocking reads.
 *
 *   GET /rooms/:id/wait     condition, timeout, include, agent, after   (SPEC §9)
 *   GET /rooms/:id/events   after / Last-Event-ID: Server-Sent Events, one per visible commit
 */
import { Hono } from "hono";
import { z } from "zod";
import { actAs, requireReader } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { messageView } from "../engine/messages.ts";
import { canReadAudit, canReadScope } from "../engine/privacy.ts";
import { parseSections } from "../engine/reads.ts";
import { activeWaiters, wait } from "../waiters.ts";
import { type AppEnv, parseQuery, qInt, roomAndCaller, send } from "./http.ts";

const WaitQuery = z.strictObject({
  condition: z.string().optional(),
  timeout: qInt.optional(),
  include: z.string().optional(),
  agent: z.string().optional(),
  after: qInt.optional(),
});
const EventsQuery = z.strictObject({ after: qInt.optional(), agent: z.string().optional() });

const HEARTBEAT_MS = 15_000;
const encoder = new TextEncoder();

export const waitRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/wait", async (c) => {
    const eng = c.get("eng");
    const q = parseQuery(c, WaitQuery);
    if (q.condition === undefined) {
      throw new ApiError("invalid_query", "condition is required", { field: "condition" });
    }
    const include = parseSections(q.include, "include", ["context", "changes"]);
    const { room, caller } = await roomAndCaller(c);
    const who = actAs(room, requireReader(caller), q.agent);
    if (eng.closing) throw new ApiError("shutting_down", "the server is shutting down");
    const r = await wait(eng, room, who, {
      condition: q.condition,
      timeout: Math.min(q.timeout ?? eng.limits.maxWaitMs, eng.limits.maxWaitMs),
      include,
      after: q.after,
      signal: c.req.raw.signal,
    });
    return send(c, r);
  })
  .get("/rooms/:id/events", async (c) => {
    const eng = c.get("eng");
    const q = parseQuery(c, EventsQuery);
    const { room: first, caller } = await roomAndCaller(c);
    const who = actAs(first, requireReader(caller), q.agent);
    const lastId = c.req.header("last-event-id");
    let sent = q.after ?? (lastId && /^\d+$/.test(lastId) ? Number(lastId) : first.committedSeq);
    let room = first;
    let closed = false;
    let listener: (() => void) | undefined;
    let beat: ReturnType<typeof setInterval> | undefined;
    let offShutdown = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        const write = (s: string) => {
          if (!closed) ctrl.enqueue(encoder.encode(s));
        };
        const flush = () => {
          if (closed) return;
          if (!room.alive) {
            room.listeners.delete(listener!);
            eng.room(room.id).then((fresh) => {
              room = fresh;
              if (!closed) room.listeners.add(listener!), flush();
            }, () => close());
            return;
          }
          const oldest = room.log.length ? room.log[0].seq : room.committedSeq + 1;
          if (sent < oldest - 1 && sent < room.committedSeq) {
            write(
              `id: ${room.committedSeq}\nevent: reset\ndata: ${
                JSON.stringify({ cursor: room.committedSeq })
              }\n\n`,
            );
            sent = room.committedSeq;
          }
          for (const rec of room.log) {
            if (rec.seq <= sent || rec.seq > room.committedSeq) continue;
            const changes = rec.changes.filter((ch) => canReadScope(who, ch.scope));
            const messages = rec.messages.map((s) => room.messages[s - 1]).filter(Boolean).map(messageView);
            const audit = rec.audit && canReadAudit(who, rec.audit.agent) ? rec.audit : null;
            sent = rec.seq;
            if (!changes.length && !messages.length && !audit) continue;
            write(
              `id: ${rec.seq}\nevent: change\ndata: ${
                JSON.stringify({ cursor: rec.seq, changes, messages, audit })
              }\n\n`,
            );
          }
        };
        const close = () => {
          if (closed) return;
          closed = true;
          offShutdown();
          room.listeners.delete(listener!);
          clearInterval(beat);
          try {
            ctrl.close();
          } catch { /* already closed */ }
        };
        listener = flush;
        room.listeners.add(listener);
        write(`retry: 1000\n: connected to ${room.id} at cursor ${room.committedSeq}\n\n`);
        flush();
        beat = setInterval(() => write(`: heartbeat ${new Date(eng.now()).toISOString()}\n\n`), HEARTBEAT_MS);
        c.req.raw.signal.addEventListener("abort", close);
        offShutdown = eng.onShutdown(close);
      },
      cancel() {
        closed = true;
        offShutdown();
        room.listeners.delete(listener!);
        clearInterval(beat);
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  })
  .get("/debug/waiters", (c) => send(c, { waiters: activeWaiters() }));
