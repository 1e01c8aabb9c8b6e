/**
 * @module engine/invoke — `POST /actions/:id/invoke` as one function: authenticate, run the action against
 * a Tx (reference/api.md#custom-actions, invocation steps 1–5), apply it and its audit row at once (step 6), answer after the commit (step 7).
 * A refusal is audited on its own. A commit that lost a race with another process is re-run on fresh state
 * (the registry's stale-commit policy). Waiting after the write is invoke_wait.ts's.
 */
import { actAs, type Caller, hashToken, identify, requireReader } from "../auth.ts";
import { IDEMPOTENCY_TTL_MS } from "../config.ts";
import { ApiError, asRefusal } from "../errors.ts";
import { invocationEyes, stageOverlay } from "./action_ctx.ts";
import { runCustomAction } from "./actions.ts";
import type { BuiltinOutcome } from "./builtin.ts";
import { BUILTINS } from "./builtins.ts";
import { celContext, type ReadCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import { participantGuide } from "./guide.ts";
import type { IdempotentReply } from "./model.ts";
import type { Op } from "./op.ts";
import { touch } from "./presence.ts";
import { checkQuotas } from "./quotas.ts";
import { armProposalExpiry } from "./proposal_expiry.ts";
import { proposalJson } from "./proposal_views.ts";
import { proposeAction } from "./proposals.ts";
import { canReadScope } from "./privacy.ts";
import type { Room } from "./room.ts";
import { viewValues } from "./snapshot.ts";
import { applyTx, Tx } from "./tx.ts";
import { armLeases, expireLapsed, settleLeases } from "./lease_expiry.ts";

/** One invocation; the request is its own Op (no second object per invocation). */
export type InvokeRequest = Op & {
  roomId: string;
  action: string;
  params: Record<string, unknown>;
  agent?: unknown;
  dryRun?: boolean;
  idempotencyKey?: string;
};

export type InvokeReply = {
  body: Record<string, unknown>;
  room: Room;
  caller: Caller;
  /** the commit of this invocation (a replayed reply's: the first call's; a dry run: the room's seq) */
  seq: number;
  /** 200, or 202 when the invocation proposed an action that waits for approval */
  status: number;
};

export async function invoke(eng: Engine, req: InvokeRequest): Promise<InvokeReply> {
  for (let attempt = 1;; attempt++) {
    const room = await eng.rooms.fresh(req.roomId);
    const caller = actAs(room, requireReader(identify(room, req.token)), req.agent);
    // leases that lapsed before this call expire first (this call's own sign of life comes after them)
    const settling = settleLeases(eng, room);
    if (settling) await settling;
    if (!room.rt.alive) continue;
    touch(eng, room, caller);
    const fingerprint = req.idempotencyKey === undefined ? "" : fingerprintOf(req, caller);
    if (req.idempotencyKey !== undefined) {
      const reply = await findReply(eng, room, caller, req.idempotencyKey);
      if (reply) {
        if (reply.fingerprint && reply.fingerprint !== fingerprint) {
          throw new ApiError(
            "idempotency_conflict",
            `Idempotency-Key ${JSON.stringify(req.idempotencyKey)} was already used for a different request`,
            { key: req.idempotencyKey },
          );
        }
        await eng.rooms.settle(room);
        // the replay answers as the first call did, at its cursor: an invoke-and-wait retried after the
        // wake-up commit must still see that commit as after its own
        const body = reply.response as Record<string, unknown>;
        const seq = typeof body.cursor === "number" ? body.cursor : room.seq;
        return { body, room, caller, seq, status: reply.status };
      }
      if (!room.rt.alive) continue; // reloaded while the reply was looked up
    }
    const outcome = runInvocation(eng, room, caller, req);
    if (req.dryRun && outcome.ok) {
      eng.metrics.countInvocation("dry_run");
      return {
        body: { ...outcome.body, dry_run: true },
        room,
        caller,
        seq: room.seq,
        status: outcome.status,
      };
    }
    const seq = applyTx(outcome.tx);
    if (outcome.tx.leases.size) armLeases(eng, room);
    if (outcome.tx.proposals.size) armProposalExpiry(eng, room);
    const body = outcome.ok ? { ...outcome.body, ...(outcome.after?.() ?? {}), cursor: seq } : undefined;
    if (outcome.ok && body && req.idempotencyKey !== undefined) {
      // stored as it is answered (with its cursor), so a retry gets the first response exactly
      const r: IdempotentReply = {
        identity: caller.id,
        key: req.idempotencyKey,
        status: outcome.status,
        response: body,
        created_at: outcome.tx.iso,
        fingerprint,
      };
      room.rt.replies.set(`${caller.id}\u0000${req.idempotencyKey}`, r);
      room.rt.dirty.addReply(r);
    }
    try {
      await eng.rooms.commit(room);
    } catch (e) {
      try {
        await eng.rooms.backoff(e, attempt, { action: req.action });
      } catch (final) {
        eng.metrics.countInvocation("write_failed");
        throw final;
      }
      continue;
    }
    eng.metrics.countInvocation(outcome.ok ? "ok" : outcome.error.code);
    if (!outcome.ok) throw outcome.error;
    return { body: body!, room, caller, seq, status: outcome.status };
  }
}

type Outcome =
  | { ok: true; tx: Tx; body: Record<string, unknown>; status: number; after?: () => Record<string, unknown> }
  | { ok: false; tx: Tx; error: ApiError };

/** Synchronous from lookup to staged writes: nothing else runs in between, so predicates are atomic. */
function runInvocation(eng: Engine, room: Room, caller: Caller, req: InvokeRequest): Outcome {
  const now = eng.now();
  // a lease lapsing since the settling above expires before the invocation sees it (a dry run too: what it
  // shows is what the real call would find)
  expireLapsed(eng, room, now);
  let tx = new Tx(room, caller, now, eng.limits, req);
  const custom = room.actions.get(req.action);
  const builtin = custom || !Object.hasOwn(BUILTINS, req.action) ? undefined : BUILTINS[req.action];
  const audit = (ok: boolean, status: number, error: string | null) => ({
    ts: tx.iso,
    agent: caller.id,
    action: req.action,
    builtin: !!builtin,
    params: builtin?.auditParams ? builtin.auditParams(req.params) : req.params,
    ok,
    status,
    error,
    ...(req.traceparent ? { traceparent: req.traceparent } : {}),
  });
  try {
    if (caller.kind === "viewer") throw new ApiError("read_only_token", "a view token cannot invoke actions");
    const rc: ReadCtx = { room, caller, now, limits: eng.limits, op: req, cel: tx.cel };
    let outcome: BuiltinOutcome;
    let status = 200;
    if (custom?.approval) {
      // not run now: proposed, to run once approved (proposals.ts)
      const p = proposeAction(rc, tx, custom, req.params);
      outcome = { writes: [], extra: { pending: true, proposal: proposalJson(rc, p) } };
      status = 202;
    } else if (custom) {
      outcome = { writes: runCustomAction(tx, custom, req.params, invocationEyes(rc, tx, custom)) };
    } else if (builtin) {
      outcome = builtin.run(tx, req.params, {
        ctx: () => {
          const c = celContext(rc);
          stageOverlay(c, tx);
          return c;
        },
        guide: () => participantGuide(rc),
      });
    } else {
      throw new ApiError("action_not_found", `no action ${JSON.stringify(req.action)} in this room`, {
        action: req.action,
      });
    }
    // an approved action's run had its quotas checked in its own Tx (proposals.ts)
    if (!tx.absorbed) checkQuotas(tx);
    tx.audit = audit(true, status, null);
    // writes into a scope the invoker may not read (an owner scope) are reported without their values
    const writes = outcome.writes.map((w) =>
      canReadScope(caller, w.scope) ? w : { scope: w.scope, key: w.key, version: w.version, redacted: true }
    );
    const body = { ok: true, action: req.action, writes, ...(outcome.extra ?? {}) };
    const after = req.action === "_register_view"
      ? () => ({
        value: viewValues(room, eng.now(), eng.limits).get(String(outcome.extra?.id))?.value ?? null,
      })
      : undefined;
    return { ok: true, tx, body, status, after };
  } catch (e) {
    const error = asRefusal(e);
    tx = new Tx(room, caller, now, eng.limits, req);
    // the reason as the invoker is answered (its details were built with the invoker's privacy)
    const detail = Object.keys(error.details).length ? error.details : null;
    tx.audit = { ...audit(false, error.status, error.code), message: error.message, detail };
    return { ok: false, tx, error };
  }
}

async function findReply(eng: Engine, room: Room, caller: Caller, key: string) {
  const k = `${caller.id}\u0000${key}`;
  const since = new Date(eng.now() - IDEMPOTENCY_TTL_MS).toISOString();
  const hit = room.rt.replies.get(k);
  if (hit) return hit.created_at > since ? hit : undefined;
  const stored = await eng.rooms.readReply(room, caller.id, key, since);
  if (stored) room.rt.replies.set(k, stored);
  return stored;
}

/** The request an Idempotency-Key stands for: same action, params and acting identity. */
function fingerprintOf(req: InvokeRequest, caller: Caller): string {
  return hashToken(canonical([req.action, req.params, caller.id]));
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` are the same request. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
