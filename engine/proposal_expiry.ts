/**
 * @module engine/proposal_expiry — a pending proposal expires at its `expires_at`: reads show it expired from
 * that moment (proposal_records.ts `statusAt`), and the room's scheduler (a key of its own) commits the
 * expiry then — one commit per proposal, audited as `_proposal_expired` by `system` — which wakes waiters.
 * Armed when a room is loaded (so a restart keeps it) and whenever a commit makes or decides a proposal.
 */
import type { Limits } from "../config.ts";
import type { Caller } from "../auth.ts";
import type { RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";
import { applyTx, Tx } from "./tx.ts";

/** The scheduler key of the room's next proposal expiry. */
const EXPIRY = "proposal-expiry";
const SYSTEM: Caller = Object.freeze({ kind: "admin", id: "admin" });

/** What an expiry needs of the engine (engine.ts passes itself; typed here so nothing imports back). */
export type ExpiryHost = {
  now(): number;
  readonly limits: Limits;
  readonly rooms: RoomRegistry;
  /** shutting down: nothing new is committed (what is pending is written by the last drain) */
  readonly closing: boolean;
};

/** (Re)arms the room's expiry job for its earliest pending proposal; clears it when there is none. */
export function armProposalExpiry(host: ExpiryHost, room: Room): void {
  if (!room.rt.alive) return;
  let next = Infinity;
  if (room.hasProposals) {
    for (const p of room.proposals.values()) {
      if (p.status === "pending" && p.expires_at !== null) next = Math.min(next, Date.parse(p.expires_at));
    }
  }
  if (next === Infinity) {
    // a room that never had a proposal has no job (and gets no scheduler: most rooms never need one)
    if (room.hasProposals) room.rt.scheduler.clear(EXPIRY);
    return;
  }
  if (room.rt.scheduler.due(EXPIRY) === next) return;
  room.rt.scheduler.set(EXPIRY, next, host.now(), () => void expireDue(host, room));
}

/** Commits the expiry of every proposal whose time has come, then arms for the next one. */
async function expireDue(host: ExpiryHost, room: Room): Promise<void> {
  if (!room.rt.alive || host.closing) return;
  const now = host.now();
  let expired = 0;
  for (const p of [...room.proposals.values()]) {
    if (p.status !== "pending" || p.expires_at === null || Date.parse(p.expires_at) > now) continue;
    const tx = new Tx(room, SYSTEM, now, host.limits);
    tx.proposals.set(p.id, { ...p, status: "expired", decided_at: p.expires_at });
    tx.audit = {
      ts: tx.iso,
      agent: "system",
      action: "_proposal_expired",
      builtin: true,
      params: { proposal: p.id },
      ok: true,
      status: 200,
      error: null,
    };
    applyTx(tx);
    expired++;
  }
  armProposalExpiry(host, room);
  if (!expired) return;
  try {
    await host.rooms.commit(room);
  } catch {
    // the batch failed (another process wrote first, or storage refused): the room left memory, and the
    // copy loaded next arms its own expiry from what storage holds
  }
}
