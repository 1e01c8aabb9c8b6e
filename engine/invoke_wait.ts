/**
 * @module engine/invoke_wait — invoke-and-wait, one call per turn: the wait is validated first (a bad
 * condition commits nothing), the action invoked, then the caller waits for a commit after its own.
 * A refusal is thrown at once, without waiting. A plain invocation never comes here.
 */
import type { WaitSpec } from "../wire.ts";
import type { Engine } from "./engine.ts";
import { invoke, type InvokeRequest } from "./invoke.ts";
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
): Promise<Record<string, unknown>> {
  const include = spec.include === undefined
    ? undefined
    : parseSections(Array.isArray(spec.include) ? spec.include.join(",") : spec.include, "wait.include", [
      "context",
      "changes",
    ]);
  compileCondition(eng, spec.condition);
  const r = await invoke(eng, req);
  if (req.dryRun) return r.body;
  const w = await wait(eng, r.room, r.caller, {
    token: req.token,
    signal: req.signal,
    cel: req.cel,
    condition: spec.condition,
    timeout: Math.min(spec.timeout ?? maxTimeout, maxTimeout),
    include: include ?? ["changes"],
    after: r.seq,
    since: spec.after,
  });
  return { ...r.body, cursor: r.seq, wait: w };
}
