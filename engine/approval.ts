/**
 * @module engine/approval — the `approval` field of a custom action (`{count, from, expires_ms?,
 * proposer_counts?}`): its schema and its check at registration and import. What a proposal then is, and
 * who may decide it, is proposals.ts's and proposal_views.ts's.
 */
import { z } from "zod";
import { type CelLimits, compile } from "../cel.ts";
import { APPROVAL_MAX_COUNT, APPROVAL_MAX_EXPIRES_MS } from "../config.ts";
import type { ApprovalSpec } from "./model.ts";

export const ApprovalSchema = z.strictObject({
  count: z.number().int().min(1).max(APPROVAL_MAX_COUNT)
    .describe(`how many distinct approvers must agree (1–${APPROVAL_MAX_COUNT})`),
  from: z.string().min(1).describe(
    "CEL: who may approve; `approver` is the candidate's id (`admin` for the room token), `params` the proposal's",
  ),
  expires_ms: z.number().int().min(1).max(APPROVAL_MAX_EXPIRES_MS).optional()
    .describe("a proposal still pending this long after it was made expires"),
  proposer_counts: z.boolean().optional().describe("whether the proposer may approve its own proposal"),
});

/** Compiles `from` (`400 invalid_cel` / `cel_limit` with `field`, e.g. `approval.from`). */
export function checkApproval(
  a: z.infer<typeof ApprovalSchema>,
  limits: CelLimits,
  field: string,
): ApprovalSpec {
  compile(a.from, limits, `${field}.from`);
  return a;
}
