/**
 * @module engine/leases — leased writes: who holds a key, until when, and the fencing every write obeys. A
 * lease lasts while its holder shows signs of life (liveness.ts): it lapses `ttl_ms` after the holder's last
 * one (or its last write to the entry), never while the holder has a wait or feed open. Staged in the Tx
 * like entries and applied by `applyTx`; what happens when one lapses is lease_expiry.ts's.
 */
import { isRoomToken } from "../auth.ts";
import { type CelMap, toCel } from "../cel.ts";
import { type Limits, LIVENESS_MAX_MS, LIVENESS_MIN_MS } from "../config.ts";
import { ApiError } from "../errors.ts";
import { isGone } from "../timers.ts";
import { isoMs, lastSeenMs, windowOf } from "./liveness.ts";
import { entryId, type Lease, type OnExpire, type WriteTemplate } from "./model.ts";
import type { Room } from "./room.ts";
import { checkTemplate, checkWriteTemplate, EXPIRY_NAMES } from "./templates.ts";
import type { Tx } from "./tx.ts";

/** A live lease as readers see it. */
export type LeaseView = { holder: string; epoch: number; expires_at: string };

/** Who set an expiry's writes: they run with that authority (`owner`: the setting action's owner scope). */
export type LeaseAuthor = { by: string; owner?: string };

/** What a leased write asks for: how long past the holder's last sign of life, and what then. */
export type LeaseTerms = { ttl_ms: number; on_expire?: OnExpire };

/** A write's `lease` as parsed (write_modes.ts `LeaseSpec`). */
type LeaseAsked = true | { ttl_ms?: number | string; on_expire?: "delete" | Record<string, unknown>[] };

/**
 * When the lease lapses (ms): `ttl_ms` after the later of its holder's last sign of life and its last write
 * to the entry (never before the service's start); `Infinity` while the holder has a wait or feed open.
 */
export function leaseExpiresAt(room: Room, l: Lease): number {
  if (l.holder === null) return -Infinity;
  if (room.rt.isConnected(l.holder)) return Infinity;
  let seen = Math.max(room.rt.floor, isoMs(l.renewed_at));
  const a = room.agents.get(l.holder);
  if (a) seen = Math.max(seen, lastSeenMs(a));
  return seen + l.ttl_ms;
}

/** Held at `now`: it has a holder and has not lapsed. */
export function isHeld(room: Room, l: Lease | undefined, now: number): l is Lease {
  return l !== undefined && l.holder !== null && now < leaseExpiresAt(room, l);
}

/** The lease as readers see it (`expires_at` of a holder with a connection open: a ttl from now). */
export function leaseView(room: Room, l: Lease, now: number): LeaseView {
  const at = leaseExpiresAt(room, l);
  return {
    holder: l.holder!,
    epoch: l.epoch,
    expires_at: new Date(at === Infinity ? now + l.ttl_ms : at).toISOString(),
  };
}

/**
 * The live lease of (scope, key) as the Tx sees it (staged first). A lease ends with its entry: one whose
 * entry is gone (deleted, its delete timer fired) holds nothing. A message is always there.
 */
export function liveLease(tx: Tx, scope: string, key: string): Lease | undefined {
  const l = tx.lease(scope, key);
  if (!l || l.holder === null) return undefined;
  if (scope !== "_messages" && !tx.get(scope, key)) return undefined;
  return isHeld(tx.room, l, tx.now) ? l : undefined;
}

/** An `if_epoch` given as a number or (from a template) a numeric string. */
export function epochOf(v: number | string | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new ApiError("invalid_body", `${field} must be a non-negative integer, got ${JSON.stringify(v)}`, {
      field,
    });
  }
  return n;
}

/**
 * The fencing rule of every write (and delete) of (scope, key) by `tx.caller`, the room token included:
 * `if_epoch` must name the live lease (else `409 lease_lost` with the current one), and while someone else
 * holds a live lease the write is `409 lease_held`. Returns the lease when the caller holds it (the write
 * then renews it). `readable`: whether the caller may see the scope (a lease in one it may not is not shown).
 */
export function checkFence(
  tx: Tx,
  scope: string,
  key: string,
  ifEpoch: number | undefined,
  readable: boolean,
): Lease | undefined {
  const l = liveLease(tx, scope, key);
  if (ifEpoch !== undefined && (!l || l.epoch !== ifEpoch)) {
    const current = l ? leaseView(tx.room, l, tx.now) : null;
    throw new ApiError(
      "lease_lost",
      l
        ? `${scope}.${key} is leased at epoch ${l.epoch}, not ${ifEpoch}: the lease was lost`
        : `${scope}.${key} has no live lease (epoch ${ifEpoch} lapsed or was released)`,
      { scope, key, expected_epoch: ifEpoch, ...(readable ? { current } : {}) },
    );
  }
  if (l && l.holder !== tx.caller.id) throw leaseHeld(tx, l, readable);
  return l;
}

export function leaseHeld(tx: Tx, l: Lease, readable: boolean): ApiError {
  return new ApiError(
    "lease_held",
    readable
      ? `${l.scope}.${l.key} is leased by ${l.holder} (epoch ${l.epoch})`
      : `${l.scope}.${l.key} is leased by someone else`,
    { scope: l.scope, key: l.key, ...(readable ? leaseView(tx.room, l, tx.now) : {}) },
  );
}

/** A `ttl_ms` given as a number or (from a template) a numeric string, within the limits. */
function ttlOf(v: number | string, field: string): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < LIVENESS_MIN_MS || n > LIVENESS_MAX_MS) {
    throw new ApiError(
      "invalid_body",
      `${field} must be an integer of ${LIVENESS_MIN_MS}-${LIVENESS_MAX_MS} ms, got ${JSON.stringify(v)}`,
      { field },
    );
  }
  return n;
}

