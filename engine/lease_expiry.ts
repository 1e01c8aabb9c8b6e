/**
 * @module engine/lease_expiry — leases that lapse: each one's `on_expire` runs exactly once, in a commit of
 * its own audited as `_lease_expired`. Lazily correct (a request into the room first expires what lapsed by
 * its moment) and timely (the room's scheduler wakes at the earliest lapse; a sign of life only moves lapses
 * later, so calls re-arm nothing). With other processes on the database, the seq compare-and-set decides
 * which process's expiry commit wins; the other reloads the room and finds it done.
 */
import { CelBudget, toCel } from "../cel.ts";
import { EXPIRY_CHUNK } from "../config.ts";
import { asRefusal } from "../errors.ts";
import { canWriteScope } from "../auth.ts";
import { actionContext, registrarOf, stageOverlay } from "./action_ctx.ts";
import { applyTemplate, canActionWrite } from "./actions.ts";
import type { Engine } from "./engine.ts";
import { endLease, leaseExpiresAt } from "./leases.ts";
import type { ActionDef, Lease } from "./model.ts";
import { refreshSeen } from "./presence.ts";
import { checkQuotas } from "./quotas.ts";
import type { Room } from "./room.ts";
import { JOB } from "./scheduler.ts";
import { applyTx, Tx } from "./tx.ts";

const NOOP = () => {};

/**
 * Before a request uses the room: expires every lease lapsed by now. Undefined on the common path (nothing
 * can have lapsed yet: one comparison, no promise).
 */
export function settleLeases(eng: Engine, room: Room): Promise<void> | undefined {
  const rt = room.rt;
  if (eng.now() < rt.leaseDue) return undefined;
  if (!room.hasLeases) {
    rt.leaseDue = Infinity;
    return undefined;
  }
  // one settling per room at a time: every request (and the scheduler) that finds it due waits for it
  return rt.settling ??= settle(eng, room).finally(() => rt.settling = undefined);
}

/**
 * A few hundred expiries at a time while more are due, each lot durable before the next is applied: the
 * batches stay small, so the writes of other rooms that share them are not held up behind thousands of
 * expiries (and other rooms' requests run in between).
 */
async function settle(eng: Engine, room: Room): Promise<void> {
  for (;;) {
    // another process may have seen the holders since (or expired the leases itself: then our commit loses
    // the seq compare-and-set, the room is reloaded, and the expiry is found done)
    if (eng.rooms.shared) await refreshSeen(eng, room).catch(NOOP);
    if (!room.rt.alive) return;
    const left = expireLapsed(eng, room, eng.now(), EXPIRY_CHUNK);
    if (!left) return;
    await eng.rooms.commit(room).catch(NOOP);
    // a timer, not a microtask or setImmediate: the event loop polls the network before it fires, so the
    // requests of other rooms that arrived meanwhile are read and join the next batch
    await new Promise((r) => setTimeout(r, 0));
  }
}

/**
 * Expires the leases lapsed at `now` (at most `max`, earliest first), each in a Tx of its own applied at once
 * and committed with the next batch, then arms the room's scheduler for the next lapse. Returns how many are
 * still due. The lapsed ones found by one scan are kept for the next calls (a settling of thousands scans
 * the room twice, not once per lot).
 */
export function expireLapsed(eng: Engine, room: Room, now: number, max = Infinity): number {
  const rt = room.rt;
  if (now < rt.leaseDue || !room.hasLeases) return 0;
  let queue = rt.lapsed?.length ? rt.lapsed : scan(room, now);
  let n = 0;
  while (queue.length && n < max) {
    const l = queue.pop()!;
    // renewed, released or taken over since the scan: not (or no longer) this lease's lapse
    if (room.getLease(l.scope, l.key) !== l || now < leaseExpiresAt(room, l)) continue;
    expireOne(eng, room, l, now);
    n++;
  }
  // durable with the next batch (a request that expired them commits its own write in the same one)
  if (n) eng.rooms.commit(room).catch(NOOP);
  if (!queue.length) queue = scan(room, now); // what lapsed meanwhile, and when the next one does
  rt.lapsed = queue;
  if (queue.length) {
    rt.leaseDue = now; // more are due: the settling in progress goes on with them
    return queue.length;
  }
  armLeases(eng, room);
  return 0;
}

/**
 * One pass over the room's leases: the lapsed ones, latest first (taken from the end), and — in `rt` — the
 * next lapse and the shortest ttl. A lease ends with its entry: one whose entry is gone expires into nothing.
 */
function scan(room: Room, now: number): Lease[] {
  const due: { l: Lease; at: number }[] = [];
  let next = Infinity;
  let minTtl = Infinity;
  for (const m of room.leases.values()) {
    for (const l of m.values()) {
      if (l.holder === null || (l.scope !== "_messages" && !room.getEntry(l.scope, l.key))) continue;
      if (l.ttl_ms < minTtl) minTtl = l.ttl_ms;
      const at = leaseExpiresAt(room, l);
      if (at <= now) due.push({ l, at });
      else if (at < next) next = at;
    }
  }
  room.rt.minTtl = minTtl;
  room.rt.leaseDue = next;
  return due.sort((a, b) => b.at - a.at).map((d) => d.l);
}

