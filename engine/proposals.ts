/**
 * @module engine/proposals — actions that wait for approval: proposing (the action's checks as a dry run,
 * then a proposal staged in the Tx), `_approve` and `_reject`, and the run of an approved action — as its
 * proposer, in the Tx of the approval that completes the quorum, against the state of that moment. Every
 * step is synchronous over one Tx, so racing approvals run an action once (across processes, the seq
 * compare-and-set re-runs the loser on fresh state). Refusals throw ApiError.
 */
import { z } from "zod";
import type { Caller } from "../auth.ts";
import { ApiError, asRefusal } from "../errors.ts";
import { invocationEyes } from "./action_ctx.ts";
import { runCustomAction } from "./actions.ts";
import type { ReadCtx } from "./context.ts";
import type { ActionDef, Proposal, ProposalStatus } from "./model.ts";
import { validateParams } from "./params.ts";
import { pendingCount, statusAt } from "./proposal_records.ts";
import { type DecideCache, isApprover, proposalJson, proposalNotFound } from "./proposal_views.ts";
import { checkQuotas, exceeded } from "./quotas.ts";
import type { Room } from "./room.ts";
import { Tx } from "./tx.ts";
import type { WriteResult } from "./write_modes.ts";

export const ApproveParams = z.strictObject({ proposal: z.string().min(1).max(128) });
export const RejectParams = z.strictObject({
  proposal: z.string().min(1).max(128),
  reason: z.string().max(2000).optional(),
});

/** What `_approve` / `_reject` answer: the approved action's writes, and the proposal as it is now. */
export type Decision = { writes: WriteResult[]; extra: Record<string, unknown> };

const readCtxOf = (tx: Tx, caller: Caller = tx.caller): ReadCtx => ({
  room: tx.room,
  caller,
  now: tx.now,
  limits: tx.limits,
  op: tx.op,
  cel: tx.cel,
});

function newId(room: Room): string {
  for (;;) {
    const id = `prop-${crypto.randomUUID().slice(0, 8)}`;
    if (!room.proposals.has(id)) return id;
  }
}

/**
 * Invoking an action with `approval`: its checks run as a dry run with the invoker as proposer (liveness,
 * `enabled`, params, `if`, templates, write authority: what it would stage is dropped), then the proposal
 * is staged. `rc` is the invoker's read context.
 */
export function proposeAction(rc: ReadCtx, tx: Tx, a: ActionDef, raw: Record<string, unknown>): Proposal {
  const approval = a.approval!;
  const dry = new Tx(tx.room, tx.caller, tx.now, tx.limits, tx.op);
  runCustomAction(dry, a, raw, invocationEyes(rc, dry, a));
  const params = validateParams(a.params, raw);
  const bytes = JSON.stringify(params).length;
  if (bytes > tx.limits.maxValueBytes) {
    throw new ApiError(
      "value_too_large",
      `the params of a proposal are stored with it: ${bytes} bytes; the limit is ${tx.limits.maxValueBytes}`,
      { field: "params" },
    );
  }
  const limit = tx.limits.roomMaxPendingProposals;
  if (pendingCount(tx.room, tx.now) >= limit) {
    throw exceeded(
      "room_pending_proposals",
      limit,
      `this room already has ${limit} pending proposals; approve, reject or let some expire first`,
    );
  }
  const p: Proposal = {
    id: newId(tx.room),
    action: a.id,
    params,
    proposer: tx.caller.id,
    count: approval.count,
    from: approval.from,
    proposer_counts: approval.proposer_counts === true,
    registrar: a.registrar,
    scope: a.scope,
    approvals: [],
    status: "pending",
    created_at: tx.iso,
    expires_at: approval.expires_ms ? new Date(tx.now + approval.expires_ms).toISOString() : null,
    decided_at: null,
  };
  tx.proposals.set(p.id, p);
  return p;
}

/**
 * The proposal a decision names. Checks follow in the order that tells a stranger nothing but that it
 * exists: a repeat, then `403 not_an_approver`, then `409 proposal_closed`.
 */
function decidable(tx: Tx, id: string): Proposal {
  const p = tx.room.hasProposals ? tx.room.proposals.get(id) : undefined;
  if (!p) throw proposalNotFound(id);
  return p;
}

function notAnApprover(p: Proposal, caller: Caller): ApiError {
  const why = caller.id === p.proposer
    ? "the proposer's own approval does not count for it"
    : `${caller.id} is not one of its approvers`;
  return new ApiError("not_an_approver", `proposal ${p.id}: ${why}`, { proposal: p.id });
}

function closed(p: Proposal, status: Exclude<ProposalStatus, "pending">): ApiError {
  return new ApiError("proposal_closed", `proposal ${p.id} is ${status}: it takes no more decisions`, {
    proposal: p.id,
    status,
  });
}

/** The answer of a decision: the proposal as the decider sees it now. */
function answer(tx: Tx, p: Proposal, writes: WriteResult[], counted: boolean): Decision {
  return { writes, extra: { proposal: proposalJson(readCtxOf(tx), p), counted } };
}

