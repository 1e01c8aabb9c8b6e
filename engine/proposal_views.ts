/**
 * @module engine/proposal_views — who sees a proposal and who may decide it, and the proposal as each reader
 * gets it (`GET /proposals`, `/context`, CEL `proposals`, `/poll`, the change feed). An agent sees the
 * proposals it made, took part in, or is an approver of (`from` holds for it now, read with the action
 * registrar's authority: action_ctx.ts); room and view tokens see all. Seeing one means seeing its params.
 */
import { compile, evaluate, isTrue, toCel } from "../cel.ts";
import { ApiError } from "../errors.ts";
import { actionContext } from "./action_ctx.ts";
import type { ReadCtx } from "./context.ts";
import type { ActionDef, Proposal } from "./model.ts";
import { statusAt } from "./proposal_records.ts";

/** Action contexts by registrar and owner scope, shared by the proposals one read looks at. */
export type DecideCache = Map<string, Record<string, unknown>>;

/** Whether the caller of `rc` may approve or reject `p` now: it is pending and the caller an approver. */
export function mayDecide(rc: ReadCtx, p: Proposal, cache?: DecideCache): boolean {
  return statusAt(p, rc.now) === "pending" && isApprover(rc, p, cache);
}

/**
 * Whether the caller of `rc` is one of `p`'s approvers: not its proposer (unless `proposer_counts`), and
 * `from` holds with `approver` = the caller's id (`admin` for the room token), `self` = the caller,
 * `params` = the proposal's. A view token never is; a `from` failing at run time holds for nobody.
 */
export function isApprover(rc: ReadCtx, p: Proposal, cache: DecideCache = new Map()): boolean {
  if (rc.caller.kind === "viewer") return false;
  const approver = rc.caller.id;
  if (approver === p.proposer && !p.proposer_counts) return false;
  const key = `${p.registrar}\u0000${p.scope}`;
  let ctx = cache.get(key);
  if (!ctx) cache.set(key, ctx = actionContext(rc, asAction(p)));
  try {
    const program = compile(p.from, { maxLength: rc.limits.maxCelLength, timeoutMs: rc.limits.celTimeoutMs });
    return isTrue(evaluate(program, { ...ctx, approver, params: p.params }, rc.cel, rc.room.rt.celTime));
  } catch {
    return false;
  }
}

/** What `from` is read with: the registrar and owner scope of the action when it was proposed. */
function asAction(p: Proposal): ActionDef {
  return { id: p.action, registrar: p.registrar, scope: p.scope, created_at: p.created_at };
}

/**
 * Whether the caller sees `p` at all (and so its params): its proposer, those who decided on it, and its
 * approvers (`from` holds for them now) — also once it is decided, so an approver who waited for the
 * decision sees it.
 */
export function canSeeProposal(rc: ReadCtx, p: Proposal, cache?: DecideCache): boolean {
  if (rc.caller.kind !== "agent") return true;
  const me = rc.caller.id;
  if (p.proposer === me || p.rejected_by === me || p.approvals.some((a) => a.by === me)) return true;
  return isApprover(rc, p, cache);
}

/**
 * `p` as the caller of `rc` gets it (it must be one the caller sees). A failed proposal's refusal is shown
 * whole to its proposer and to room and view tokens; anyone else gets its code only, since its message and
 * details describe state with the proposer's privacy.
 */
export function proposalJson(rc: ReadCtx, p: Proposal, cache?: DecideCache): Record<string, unknown> {
  const status = statusAt(p, rc.now);
  const out: Record<string, unknown> = {
    id: p.id,
    action: p.action,
    params: p.params,
    proposer: p.proposer,
    count: p.count,
    from: p.from,
    proposer_counts: p.proposer_counts,
    approvals: p.approvals,
    status,
    created_at: p.created_at,
    expires_at: p.expires_at,
    decided_at: status === "expired" && p.status === "pending" ? p.expires_at : p.decided_at,
    may_decide: mayDecide(rc, p, cache),
  };
  if (p.rejected_by) Object.assign(out, { rejected_by: p.rejected_by, reason: p.reason ?? null });
  if (p.writes) out.writes = p.writes;
  if (p.error) {
    const whole = rc.caller.kind !== "agent" || rc.caller.id === p.proposer;
    out.error = whole ? p.error : {
      error: p.error.error,
      message: `the action was refused (${p.error.error}) when it ran as ${p.proposer}`,
    };
  }
  return out;
}