/**
 * The terms a write's `lease` asks for (undefined: none): `true` or no `ttl_ms` is the room's window.
 * Expiry writes are checked here and remember who set them (`author`, default: the caller).
 */
export function leaseTerms(
  tx: Tx,
  spec: LeaseAsked | undefined,
  field: string,
  author?: LeaseAuthor,
): LeaseTerms | undefined {
  if (spec === undefined) return undefined;
  if (spec === true) return { ttl_ms: windowOf(tx.room, tx.limits) };
  const ttl_ms = spec.ttl_ms === undefined
    ? windowOf(tx.room, tx.limits)
    : ttlOf(spec.ttl_ms, `${field}.lease.ttl_ms`);
  if (spec.on_expire === undefined) return { ttl_ms };
  if (spec.on_expire === "delete") return { ttl_ms, on_expire: "delete" };
  checkExpiryWrites(spec.on_expire, `${field}.lease`, tx.limits);
  const by = author ?? { by: isRoomToken(tx.caller) ? "admin" : tx.caller.id };
  return { ttl_ms, on_expire: { writes: spec.on_expire as WriteTemplate[], ...by } };
}

/** An `on_expire` list as written (at a write, or in an action's template at registration). */
export function checkExpiryWrites(writes: unknown, field: string, limits: Limits): void {
  if (!Array.isArray(writes)) return;
  const cel = { maxLength: limits.maxCelLength, timeoutMs: limits.celTimeoutMs };
  writes.forEach((w: WriteTemplate, i) => {
    const f = `${field}.on_expire[${i}]`;
    checkTemplate(w, f, null, EXPIRY_NAMES);
    checkWriteTemplate(w, f, cel);
  });
}

/**
 * Stages what a write does to the entry's lease: a leased write by someone who does not hold it acquires it
 * (the epoch grows by one, whatever happened to the key before); the holder's writes, leased or not, renew
 * it (new terms replace the old; `on_expire` is kept unless given).
 */
export function stageLease(
  tx: Tx,
  scope: string,
  key: string,
  held: Lease | undefined,
  terms: LeaseTerms | undefined,
): Lease | undefined {
  if (held) {
    const l = {
      ...held,
      renewed_at: tx.iso,
      ttl_ms: terms?.ttl_ms ?? held.ttl_ms,
      on_expire: terms?.on_expire ?? held.on_expire,
    };
    tx.leases.set(entryId(scope, key), l);
    return l;
  }
  return terms ? acquire(tx, scope, key, terms.ttl_ms, terms.on_expire ?? "delete") : undefined;
}

/** A new lease of (scope, key) for `holder` (default: the caller): the next epoch of the key. */
export function acquire(
  tx: Tx,
  scope: string,
  key: string,
  ttl_ms: number,
  on_expire: OnExpire,
  holder = tx.caller.id,
): Lease {
  const l: Lease = {
    scope,
    key,
    epoch: (tx.lease(scope, key)?.epoch ?? 0) + 1,
    holder,
    ttl_ms,
    renewed_at: tx.iso,
    on_expire,
  };
  tx.leases.set(entryId(scope, key), l);
  return l;
}

/** Ends (scope, key)'s lease in the Tx: no holder, the epoch kept. */
export function endLease(tx: Tx, l: Lease): void {
  tx.leases.set(entryId(l.scope, l.key), { ...l, holder: null });
}

/** The live leases of one scope (key → lease view), or undefined when it has none. */
export function scopeLeases(room: Room, scope: string, now: number): Record<string, LeaseView> | undefined {
  const m = room.leases.get(scope);
  if (!m) return undefined;
  let out: Record<string, LeaseView> | undefined;
  for (const l of m.values()) {
    if (!isHeld(room, l, now) || !entryThere(room, scope, l.key, now)) continue;
    (out ??= {})[l.key] = leaseView(room, l, now);
  }
  return out;
}

/** A lease ends with its entry: one deleted, or whose delete timer fired, shows no lease. */
function entryThere(room: Room, scope: string, key: string, now: number): boolean {
  if (scope === "_messages") return true;
  const e = room.getEntry(scope, key);
  return e !== undefined && !isGone(e.timer, now, (t) => room.tick(t));
}

/** The lease of one entry as its row shows it (`/state`, `/poll`): the view while live, else null. */
export function entryLease(room: Room, scope: string, key: string, now: number): LeaseView | null {
  const l = room.getLease(scope, key);
  return isHeld(room, l, now) && entryThere(room, scope, key, now) ? leaseView(room, l, now) : null;
}

/**
 * `leases` in CEL, mirroring `state`: exactly the scopes `state` holds (`self` too), each `{key: {holder,
 * epoch, expires_at}}` for its live leases (`{}` when none). A scope is built when an expression first
 * reads it, so a context that never reads `leases` costs nothing.
 */
export function leasesCel(room: Room, now: number, state: Record<string, unknown>, own?: string): CelMap {
  const built: Record<string, unknown> = {};
  const load = (k: string | symbol) => {
    if (typeof k !== "string" || Object.hasOwn(built, k) || !Object.hasOwn(state, k)) return;
    const scope = k === "self" ? own : k;
    built[k] = toCel((scope !== undefined && room.hasLeases && scopeLeases(room, scope, now)) || {});
  };
  return new Proxy(built, {
    get: (t, k, r) => (load(k), Reflect.get(t, k, r)),
    has: (t, k) => (load(k), Reflect.has(t, k)),
    getOwnPropertyDescriptor: (t, k) => (load(k), Reflect.getOwnPropertyDescriptor(t, k)),
    ownKeys: (t) => {
      for (const k of Object.keys(state)) load(k);
      return Reflect.ownKeys(t);
    },
  });
}
