/**
 * @module engine/hidden — what exists but is not live, and why: state entries and views that are dormant
 * (an `enable` timer still pending) or disabled (`enabled` not true). Listed only for readers privacy.ts
 * `seesHidden` allows (the room and view tokens); CEL contexts and agents never see any of it.
 */
import { isGone, isLive } from "../timers.ts";
import type { ReadCtx } from "./context.ts";
import type { Entry, ViewDef } from "./model.ts";
import { liveScope, viewLive } from "./snapshot.ts";

export type Hidden = "dormant" | "disabled";

/** One scope's entries in stored order, each with why it is hidden (undefined: live). */
export function scopeEntries(rc: ReadCtx, scope: string): { entry: Entry; hidden?: Hidden }[] {
  const live = new Set(liveScope(rc.room, scope, rc.now, rc.limits, rc.cel).entries);
  const ticks = (t: string) => rc.room.tick(t);
  const out: { entry: Entry; hidden?: Hidden }[] = [];
  for (const e of rc.room.scopes.get(scope)?.values() ?? []) {
    if (live.has(e)) out.push({ entry: e });
    else if (isGone(e.timer, rc.now, ticks)) continue; // its delete timer fired: gone, not hidden
    else out.push({ entry: e, hidden: isLive(e.timer, rc.now, ticks) ? "disabled" : "dormant" });
  }
  return out;
}

/** Why a view without a live value is hidden; undefined when it is gone (its delete timer fired). */
export function viewHidden(rc: ReadCtx, v: ViewDef): Hidden | undefined {
  if (isGone(v.timer, rc.now, (t) => rc.room.tick(t))) return undefined;
  return viewLive(rc.room, v, rc.now) ? "disabled" : "dormant";
}
