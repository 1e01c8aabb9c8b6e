/**
 * @module routes/history — a room's history (any token of the room; privacy per caller). On `/history`
 * `agent` filters by who committed, so the room token reads as one agent with `as`; elsewhere with `agent`.
 *
 *   GET  /rooms/:id/history          after, before, limit, agent, action, scope, key, order, as
 *   GET  /rooms/:id/state/history    scope, key, before, limit, agent
 *
 * (`/context?at=` and `/eval {at}`, the room at a commit, are in routes/reads.ts.)
 */
import { Hono } from "hono";
import { openRead } from "../engine/access.ts";
import { readTimeline, readVersions } from "../engine/history.ts";
import { HistoryQuery, VersionsQuery } from "../wire.ts";
import { type AppEnv, opOf, parseQuery, send } from "./http.ts";

export const historyRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/history", async (c) => {
    const { as, ...q } = parseQuery(c, HistoryQuery);
    const rc = await openRead(c.get("eng"), c.req.param("id"), opOf(c), as);
    return send(c, await readTimeline(c.get("eng"), rc, q));
  })
  .get("/rooms/:id/state/history", async (c) => {
    const { agent, ...q } = parseQuery(c, VersionsQuery);
    const rc = await openRead(c.get("eng"), c.req.param("id"), opOf(c), agent);
    return send(c, await readVersions(c.get("eng"), rc, q));
  });
