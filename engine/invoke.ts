/**
 * @module engine/invoke — `POST /actions/:id/invoke` as one function: authenticate, run the action against
 * a Tx (SPEC §6 steps 1–5), apply it and its audit row at once (step 6), answer after the commit (step 7).
 * A refusal is audited on its own. A commit that lost a race with another process is re-run on fresh state.
 */
import { actAs, type Caller, hashToken, identify, requireReader } from "../auth.ts";
import { ApiError, isApiError } from "../errors.ts";
import { CommitError } from "../store/committer.ts";
import { readReply } from "../store/rooms_sql.ts";
import { runCustomAction } from "./actions.ts";
import { type BuiltinOutcome, BUILTINS } from "./builtins.ts";
import { celContext, type ReadCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import { participantGuide } from "./guide.ts";
import { canReadScope } from "./privacy.ts";
import { ownerScopeContext } from "./invoke_ctx.ts";
import { entryBytes, type Room } from "./model.ts";
import { touch } from "./presence.ts";
import { celValue, viewValues } from "./snapshot.ts";
import { applyTx, Tx } from "./tx.ts";
import { z } from "zod";

export type InvokeRequest = {
  roomId: string;
  token: string | undefined;
  action: string;
  params: Record<string, unknown>;
  agent?: unknown;
  dryRun?: boolean;
  idempotencyKey?: string;
};

export type InvokeReply = {
  status: number;
  body: Record<string, unknown>;
  room: Room;
  caller: Caller;
  seq: number;
};

const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/** Re-runs of an invocation whose commit lost a race with another process on the same database. */
const MAX_ATTEMPTS = 20;

export async function invoke(eng: Engine, req: InvokeRequest): Promise<InvokeReply> {
  for (let attempt = 0;; attempt++) {
    const room = await eng.freshRoom(req.roomId);
    const caller = actAs(room, requireReader(identify(room, req.token)), req.agent);
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
        if (room.committedSeq < room.seq) await eng.committer.submit(room);
        return {
          status: reply.status,
          body: reply.body as Record<string, unknown>,
          room,
          caller,
          seq: room.seq,
        };
      }
      if (!room.alive) continue;
    }
    const outcome = runInvocation(eng, room, caller, req);
    if (req.dryRun && outcome.ok) {
      countOutcome(eng, "dry_run");
      return { status: 200, body: { ...outcome.body, dry_run: true }, room, caller, seq: room.seq };
    }
    const seq = applyTx(outcome.tx);
    let body = outcome.ok ? { ...outcome.body, ...(outcome.after?.() ?? {}) } : outcome.error.toBody();
    const status = outcome.ok ? 200 : outcome.error.status;
    if (req.idempotencyKey !== undefined && outcome.ok) {
      // stored as it is answered (with its cursor), so a retry gets the first response exactly
      const r = {
        identity: caller.id,
        key: req.idempotencyKey,
        status,
        body: { ...body, cursor: seq },
        created_at: outcome.tx.iso,
        fingerprint,
      };
      room.replies.set(`${caller.id}\u0000${req.idempotencyKey}`, r);
      room.dirty.idempotency.push(r);
    }
    try {
      await eng.committer.submit(room);
    } catch (e) {
      if (e instanceof CommitError && attempt < MAX_ATTEMPTS) {
        // another process committed to this room first: back off a little (jittered) and re-run on fresh state
        if (e.stale) await new Promise((r) => setTimeout(r, Math.random() * 2 ** Math.min(attempt, 6)));
        continue;
      }
      countOutcome(eng, "write_failed");
      throw new ApiError("write_failed", "the invocation could not be committed; nothing was written", {
        action: req.action,
        detail: String((e as Error).message),
      });
    }
    countOutcome(eng, outcome.ok ? "ok" : outcome.error.code);
    if (!outcome.ok) throw outcome.error;
    body = { ...body, cursor: seq };
    return { status, body, room, caller, seq };
  }
}

type Outcome =
  | { ok: true; tx: Tx; body: Record<string, unknown>; after?: () => Record<string, unknown> }
  | { ok: false; tx: Tx; error: ApiError };

