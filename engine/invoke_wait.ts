/**
 * @module engine/invoke_wait — invoke-and-wait, one call per turn: the wait is validated first (a bad
 * condition commits nothing), the action invoked, then the caller waits for a commit after its own.
 * A refusal is thrown at once, without waiting. A plain invocation never comes here. When the invocation
 * proposed an action that waits for approval (202), the condition may read `proposal`: that proposal.
 */
import type { WaitSpec } from "../wire.ts";
import { readCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import { invoke, type InvokeRequest } from "./invoke.ts";
import { proposalCel, proposalJson } from "./proposal_views.ts";
import { parseSections } from "./reads.ts";
import { compileCondition, wait } from "./waiters.ts";

/**
 * `cursor` stays the invocation's commit; `wait.cursor` is the state the wake describes. `maxTimeout`
 * bounds the wait (the transport's own limit); the request's signal ends it early.
 */
export async function invokeAndWait(
  eng: Engine,
  req: InvokeRequest,
  spec: WaitSpec,
  maxTimeout: number,
): Promise<{ body: Record<string, unknown>; status: number }> {
  const include = spec.include === undefined
    ? undefined
    : parseSections(Array.isArray(spec.include) ? spec.include.join(",") : spec.include, "wait.include", [
      "context",
      "changes",
    ]);
  compileCondition(eng, spec.condition);
  const r = await invoke(eng, req);
  if (req.dryRun) return { body: r.body, status: r.status };
  const proposal = (r.body.proposal as { id?: string } | undefined)?.id;
  const w = await wait(eng, r.room, r.caller, {
    token: req.token,
    signal: req.signal,
    cel: req.cel,
    condition: spec.condition,
    timeout: Math.min(spec.timeout ?? maxTimeout, maxTimeout),
    include: include ?? ["changes"],
    after: r.seq,
    since: spec.after,
    ...(proposal ? { vars: (rc) => ({ proposal: proposalCel(rc, proposal) }) } : {}),
  });
  if (proposal) {
    // the proposal as it is when the wait ends (its decision, if the condition waited for one)
    const room = await eng.rooms.get(r.room.id);
    const p = room.proposals.get(proposal);
    if (p) {
      w.proposal = proposalJson(readCtx(eng, room, r.caller, req), p);
    }
  }
  return { body: { ...r.body, cursor: r.seq, wait: w }, status: r.status };
}
