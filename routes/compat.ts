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
import { openRead } from "../engine/access.ts";
import type { Room } from "../engine/room.ts";
import { listMessages } from "../engine/reads.ts";
import { MessagesQuery } from "../wire.ts";
import { invokeCompat } from "./actions.ts";
import { type AppEnv, opOf, parseQuery, readJson, send } from "./http.ts";

type Written = { scope: string; key: string; value: unknown; version: number };

/** v3 message fields beside ours, so clients of either shape work. */
function v3(roomId: string, m: Record<string, unknown>) {
  return { ...m, id: m.seq, room_id: roomId, from_agent: m.from, to_agent: m.to, created_at: m.ts };
}

/** A write as the seed's state routes answer it: the row with its room and update time. */
function row(room: Room, w: Written, extra: Record<string, unknown> = {}) {
  const e = room.getEntry(w.scope, w.key);
  return { room_id: room.id, ...w, updated_at: e?.updated_at ?? null, ...extra };
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
    const w = (r.body.writes as Written[])[0];
    return send(c, row(r.room, w, { ok: true, cursor: r.body.cursor }));
  })
  .put("/rooms/:id/state/batch", async (c) => {
    const r = await invokeCompat(c, "_batch_set_state", await readJson(c) as Record<string, unknown>);
    const writes = r.body.writes as Written[];
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
    return send(c, v3(r.room.id, r.body.message as Record<string, unknown>), 201);
  })
  .get("/rooms/:id/messages", async (c) => {
    const q = parseQuery(c, MessagesQuery);
    const rc = await openRead(c.get("eng"), c.req.param("id"), opOf(c));
    return send(c, listMessages(rc, q).map((m) => v3(rc.room.id, m)));
  })
  // an already-claimed message is the builtin's 409 already_claimed, whose details carry `claimed: false`;
  // the body (`{agent?}`) goes to the builtin whole, so an unknown field is refused as on every route
  .post("/rooms/:id/messages/:seq/claim", async (c) => {
    const body = await readJson(c, { optional: true }) as Record<string, unknown>;
    const r = await invokeCompat(c, "_claim_message", { ...body, seq: c.req.param("seq") });
    return send(c, {
      claimed: true,
      claimed_by: r.body.claimed_by,
      claimed_at: r.body.claimed_at,
      message_id: r.body.seq,
    });
  });