/** Synchronous from lookup to staged writes: nothing else runs in between, so predicates are atomic. */
function runInvocation(eng: Engine, room: Room, caller: Caller, req: InvokeRequest): Outcome {
  const now = eng.now();
  let tx = new Tx(room, caller, now, eng.limits);
  const custom = room.actions.get(req.action);
  const builtin = custom ? undefined : BUILTINS[req.action];
  const audit = (ok: boolean, status: number, error: string | null) => ({
    ts: tx.iso,
    agent: caller.id,
    action: req.action,
    builtin: !!builtin,
    params: req.params,
    ok,
    status,
    error,
  });
  try {
    if (caller.kind === "viewer") throw new ApiError("read_only_token", "a view token cannot invoke actions");
    const rc: ReadCtx = { room, caller, now, limits: eng.limits };
    let outcome: BuiltinOutcome;
    if (custom) {
      const ctxFor = (params: Record<string, unknown>, withOwner = true) => {
        const base = celContext(rc, { params }, false);
        stageOverlay(base, tx);
        return withOwner ? ownerScopeContext(rc, custom, base) : base;
      };
      outcome = { writes: runCustomAction(tx, custom, req.params, ctxFor) };
    } else if (builtin) {
      outcome = builtin.run(tx, req.params, {
        ctx: () => {
          const c = celContext(rc, {}, false);
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
    checkQuotas(room, tx);
    tx.audit = audit(true, 200, null);
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
    return { ok: true, tx, body, after };
  } catch (e) {
    const error = toApiError(e);
    tx = new Tx(room, caller, now, eng.limits);
    tx.audit = audit(false, error.status, error.code);
    return { ok: false, tx, error };
  }
}

/** Staged writes of earlier steps are visible to later CEL (e.g. a batch's per-write `if`). */
function stageOverlay(ctx: Record<string, unknown>, tx: Tx): void {
  if (!tx.entries.size) return;
  const state = ctx.state as Record<string, unknown>;
  for (const [id, e] of tx.entries) {
    const [scope, key] = id.split("\u0000");
    const target = scope === tx.caller.id ? [scope, "self"] : [scope];
    for (const name of target) {
      if (!(name in state)) continue;
      const copy = { ...(state[name] as Record<string, unknown>) };
      if (e) copy[key] = celValue(e);
      else delete copy[key];
      state[name] = copy;
    }
  }
}

function checkQuotas(room: Room, tx: Tx): void {
  let added = 0;
  let bytes = 0;
  for (const [id, e] of tx.entries) {
    const [scope, key] = id.split("\u0000");
    const old = room.getEntry(scope, key);
    if (e && !old) added++;
    bytes += (e ? entryBytes(e) : 0) - (old ? entryBytes(old) : 0);
  }
  if (added && room.entryCount + added > tx.limits.roomMaxEntries) {
    throw new ApiError(
      "quota_exceeded",
      `this room is limited to ${tx.limits.roomMaxEntries} state entries`,
      {
        quota: "room_entries",
        limit: tx.limits.roomMaxEntries,
      },
    );
  }
  if (bytes > 0 && room.storedBytes + bytes > tx.limits.roomMaxBytes) {
    throw new ApiError("quota_exceeded", `this room is limited to ${tx.limits.roomMaxBytes} bytes of state`, {
      quota: "room_bytes",
      limit: tx.limits.roomMaxBytes,
      stored: room.storedBytes,
    });
  }
  if (tx.newMessages.length) checkMessageRate(room, tx);
}

/** Messages per room per second: a token bucket holding one second's worth, on the engine clock. */
const messageBuckets = new WeakMap<Room, { tokens: number; at: number }>();
function checkMessageRate(room: Room, tx: Tx): void {
  const rate = tx.limits.roomMessagesPerSec;
  if (!rate) return;
  const burst = Math.max(1, rate);
  let b = messageBuckets.get(room);
  if (!b) messageBuckets.set(room, b = { tokens: burst, at: tx.now });
  b.tokens = Math.min(burst, b.tokens + (Math.max(0, tx.now - b.at) / 1000) * rate);
  b.at = tx.now;
  const n = tx.newMessages.length;
  if (b.tokens < n) {
    const retry = Math.ceil(((n - b.tokens) / rate) * 1000);
    throw new ApiError(
      "quota_exceeded",
      `this room takes at most ${rate} messages per second; retry in ${retry} ms`,
      {
        quota: "room_messages_per_sec",
        limit: rate,
        retry_after_ms: retry,
      },
    );
  }
  b.tokens -= n;
}

/** Invocations by outcome (`ok`, `dry_run` or the refusal's error code), per engine, for /metrics. */
const outcomes = new WeakMap<Engine, Map<string, number>>();
export function invocationOutcomes(eng: Engine): Map<string, number> {
  let m = outcomes.get(eng);
  if (!m) outcomes.set(eng, m = new Map());
  return m;
}
function countOutcome(eng: Engine, outcome: string): void {
  const m = invocationOutcomes(eng);
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
}

export function toApiError(e: unknown): ApiError {
  if (isApiError(e)) return e;
  if (e instanceof z.ZodError) {
    const issue = e.issues[0];
    const field = issue?.path.join(".") || "params";
    const msg = issue?.code === "unrecognized_keys"
      ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((k) => JSON.stringify(k)).join(", ")
      }${field !== "params" ? ` in ${field}` : ""}`
      : `${field}: ${issue?.message}`;
    return new ApiError("invalid_params", msg, {
      field,
      issues: e.issues.slice(0, 10).map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  throw e;
}

async function findReply(eng: Engine, room: Room, caller: Caller, key: string) {
  const k = `${caller.id}\u0000${key}`;
  const since = new Date(eng.now() - IDEMPOTENCY_TTL_MS).toISOString();
  const hit = room.replies.get(k);
  if (hit) return hit.created_at > since ? hit : undefined;
  const stored = await readReply(eng.db, room.id, caller.id, key, since);
  if (stored) room.replies.set(k, stored);
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
