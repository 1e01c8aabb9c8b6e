/**
 * @module routes/compat — the older API of seeds 000 and 003. Each route is one call into the same invoke
 * pipeline (audited, same authority), keeping the status codes and shapes its seed documents.
 *
 *   PUT    /rooms/:id/state            → _set_state      {room_id, scope, key, value, version, updated_at}
 *                                        (scope "_view" with expr → _register_view, seed 003)
 *   PUT    /rooms/:id/state/batch      → _batch_set_state {ok, count, state}
 *   DELETE /rooms/:id/state            → _delete_state   {deleted}
 *   PUT|POST /rooms/:id/views          → _register_view  {id, value, …}
 *   DELETE /rooms/:id/views/:view      → _delete_view
 *   POST   /rooms/:id/messages         → _send_message   201 message
 *   GET    /rooms/:id/messages         after, kind, thread, unclaimed, limit
 *   POST   /rooms/:id/messages/:seq/claim → _claim_message  200 {claimed:true} | 409 {claimed:false, claimed_by}
 */
import { Hono } from "hono";
import { z } from "zod";
import { requireReader } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { messageView } from "../engine/messages.ts";
import type { Room } from "../engine/model.ts";
import { invokeCompat } from "./actions.ts";
import { type AppEnv, parseQuery, qInt, readJson, roomAndCaller, send } from "./http.ts";

function row(
  room: Room,
  w: { scope: string; key: string; value: unknown; version: number },
  extra: Record<string, unknown> = {},
) {
  const e = room.getEntry(w.scope, w.key);
  return { room_id: room.id, ...w, updated_at: e?.updated_at ?? null, ...extra };
}

const MessagesQuery = z.strictObject({
  after: qInt.optional(),
  kind: z.string().optional(),
  thread: qInt.optional(),
  unclaimed: z.enum(["true", "false"]).optional(),
  limit: qInt.optional(),
});

/** v3 message fields beside ours, so clients of either shape work. */
function v3(room: Room, m: Record<string, unknown>) {
  return { ...m, id: m.seq, room_id: room.id, from_agent: m.from, to_agent: m.to, created_at: m.ts };
}

export const compatRoutes = new Hono<AppEnv>()
  .put("/rooms/:id/state", async (c) => {
    const body = await readJson(c) as Record<string, unknown>;
    if (body.scope === "_view") {
      // seed 003: a computed view stored as state — the same as _register_view {id: key, expr}
      const { scope: _s, key, ...rest } = body;
      const r = await invokeCompat(c, "_register_view", { ...rest, id: key });
      const view = r.body.view as Record<string, unknown>;
      return send(c, {
        room_id: r.room.id,
        scope: "_view",
        key,
        expr: view.expr,
        value: r.body.value,
        resolved_value: r.body.value,
        cursor: r.body.cursor,
      });
    }
    const r = await invokeCompat(c, "_set_state", body);
    const w = (r.body.writes as { scope: string; key: string; value: unknown; version: number }[])[0];
    return send(c, row(r.room, w, { ok: true, cursor: r.body.cursor }));
  })
  .put("/rooms/:id/state/batch", async (c) => {
    const r = await invokeCompat(c, "_batch_set_state", await readJson(c) as Record<string, unknown>);
    const writes = r.body.writes as { scope: string; key: string; value: unknown; version: number }[];
    return send(c, {
      ok: true,
      count: writes.length,
      state: writes.map((w) => row(r.room, w)),
      cursor: r.body.cursor,
    });
  })
  .delete("/rooms/:id/state", async (c) => {
    const r = await invokeCompat(c, "_delete_state", await readJson(c) as Record<string, unknown>);
    return send(c, { ok: true, deleted: r.body.deleted, scope: r.body.scope, key: r.body.key });
  })
  .on(["PUT", "POST"], "/rooms/:id/views", async (c) => {
    const r = await invokeCompat(c, "_register_view", await readJson(c) as Record<string, unknown>);
    return send(c, { ...r.body, ...(r.body.view as object), value: r.body.value });
  })
  .delete("/rooms/:id/views/:view", async (c) => {
    const r = await invokeCompat(c, "_delete_view", { id: c.req.param("view") });
    return send(c, r.body);
  })
  .post("/rooms/:id/messages", async (c) => {
    const r = await invokeCompat(c, "_send_message", await readJson(c) as Record<string, unknown>);
    return send(c, v3(r.room, r.body.message as Record<string, unknown>), 201);
  })
  .get("/rooms/:id/messages", async (c) => {
    const q = parseQuery(c, MessagesQuery);
    const { room, caller } = await roomAndCaller(c);
    requireReader(caller);
    const limit = Math.min(q.limit ?? 50, 500);
    let list = room.messages;
    if (q.thread !== undefined) {
      list = list.filter((m) => m.seq === q.thread || m.reply_to === q.thread);
    }
    list = list.filter((m) =>
      (q.after === undefined || m.seq > q.after) && (q.kind === undefined || m.kind === q.kind) &&
      (q.unclaimed !== "true" || m.claimed_by === null)
    );
    return send(c, list.slice(0, limit).map((m) => v3(room, messageView(m))));
  })
  .post("/rooms/:id/messages/:seq/claim", async (c) => {
    const body = await readJson(c, { optional: true }) as Record<string, unknown>;
    try {
      const r = await invokeCompat(c, "_claim_message", {
        seq: c.req.param("seq"),
        ...(body.agent !== undefined ? { agent: body.agent } : {}),
      });
      return send(c, {
        claimed: true,
        claimed_by: r.body.claimed_by,
        claimed_at: r.body.claimed_at,
        message_id: r.body.seq,
      });
    } catch (e) {
      if (e instanceof ApiError && e.code === "already_claimed") {
        return send(c, { ...e.toBody(), claimed: false }, 409);
      }
      throw e;
    }
  });
