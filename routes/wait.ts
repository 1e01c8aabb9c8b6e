/**
 * @module routes/wait — blocking reads.
 *
 *   GET /rooms/:id/wait     condition, timeout, include, agent, after   (reference/api.md#wait)
 *   GET /rooms/:id/events   after / Last-Event-ID: Server-Sent Events, one per visible commit
 */
import { Hono } from "hono";
import { actAs, requireReader } from "../auth.ts";
import type { ApiError } from "../errors.ts";
import { SSE_HEARTBEAT_MS } from "../config.ts";
import { enterRoom } from "../engine/access.ts";
import { type FeedEvent, openFeed } from "../engine/feed.ts";
import { parseSections } from "../engine/reads.ts";
import { waitFor } from "../engine/waiters.ts";
import { EventsQuery, WaitQuery } from "../wire.ts";
import { type AppEnv, opOf, parseQuery, send } from "./http.ts";

const encoder = new TextEncoder();

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

// a `presence` event has no id: it is not a commit, so Last-Event-ID never moves back
const frame = (e: FeedEvent) =>
  `${"id" in e ? `id: ${e.id}\n` : ""}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;

export const waitRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/wait", async (c) => {
    const eng = c.get("eng");
    const q = parseQuery(c, WaitQuery);
    const include = parseSections(q.include, "include", ["context", "changes"]);
    const op = opOf(c, true);
    const { room, caller } = await enterRoom(eng, c.req.param("id"), op);
    const who = actAs(room, requireReader(caller), q.agent);
    return send(
      c,
      await waitFor(eng, room, who, {
        ...op,
        condition: q.condition,
        timeout: Math.min(q.timeout ?? eng.limits.maxWaitMs, eng.limits.maxWaitMs),
        include,
        after: q.after,
      }),
    );
  })
  .get("/rooms/:id/events", async (c) => {
    const eng = c.get("eng");
    const q = parseQuery(c, EventsQuery);
    const op = opOf(c);
    const { room, caller } = await enterRoom(eng, c.req.param("id"), op);
    const who = actAs(room, requireReader(caller), q.agent);
    if (op.head) return new Response(null, { headers: SSE_HEADERS }); // no body: nothing to follow
    const lastId = c.req.header("last-event-id");
    const after = q.after ?? (lastId && /^\d+$/.test(lastId) ? Number(lastId) : undefined);
    const feed = openFeed(eng, room, who, { ...op, after });
    let closed = false;
    let beat: ReturnType<typeof setInterval> | undefined;
    const stop = () => {
      closed = true;
      feed.close();
      clearInterval(beat);
    };
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        const write = (s: string) => {
          if (!closed) ctrl.enqueue(encoder.encode(s));
        };
        // the engine ends a feed whose token stopped being valid or whose room is gone: the client is told
        // why (`event: error`, the error body as data) before the stream closes
        const end = (error?: ApiError) => {
          if (closed) return;
          if (error) write(`event: error\ndata: ${JSON.stringify(error.toBody())}\n\n`);
          stop();
          try {
            ctrl.close();
          } catch { /* already closed */ }
        };
        write(`retry: 1000\n: connected to ${room.id} at cursor ${feed.cursor}\n\n`);
        feed.start({ send: (e) => write(frame(e)), end });
        beat = setInterval(
          () => write(`: heartbeat ${new Date(eng.now()).toISOString()}\n\n`),
          SSE_HEARTBEAT_MS,
        );
        c.req.raw.signal.addEventListener("abort", () => end());
      },
      cancel: stop,
    });
    return new Response(stream, { headers: SSE_HEADERS });
  });
