/**
 * @module routes/rooms — rooms and agents.
 *
 *   POST  /rooms                               create (tokens shown once)
 *   GET   /rooms                               rooms the bearer token belongs to
 *   GET   /rooms/:id                           id, created_at, meta, liveness_ms (no token needed)
 *   PATCH /rooms/:id                           room token: settings (liveness_ms, history)
 *   POST  /rooms/:id/rotate-view-token         room token
 *   POST  /rooms/:id/agents                    join / re-join
 *   GET   /rooms/:id/agents                    presence list
 *   PATCH /rooms/:id/agents/:agent             room token: grants, role, name, meta
 *   POST  /rooms/:id/agents/:agent/heartbeat   compatibility → _heartbeat
 */
import { Hono } from "hono";
import {
  createRoom,
  describeRoom,
  joinAgent,
  listAgents,
  patchAgent,
  roomsOfToken,
  rotateViewToken,
} from "../engine/membership.ts";
import { patchRoom } from "../engine/room_settings.ts";
import { CreateRoom, JoinAgent, PatchAgent, PatchRoom } from "../wire.ts";
import { invokeCompat } from "./actions.ts";
import { type AppEnv, opOf, parseBody, readJson, send } from "./http.ts";

export const roomRoutes = new Hono<AppEnv>()
  .post("/rooms", async (c) => {
    const body = parseBody(CreateRoom, await readJson(c, { optional: true }));
    return send(c, await createRoom(c.get("eng"), body), 201);
  })
  .get("/rooms", async (c) => send(c, await roomsOfToken(c.get("eng"), opOf(c))))
  .get("/rooms/:id", async (c) => send(c, await describeRoom(c.get("eng"), c.req.param("id"))))
  .patch("/rooms/:id", async (c) => {
    const body = parseBody(PatchRoom, await readJson(c));
    return send(c, await patchRoom(c.get("eng"), c.req.param("id"), opOf(c), body));
  })
  .post("/rooms/:id/rotate-view-token", async (c) => {
    return send(c, await rotateViewToken(c.get("eng"), c.req.param("id"), opOf(c)));
  })
  .post("/rooms/:id/agents", async (c) => {
    const body = parseBody(JoinAgent, await readJson(c, { optional: true }));
    return send(c, await joinAgent(c.get("eng"), c.req.param("id"), opOf(c), body), 201);
  })
  .get("/rooms/:id/agents", async (c) => send(c, await listAgents(c.get("eng"), c.req.param("id"), opOf(c))))
  .patch("/rooms/:id/agents/:agent", async (c) => {
    const body = parseBody(PatchAgent, await readJson(c));
    return send(c, await patchAgent(c.get("eng"), c.req.param("id"), opOf(c), c.req.param("agent"), body));
  })
  .post("/rooms/:id/agents/:agent/heartbeat", async (c) => {
    const body = await readJson(c, { optional: true }) as Record<string, unknown>;
    const r = await invokeCompat(c, "_heartbeat", { ...body, agent: c.req.param("agent") });
    return send(c, { ok: true, agent: r.body.agent, status: r.body.status, heartbeat: r.body.heartbeat });
  });
