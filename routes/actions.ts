/**
 * @module routes/actions — the write endpoint and the action listings.
 *
 *   POST   /rooms/:id/actions/:action/invoke   {params, agent?, wait?}  (?dry_run=true, Idempotency-Key)
 *   GET    /rooms/:id/actions                  actions with availability for the caller
 *   GET    /rooms/:id/actions/:action
 *   PUT    /rooms/:id/actions                  compatibility → _register_action
 *   DELETE /rooms/:id/actions/:action          compatibility → _delete_action
 */
import { Hono } from "hono";
import { z } from "zod";
import { requireReader } from "../auth.ts";
import { invoke, type InvokeReply } from "../engine/invoke.ts";
import { getAction, listActions, readCtx } from "../engine/reads.ts";
import { invokeAndWait } from "../waiters.ts";
import {
  type AppEnv,
  type Ctx,
  parseBody,
  parseQuery,
  readJson,
  roomAndCaller,
  send,
  token,
} from "./http.ts";

const WaitSpec = z.strictObject({
  condition: z.string(),
  timeout: z.number().int().min(0).optional(),
  include: z.union([z.string(), z.array(z.string())]).optional(),
  /** the caller's last cursor: `include=changes` lists from it (the wake stays edge-triggered on this commit). */
  after: z.number().int().min(0).optional(),
});

const InvokeBody = z.strictObject({
  params: z.record(z.string(), z.unknown()).default({}),
  agent: z.string().optional(),
  wait: WaitSpec.optional(),
  dry_run: z.boolean().optional(),
});

const InvokeQuery = z.strictObject({ dry_run: z.enum(["true", "false", "1", "0"]).optional() });

/** A compatibility route is the same invocation with params taken from the body. */
export function invokeCompat(c: Ctx, action: string, params: Record<string, unknown>): Promise<InvokeReply> {
  return invoke(c.get("eng"), {
    roomId: c.req.param("id")!,
    token: token(c),
    action,
    params,
    idempotencyKey: c.req.header("idempotency-key") ?? undefined,
  });
}

export const actionRoutes = new Hono<AppEnv>()
  .post("/rooms/:id/actions/:action/invoke", async (c) => {
    const eng = c.get("eng");
    const body = parseBody(InvokeBody, await readJson(c, { optional: true }));
    const q = parseQuery(c, InvokeQuery);
    const dryRun = body.dry_run === true || q.dry_run === "true" || q.dry_run === "1";
    // only an invoke-and-wait listens for a disconnect: touching request.signal makes Deno abort it (a
    // DOMException with a stack) after every response, ~6 % of a plain invocation's CPU
    const ac = body.wait ? new AbortController() : undefined;
    if (ac) c.req.raw.signal.addEventListener("abort", () => ac.abort());
    const r = await invokeAndWait(
      eng,
      {
        roomId: c.req.param("id"),
        token: token(c),
        action: c.req.param("action"),
        params: body.params,
        agent: body.agent,
        dryRun,
        idempotencyKey: c.req.header("idempotency-key") ?? undefined,
      },
      body.wait,
      { maxTimeout: eng.limits.maxWaitMs, signal: ac?.signal },
    );
    return send(c, r.body, r.status);
  })
  .get("/rooms/:id/actions", async (c) => {
    const { room, caller } = await roomAndCaller(c);
    return send(c, listActions(readCtx(c.get("eng"), room, requireReader(caller))));
  })
  .get("/rooms/:id/actions/:action", async (c) => {
    const { room, caller } = await roomAndCaller(c);
    return send(c, getAction(readCtx(c.get("eng"), room, requireReader(caller)), c.req.param("action")));
  })
  .put("/rooms/:id/actions", async (c) => {
    const r = await invokeCompat(c, "_register_action", await readJson(c) as Record<string, unknown>);
    return send(c, r.body, r.status);
  })
  .delete("/rooms/:id/actions/:action", async (c) => {
    const r = await invokeCompat(c, "_delete_action", { id: c.req.param("action") });
    return send(c, r.body, r.status);
  });