/** The proposals the caller sees, in the order they were made; `status` keeps those with that status now. */
export function listProposals(rc: ReadCtx, status?: string): Record<string, unknown>[] {
  const cache: DecideCache = new Map();
  const out: Record<string, unknown>[] = [];
  if (!rc.room.hasProposals) return out;
  for (const p of rc.room.proposals.values()) {
    if (status !== undefined && statusAt(p, rc.now) !== status) continue;
    if (canSeeProposal(rc, p, cache)) out.push(proposalJson(rc, p, cache));
  }
  return out;
}

/** One proposal; `404 proposal_not_found` also for one the caller may not see. */
export function getProposal(rc: ReadCtx, id: string): Record<string, unknown> {
  const p = rc.room.hasProposals ? rc.room.proposals.get(id) : undefined;
  const cache: DecideCache = new Map();
  if (!p || !canSeeProposal(rc, p, cache)) throw proposalNotFound(id);
  return proposalJson(rc, p, cache);
}

export function proposalNotFound(id: string): ApiError {
  return new ApiError("proposal_not_found", `no proposal ${JSON.stringify(id)} in this room`, {
    proposal: id,
  });
}

/** The `/context` section: the pending proposals the caller sees, by id. */
export function contextProposals(rc: ReadCtx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of listProposals(rc, "pending")) out[p.id as string] = p;
  return out;
}

/** Of the proposal ids a commit changed, those the caller sees (changes.ts, feed.ts). */
export function visibleProposalIds(rc: ReadCtx, ids: readonly string[]): string[] {
  const cache: DecideCache = new Map();
  return ids.filter((id) => {
    const p = rc.room.proposals.get(id);
    return p !== undefined && canSeeProposal(rc, p, cache);
  });
}

/**
 * Adds `proposals` to a caller's CEL context (`/eval`, `/wait`): every proposal the caller sees, by id,
 * each built when an expression first reads it (`proposals[id].status` looks at one).
 */
export function withProposals(ctx: Record<string, unknown>, rc: ReadCtx): Record<string, unknown> {
  let map: Record<string, unknown> | undefined;
  Object.defineProperty(ctx, "proposals", {
    enumerable: true,
    configurable: true,
    get: () => map ??= proposalsCel(rc),
  });
  return ctx;
}

function proposalsCel(rc: ReadCtx): Record<string, unknown> {
  const cache: DecideCache = new Map();
  const room = rc.room;
  const load = (t: Record<string, unknown>, k: string | symbol) => {
    if (typeof k !== "string" || Object.hasOwn(t, k) || !room.hasProposals) return;
    const p = room.proposals.get(k);
    if (p && canSeeProposal(rc, p, cache)) t[k] = toCel(proposalJson(rc, p, cache));
  };
  return new Proxy({} as Record<string, unknown>, {
    get: (t, k, r) => (load(t, k), Reflect.get(t, k, r)),
    has: (t, k) => (load(t, k), Reflect.has(t, k)),
    getOwnPropertyDescriptor: (t, k) => (load(t, k), Reflect.getOwnPropertyDescriptor(t, k)),
    ownKeys: (t) => {
      if (room.hasProposals) { for (const id of room.proposals.keys()) load(t, id); }
      return Reflect.ownKeys(t);
    },
  });
}

/** One proposal as CEL sees it for the caller (`proposal` in an invoke-and-wait's condition), or null. */
export function proposalCel(rc: ReadCtx, id: string): unknown {
  const p = rc.room.proposals.get(id);
  return p && canSeeProposal(rc, p) ? toCel(proposalJson(rc, p)) : null;
}
