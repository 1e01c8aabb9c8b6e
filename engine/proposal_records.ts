/**
 * @module engine/proposal_records — a commit's proposals stored in the room (tx.ts `applyTx` calls it):
 * new and decided ones replace their record, and beyond PROPOSALS_DECIDED_KEPT the oldest decided ones are
 * dropped (from storage too: a dirty id that is gone from memory is a removal). No rules here.
 */
import { PROPOSALS_DECIDED_KEPT } from "../config.ts";
import type { Proposal } from "./model.ts";
import type { Room } from "./room.ts";

/** Stores `staged` in the room and marks each dirty; returns their ids for the commit record. */
export function storeProposals(room: Room, staged: Map<string, Proposal>): string[] {
  const ids: string[] = [];
  let decided = false;
  for (const [id, p] of staged) {
    room.proposals.set(id, p);
    room.rt.dirty.proposal(id);
    ids.push(id);
    if (p.status !== "pending") decided = true;
  }
  if (decided) dropOldDecided(room);
  return ids;
}

function dropOldDecided(room: Room): void {
  let n = 0;
  for (const p of room.proposals.values()) if (p.status !== "pending") n++;
  // the map is in the order proposals were made: the first decided ones are the oldest
  for (const [id, p] of room.proposals) {
    if (n <= PROPOSALS_DECIDED_KEPT) break;
    if (p.status === "pending") continue;
    room.proposals.delete(id);
    room.rt.dirty.proposal(id);
    n--;
  }
}

/** The number of proposals still pending at `now` (an expired one no longer counts). */
export function pendingCount(room: Room, now: number): number {
  let n = 0;
  for (const p of room.proposals.values()) if (statusAt(p, now) === "pending") n++;
  return n;
}

/** A proposal's status at `now`: a pending one whose time has passed reads as expired, for every reader. */
export function statusAt(p: Proposal, now: number): Proposal["status"] {
  return p.status === "pending" && p.expires_at !== null && now >= Date.parse(p.expires_at)
    ? "expired"
    : p.status;
}
