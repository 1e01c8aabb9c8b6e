/**
 * @module engine/builtin_params — the params of the builtin actions as zod schemas: what their handlers
 * parse, and what the OpenAPI document shows for their compatibility routes.
 */
import { z } from "zod";
import { WriteSpec } from "./write_modes.ts";

export const STATUSES = ["active", "idle", "busy", "waiting", "done", "unknown"] as const;

export const BatchParams = z.strictObject({ writes: z.array(WriteSpec).min(1), if: z.string().optional() });
export const DeleteParams = z.strictObject({
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]),
  if_epoch: z.union([z.number().int().min(0), z.string()]).optional(),
});
export const ReleaseParams = z.strictObject({
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]),
  expire: z.boolean().optional(),
});
export const MessageParams = z.strictObject({
  body: z.unknown().refine((v) => v !== undefined, "body is required"),
  kind: z.string().min(1).max(128).optional(),
  // what `to` may hold is buildMessage's rule (agent ids), for every way of sending
  to: z.unknown().optional(),
  reply_to: z.union([z.number().int(), z.string()]).nullable().optional(),
  from: z.string().optional(),
});
export const IdParams = z.strictObject({ id: z.string() });
export const HeartbeatParams = z.strictObject({
  status: z.enum(STATUSES).optional(),
  agent: z.string().optional(),
});
export const RenewParams = z.strictObject({
  scope: z.string().optional(),
  key: z.union([z.string(), z.number()]),
});
export const ClaimParams = z.strictObject({
  seq: z.union([z.number().int(), z.string()]),
  agent: z.string().optional(),
});
