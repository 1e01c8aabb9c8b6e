/**
 * @module routes/webhooks — the webhook listings (room and view tokens; registering is the builtin
 * `_register_webhook`, through invoke like every change).
 *
 *   GET /rooms/:id/webhooks                          each webhook with its delivery state (no secrets)
 *   GET /rooms/:id/webhooks/:webhook/deliveries      recent deliveries, newest first (?limit, max 100)
 */
import { Hono } from "hono";
import { WEBHOOK_DELIVERIES_DEFAULT, WEBHOOK_DELIVERIES_MAX } from "../config.ts";
import { listDeliveries, listWebhooks } from "../engine/webhooks.ts";
import { DeliveriesQuery, WebhooksQuery } from "../wire.ts";
import { type AppEnv, opOf, parseQuery, send } from "./http.ts";

export const webhookRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/webhooks", async (c) => {
    parseQuery(c, WebhooksQuery);
    return send(c, await listWebhooks(c.get("eng"), c.req.param("id"), opOf(c)));
  })
  .get("/rooms/:id/webhooks/:webhook/deliveries", async (c) => {
    const q = parseQuery(c, DeliveriesQuery);
    const limit = Math.min(Math.max(q.limit ?? WEBHOOK_DELIVERIES_DEFAULT, 1), WEBHOOK_DELIVERIES_MAX);
    return send(
      c,
      await listDeliveries(c.get("eng"), c.req.param("id"), c.req.param("webhook"), opOf(c), limit),
    );
  });
