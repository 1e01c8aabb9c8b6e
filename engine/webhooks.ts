/**
 * @module engine/webhooks — webhooks as the room token manages and reads them: `_register_webhook` and
 * `_delete_webhook` (staged in the Tx like any builtin), `GET /rooms/:id/webhooks` and `…/deliveries`.
 * A secret is kept for signing and never shown again: not in answers, audit params, exports or errors.
 */
import { z } from "zod";
import { type Caller, requireReader } from "../auth.ts";
import { ID_PATTERN } from "../config.ts";
import { checkTargetUrl } from "../egress.ts";
import { ApiError } from "../errors.ts";
import { enterRoom } from "./access.ts";
import type { Engine } from "./engine.ts";
import type { WebhookDef } from "./model.ts";
import type { Op } from "./op.ts";
import { DEFAULT_KINDS } from "./outbox.ts";
import { deliveryId } from "./outbox_copy.ts";
import type { Tx } from "./tx.ts";

/** scope names and action ids (builtins start with `_`) */
const Name = z.string().regex(/^_?[A-Za-z0-9._:-]{1,128}$/, "must be a scope name or an action id");

export const RegisterWebhook = z.strictObject({
  id: z.string().regex(ID_PATTERN, "must be 1–128 of A-Z a-z 0-9 . _ : -"),
  url: z.string().min(1).max(2048),
  secret: z.string().min(16, "must be at least 16 characters").max(256),
  events: z.strictObject({
    scopes: z.array(Name).min(1).max(100).optional(),
    kinds: z.array(z.enum(["state", "message", "agent", "definition"])).min(1).optional(),
    actions: z.array(Name).min(1).max(100).optional(),
  }).optional(),
});
const DeleteWebhook = z.strictObject({ id: z.string() });

function requireRoomToken(caller: Caller, what: string): void {
  if (caller.kind !== "admin") throw new ApiError("forbidden", `only the room token may ${what}`);
}

/** `_register_webhook`: registers or replaces (and re-enables) a webhook. */
export function registerWebhook(tx: Tx, raw: Record<string, unknown>): Record<string, unknown> {
  requireRoomToken(tx.caller, "register webhooks");
  const p = RegisterWebhook.parse(raw);
  const url = checkTargetUrl(p.url, tx.limits.webhookAllowPrivate);
  const existing = tx.room.webhooks.get(p.id);
  if (!existing && tx.room.webhooks.size >= tx.limits.roomMaxWebhooks) {
    throw new ApiError("quota_exceeded", `a room holds at most ${tx.limits.roomMaxWebhooks} webhooks`, {
      quota: "room_webhooks",
      limit: tx.limits.roomMaxWebhooks,
    });
  }
  const def: WebhookDef = {
    id: p.id,
    url: url.href,
    secret: p.secret,
    events: p.events && Object.keys(p.events).length ? p.events : null,
    created_at: tx.iso,
    disabled: null,
  };
  tx.webhooks.set(p.id, def);
  return { id: p.id, webhook: webhookJson(def), replaced: !!existing };
}

/** `_delete_webhook`: the webhook and its undelivered deliveries. */
export function deleteWebhook(tx: Tx, raw: Record<string, unknown>): Record<string, unknown> {
  requireRoomToken(tx.caller, "delete webhooks");
  const { id } = DeleteWebhook.parse(raw);
  if (!tx.room.webhooks.has(id)) throw notFound(id);
  tx.webhooks.set(id, null);
  return { id, deleted: true };
}

/** Audit params of `_register_webhook`: the secret replaced. */
export function redactSecret(params: Record<string, unknown>): Record<string, unknown> {
  return "secret" in params ? { ...params, secret: "[redacted]" } : params;
}

function notFound(id: string) {
  return new ApiError("webhook_not_found", `no webhook ${JSON.stringify(id)} in this room`, { webhook: id });
}

/** A webhook as answers show it: never its secret. */
export function webhookJson(w: WebhookDef): Record<string, unknown> {
  return {
    id: w.id,
    url: w.url,
    events: {
      scopes: w.events?.scopes ?? null,
      kinds: w.events?.kinds ?? DEFAULT_KINDS,
      actions: w.events?.actions ?? null,
    },
    created_at: w.created_at,
    enabled: !w.disabled,
    disabled: w.disabled,
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Room and view tokens read webhooks (an agent: `403 forbidden`); what storage holds is settled first. */
async function openWebhooks(eng: Engine, roomId: string, op: Op) {
  const { room, caller } = await enterRoom(eng, roomId, op);
  if (requireReader(caller).kind === "agent") {
    throw new ApiError("forbidden", "webhooks are read with the room token or the view token");
  }
  await eng.rooms.settle(room);
  return room;
}

/** `GET /rooms/:id/webhooks`: each webhook with its delivery state. */
export async function listWebhooks(eng: Engine, roomId: string, op: Op): Promise<Record<string, unknown>[]> {
  const room = await openWebhooks(eng, roomId, op);
  const status = new Map((await eng.rooms.outbox.status(room.id)).map((s) => [s.webhook_id, s]));
  return [...room.webhooks.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((w) => {
    const s = status.get(w.id);
    return {
      ...webhookJson(w),
      pending: s?.pending ?? 0,
      failures: s?.failures ?? 0,
      failing_since: iso(s?.failing_since ?? null),
      last_status: s?.last_status ?? null,
      last_error: s?.last_error ?? null,
      next_attempt_at: s?.pending ? iso(Math.max(s.next_at ?? 0, eng.now())) : null,
      last_delivered_at: s?.last_delivered_at ?? null,
    };
  });
}

/** `GET /rooms/:id/webhooks/:webhook/deliveries`: the newest deliveries (pending and done), newest first. */
export async function listDeliveries(eng: Engine, roomId: string, webhookId: string, op: Op, limit: number) {
  const room = await openWebhooks(eng, roomId, op);
  const def = room.webhooks.get(webhookId);
  if (!def) throw notFound(webhookId);
  const rows = await eng.rooms.outbox.deliveries(room.id, webhookId, limit);
  return {
    webhook: webhookId,
    deliveries: rows.map((d) => ({
      seq: d.seq,
      // a commit not copied into the outbox yet is named as its copy will be
      delivery_id: d.delivery_id ?? deliveryId(room.id, webhookId, def.seq ?? 0, d.seq),
      state: d.state,
      attempts: d.attempts,
      last_status: d.last_status,
      last_error: d.last_error,
      last_attempt_at: d.last_attempt_at,
      next_attempt_at: d.state === "pending" ? iso(Math.max(d.next_at, Date.parse(d.created_at))) : null,
      delivered_at: d.delivered_at,
      created_at: d.created_at,
    })),
  };
}