/**
 * Makes sure the room's scheduler wakes at the earliest possible lapse (`rt.leaseDue`). The job stays set
 * (at Infinity when every holder has a wait open) so an ending wait can bring it forward (presence.ts).
 */
export function armLeases(eng: Engine, room: Room): void {
  const rt = room.rt;
  const due = rt.scheduler.due(JOB.leases);
  if (due !== undefined && due <= rt.leaseDue) return;
  const now = eng.now();
  rt.scheduler.set(JOB.leases, rt.leaseDue, now, () => void expireOnTime(eng, room));
}

/** The scheduler's moment: with other processes, look at storage first (one of them may have done it). */
async function expireOnTime(eng: Engine, room: Room): Promise<void> {
  try {
    const r = eng.rooms.shared ? await eng.rooms.fresh(room.id) : room;
    if (r !== room) return void (await (settleLeases(eng, r) ?? armLeases(eng, r)));
    await (settleLeases(eng, room) ?? armLeases(eng, room));
  } catch { /* the room was deleted, or storage failed: the next request settles it */ }
}

/** The audit row of an expiry. */
function expiryAudit(tx: Tx, l: Lease, ok: boolean, status: number, error: string | null) {
  return {
    ts: tx.iso,
    agent: l.holder!,
    action: "_lease_expired",
    builtin: true,
    params: { scope: l.scope, key: l.key, holder: l.holder, epoch: l.epoch },
    ok,
    status,
    error,
  };
}

/**
 * One lapsed lease in a commit of its own: the lease ends, its effect runs with the authority of whoever
 * set it. Refused effects (a template's write refused, a quota) leave the entry as it was; the lease ends
 * all the same and the audit row says why.
 */
function expireOne(eng: Engine, room: Room, l: Lease, now: number): void {
  const holder = registrarOf(room, l.holder!);
  // an expiry is the room's own work: its CEL is bounded per expression, never refused for the room's time
  const cel = new CelBudget(eng.limits, "expiry");
  cel.overdraw = true;
  const op = { cel };
  let tx = new Tx(room, holder, now, eng.limits, op);
  try {
    endLease(tx, l);
    runOnExpire(tx, l);
    checkQuotas(tx);
    tx.audit = expiryAudit(tx, l, true, 200, null);
  } catch (e) {
    let code = "internal_error";
    let status = 500;
    try {
      const r = asRefusal(e);
      code = r.code;
      status = r.status;
    } catch {
      console.error(e); // a bug: logged, and the lease still ends
    }
    tx = new Tx(room, holder, now, eng.limits, op);
    endLease(tx, l);
    tx.audit = expiryAudit(tx, l, false, status, code);
  }
  applyTx(tx);
}

/**
 * A lease's effect, staged in `tx` (whose caller is the holder): `delete` the entry, `release` a message
 * claim, or its write templates — `${holder}`, `${scope}`, `${key}`, `${epoch}`, `${now}` substituted, CEL
 * reading with the authority of whoever set them (and `lease` = `{holder, scope, key, epoch}`), each write's
 * `if` selecting it (a write whose `if` does not hold is skipped).
 */
export function runOnExpire(tx: Tx, l: Lease): void {
  const effect = l.on_expire;
  if (effect === "delete") {
    if (tx.get(l.scope, l.key)) tx.delete(l.scope, l.key);
    return;
  }
  if (effect === "release") {
    const seq = Number(l.key);
    const m = tx.message(seq);
    if (m && m.claimed_by === l.holder) {
      tx.updatedMessages.set(seq, { ...m, claimed_by: null, claimed_at: null });
    }
    return;
  }
  const room = tx.room;
  const author = registrarOf(room, effect.by);
  const lease = { holder: l.holder, scope: l.scope, key: l.key, epoch: l.epoch };
  // the expressions read as an action registered by the author (its owner scope, the holder as invoker)
  const def = { id: "_lease_expired", scope: effect.owner ?? "_shared", registrar: effect.by } as ActionDef;
  const rc = { room, caller: tx.caller, now: tx.now, limits: tx.limits, op: tx.op, cel: tx.cel };
  const extra = { lease: toCel(lease) };
  const canWrite = effect.owner !== undefined
    ? (scope: string) => canActionWrite(tx.caller, effect.owner!, scope)
    : (scope: string) => canWriteScope(author, scope);
  const vars = { ...lease, now: tx.iso };
  effect.writes.forEach((tmpl, i) => {
    applyTemplate(tx, tmpl, `on_expire[${i}]`, vars, {
      ctx: () => {
        const c = actionContext(rc, def, extra, author);
        stageOverlay(c, tx);
        return c;
      },
      explain: () => undefined,
      registrar: author,
      canWrite,
      what: `the expiry of ${l.scope}.${l.key}`,
      ifSelects: true,
    });
  });
}
