/**
 * @module routes/rooms — rooms and agents.
 *
 *   POST  /rooms                               create (tokens shown once)
 *   GET   /rooms                               rooms the bearer token belongs to
 *   GET   /rooms/:id                           id, created_at, meta (no token needed)
 *   POST  /rooms/:id/rotate-view-token         room token
 *   POST  /rooms/:id/agents                    join / re-join
 *   GET   /rooms/:id/agents                    presence list
 *   PATCH /rooms/:id/agents/:agent             room token: grants, role, name, meta
 *   POST  /rooms/:id/agents/:agent/heartbeat   compatibility → _heartbeat
 */
import { Hono } from "hono";
import { hashToken, requireReader } from "../auth.ts";
import {
  agentJson,
  createRoom,
  joinAgent,
  patchAgent,
  roomJson,
  rotateViewToken,
} from "../engine/membership.ts";
import { roomsForToken } from "../store/rooms_sql.ts";
import { type AppEnv, readJson, retryStale, roomAndCaller, send, token } from "./http.ts";
import { invokeCompat } from "./actions.ts";

export const roomRoutes = new Hono<AppEnv>()
  .post(
    "/rooms",
    async (c) => send(c, await createRoom(c.get("eng"), await readJson(c, { optional: true })), 201),
  )
  .get("/rooms", async (c) => {
    const t = token(c);
    return send(c, t ? await roomsForToken(c.get("eng").db, hashToken(t)) : []);
  })
  .get("/rooms/:id", async (c) => {
    const room = await c.get("eng").room(c.req.param("id"));
    return send(c, roomJson(room));
  })
  .post("/rooms/:id/rotate-view-token", async (c) => {
    const { room, caller } = await roomAndCaller(c);
    return send(c, await rotateViewToken(c.get("eng"), room, caller));
  })
  .post("/rooms/:id/agents", async (c) => {
    const first = await roomAndCaller(c);
    const body = await readJson(c, { optional: true });
    return send(
      c,
      await retryStale(
        first,
        () => roomAndCaller(c),
        ({ room, caller }) => joinAgent(c.get("eng"), room, caller, body),
      ),
      201,
    );
  })
  .get("/rooms/:id/agents", async (c) => {
    const { room, caller } = await roomAndCaller(c);
    requireReader(caller);
    return send(c, [...room.agents.values()].map((a) => agentJson(room, a)));
  })
  .patch("/rooms/:id/agents/:agent", async (c) => {
    const first = await roomAndCaller(c);
    const body = await readJson(c);
    return send(
      c,
      await retryStale(
        first,
        () => roomAndCaller(c),
        ({ room, caller }) => patchAgent(c.get("eng"), room, caller, c.req.param("agent"), body),
      ),
    );
  })
  .post("/rooms/:id/agents/:agent/heartbeat", async (c) => {
    const body = await readJson(c, { optional: true }) as Record<string, unknown>;
    const r = await invokeCompat(c, "_heartbeat", { ...body, agent: c.req.param("agent") });
    return send(c, { ok: true, agent: r.body.agent, status: r.body.status, heartbeat: r.body.heartbeat });
  });
