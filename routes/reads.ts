/**
 * @module routes/reads — the read endpoints (a token of the room is required; privacy per caller).
 *
 *   GET  /rooms/:id/context   only, actions, messages_after, messages_limit, agent, at
 *   GET  /rooms/:id/state     scope, key, resolve
 *   POST /rooms/:id/eval      {expr, agent?, at?}
 *   GET  /rooms/:id/poll      messages_limit, audit_limit, agent
 *   GET  /rooms/:id/views     GET /rooms/:id/views/:view
 */
import { Hono } from "hono";
import { ApiError } from "../errors.ts";
import { openRead } from "../engine/access.ts";
import { openReadAt } from "../engine/room_at.ts";
import {
  buildContext,
  evalExpression,
  getView,
  listViews,
  parseSections,
  poll,
  readState,
} from "../engine/reads.ts";
import { AgentQuery, ContextQuery, EvalBody, PollQuery, StateQuery } from "../wire.ts";
import { type AppEnv, type Ctx, opOf, parseBody, parseQuery, readJson, send } from "./http.ts";

/** The caller, possibly the room token acting as an agent (`?agent=` — the dashboard's perspective). */
const reader = (c: Ctx, agent?: string) => openRead(c.get("eng"), c.req.param("id")!, opOf(c), agent);

export const readRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/context", async (c) => {
    const q = parseQuery(c, ContextQuery);
    const query = {
      only: parseSections(q.only, "only"),
      actions: q.actions,
      messages_after: q.messages_after,
      messages_limit: q.messages_limit,
    };
    if (q.at !== undefined) {
      const past = await openReadAt(c.get("eng"), c.req.param("id")!, opOf(c), q.at, q.agent);
      return send(c, { ...buildContext(c.get("eng"), past, { ...query, past: true }), at: past.at });
    }
    return send(c, buildContext(c.get("eng"), await reader(c, q.agent), query));
  })
  .get("/rooms/:id/state", async (c) => {
    const q = parseQuery(c, StateQuery);
    const rc = await reader(c, q.agent);
    return send(c, await readState(c.get("eng"), rc, q.scope, q.key));
  })
  .post("/rooms/:id/eval", async (c) => {
    const b = parseBody(EvalBody, await readJson(c));
    const expr = b.expr ?? b.expression;
    if (expr === undefined) throw new ApiError("invalid_body", "expr is required", { field: "expr" });
    if (b.at !== undefined) {
      const past = await openReadAt(c.get("eng"), c.req.param("id")!, opOf(c), b.at, b.agent);
      return send(c, { ...evalExpression(past, expr), at: past.at });
    }
    const rc = await reader(c, b.agent);
    return send(c, evalExpression(rc, expr));
  })
  .get("/rooms/:id/poll", async (c) => {
    const q = parseQuery(c, PollQuery);
    const rc = await reader(c, q.agent);
    return send(c, await poll(c.get("eng"), rc, q));
  })
  .get("/rooms/:id/views", async (c) => {
    const q = parseQuery(c, AgentQuery);
    return send(c, listViews(await reader(c, q.agent)));
  })
  .get("/rooms/:id/views/:view", async (c) => {
    const q = parseQuery(c, AgentQuery);
    return send(c, getView(await reader(c, q.agent), c.req.param("view")));
  });