/**
 * `_approve {proposal}`: an approver's approval counts once (a repeat answers the proposal as it is); the
 * approval that completes the quorum runs the action as the proposer in this same Tx.
 */
export function approve(tx: Tx, raw: unknown): Decision {
  const { proposal: id } = ApproveParams.parse(raw);
  const cache: DecideCache = new Map();
  const p = decidable(tx, id);
  const me = tx.caller.id;
  if (p.approvals.some((a) => a.by === me)) return answer(tx, p, [], false);
  if (!isApprover(readCtxOf(tx), p, cache)) throw notAnApprover(p, tx.caller);
  const status = statusAt(p, tx.now);
  if (status !== "pending") throw closed(p, status);
  const approvals = [...p.approvals, { by: me, at: tx.iso }];
  if (approvals.length < p.count) {
    const next = { ...p, approvals };
    tx.proposals.set(id, next);
    return answer(tx, next, [], true);
  }
  const { next, writes } = execute(tx, { ...p, approvals });
  tx.proposals.set(id, next);
  return answer(tx, next, writes, true);
}

/**
 * `_reject {proposal, reason?}`: an approver (or the proposer, withdrawing it) ends a pending proposal.
 * Rejecting one already rejected by the same caller answers it as it is.
 */
export function reject(tx: Tx, raw: unknown): Decision {
  const { proposal: id, reason } = RejectParams.parse(raw);
  const cache: DecideCache = new Map();
  const p = decidable(tx, id);
  const me = tx.caller.id;
  if (p.status === "rejected" && p.rejected_by === me) return answer(tx, p, [], false);
  if (me !== p.proposer && !isApprover(readCtxOf(tx), p, cache)) throw notAnApprover(p, tx.caller);
  const status = statusAt(p, tx.now);
  if (status !== "pending") throw closed(p, status);
  const next: Proposal = {
    ...p,
    status: "rejected",
    decided_at: tx.iso,
    rejected_by: me,
    reason: reason ?? null,
  };
  tx.proposals.set(id, next);
  return answer(tx, next, [], true);
}

/** Who the proposer is now, as an invoker (undefined when that agent is gone). */
function proposerOf(room: Room, id: string): Caller | undefined {
  if (id === "admin") return { kind: "admin", id: "admin" };
  const agent = room.agents.get(id);
  return agent && { kind: "agent", id, agent, viaRoomToken: false };
}

/**
 * Runs the approved action as its proposer against the state of this moment (its `if` and every other
 * check again): success stages its writes into `tx` (`executed`), any refusal is recorded (`failed`) with
 * the body the proposer would have got. Either way the run has its own audit row, as the proposer's.
 */
function execute(tx: Tx, p: Proposal): { next: Proposal; writes: WriteResult[] } {
  const row = (ok: boolean, status: number, error: string | null) => ({
    ts: tx.iso,
    agent: p.proposer,
    action: p.action,
    builtin: false,
    params: p.params,
    ok,
    status,
    error,
  });
  try {
    const proposer = proposerOf(tx.room, p.proposer);
    if (!proposer) {
      throw new ApiError("agent_not_found", `the proposer ${p.proposer} is no longer in this room`, {
        agent: p.proposer,
      });
    }
    const a = tx.room.actions.get(p.action);
    if (!a) {
      throw new ApiError("action_not_found", `no action ${JSON.stringify(p.action)} in this room`, {
        action: p.action,
      });
    }
    const run = new Tx(tx.room, proposer, tx.now, tx.limits, tx.op);
    const writes = runCustomAction(run, a, p.params, invocationEyes(readCtxOf(run), run, a));
    checkQuotas(run);
    tx.absorb(run);
    tx.moreAudit.push(row(true, 200, null));
    return {
      next: {
        ...p,
        status: "executed",
        decided_at: tx.iso,
        writes: writes.map((w) => ({ scope: w.scope, key: w.key, version: w.version })),
      },
      writes,
    };
  } catch (e) {
    const error = asRefusal(e);
    tx.moreAudit.push(row(false, error.status, error.code));
    return { next: { ...p, status: "failed", decided_at: tx.iso, error: error.toBody() }, writes: [] };
  }
}

/**
 * Replacing or deleting an action ends its pending proposals as `failed` (`action_changed`): their approvers
 * agreed to the action as it was.
 */
export function closeProposalsOf(tx: Tx, action: string, how: "replaced" | "deleted"): void {
  if (!tx.room.hasProposals) return;
  for (const p of tx.room.proposals.values()) {
    if (p.action !== action || statusAt(p, tx.now) !== "pending") continue;
    tx.proposals.set(p.id, {
      ...p,
      status: "failed",
      decided_at: tx.iso,
      error: {
        error: "action_changed",
        message: `action ${action} was ${how} before this proposal was decided`,
      },
    });
  }
}
