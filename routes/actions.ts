/**
 * @module routes/actions — the write endpoint and the action listings.
 *
 *   POST   /rooms/:id/actions/:action/invoke   {params, agent?, wait?}  (?dry_run=true, Idempotency-Key);
 *                                              202 with the proposal for an action with `approval`
 *   GET    /rooms/:id/actions                  actions with availability for the caller (agent, actions=brief)
 *   GET    /rooms/:id/actions/:action          agent, actions=brief
 *   PUT    /rooms/:id/actions                  compatibility → _register_action
 *   DELETE /rooms/:id/actions/:action          compatibility → _delete_action
 */
import { Hono } from "hono";
import { openRead } from "../engine/access.ts";
import { invoke, type InvokeReply } from "../engine/invoke.ts";
import { invokeAndWait } from "../engine/invoke_wait.ts";
import { getAction, listActions } from "../engine/reads.ts";
import { ActionsQuery, InvokeBody, InvokeQuery } from "../wire.ts";
import {
  type AppEnv,
  type Ctx,
  opOf,
  parseBody,
  parseQuery,
  readJson,
  send,
  token,
  traceparent,
} from "./http.ts";

/** A compatibility route is the same invocation with params taken from the body. */
export function invokeCompat(c: Ctx, action: string, params: Record<string, unknown>): Promise<InvokeReply> {
  return invoke(c.get("eng"), {
    token: token(c),
    cel: c.get("cel"),
    roomId: c.req.param("id")!,
    action,
    params,
    idempotencyKey: c.req.header("idempotency-key") ?? undefined,
    traceparent: traceparent(c),
  });
}

export const actionRoutes = new Hono<AppEnv>()
  .post("/rooms/:id/actions/:action/invoke", async (c) => {
    const eng = c.get("eng");
    const body = parseBody(InvokeBody, await readJson(c, { optional: true }));
    const q = parseQuery(c, InvokeQuery);
    const req = {
      token: token(c),
      cel: c.get("cel"),
      // only an invoke-and-wait listens for a disconnect (see opOf)
      signal: body.wait ? c.req.raw.signal : undefined,
      roomId: c.req.param("id"),
      action: c.req.param("action"),
      params: body.params,
      agent: body.agent,
      dryRun: body.dry_run === true || q.dry_run === "true" || q.dry_run === "1",
      idempotencyKey: c.req.header("idempotency-key") ?? undefined,
      traceparent: traceparent(c),
    };
    // 202: the action waits for approval, and the answer is its proposal
    const r = body.wait
      ? await invokeAndWait(eng, req, body.wait, eng.limits.maxWaitMs)
      : await invoke(eng, req);
    return send(c, r.body, r.status);
  })
  .get("/rooms/:id/actions", async (c) => {
    const q = parseQuery(c, ActionsQuery);
    const rc = await openRead(c.get("eng"), c.req.param("id"), opOf(c), q.agent);
    return send(c, listActions(rc, q.actions));
  })
  .get("/rooms/:id/actions/:action", async (c) => {
    const q = parseQuery(c, ActionsQuery);
    const rc = await openRead(c.get("eng"), c.req.param("id"), opOf(c), q.agent);
    return send(c, getAction(rc, c.req.param("action"), q.actions));
  })
  .put("/rooms/:id/actions", async (c) => {
    const r = await invokeCompat(c, "_register_action", await readJson(c) as Record<string, unknown>);
    return send(c, r.body);
  })
  .delete("/rooms/:id/actions/:action", async (c) => {
    const r = await invokeCompat(c, "_delete_action", { id: c.req.param("action") });
    return send(c, r.body);
  });
