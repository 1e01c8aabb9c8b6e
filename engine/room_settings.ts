/**
 * @module engine/room_settings — `PATCH /rooms/:id` (room token): a room's settings, one body field per
 * setting (`liveness_ms`: its liveness window, `history`: its retention). A change is a commit like any other
 * (the cursor moves, the history lists it as `_patch_room`), under the registry's stale-commit policy.
 */
import { requireAdmin } from "../auth.ts";
import type { PatchRoom } from "../wire.ts";
import { enterRoom } from "./access.ts";
import type { Engine } from "./engine.ts";
import { windowOf } from "./liveness.ts";
import { roomJson } from "./membership.ts";
import type { Op } from "./op.ts";
import { goneSooner, presenceChanged } from "./presence.ts";
import { retentionJson, setRetention } from "./retention.ts";
import { touchAgents } from "./snapshot.ts";
import { applyTx, Tx } from "./tx.ts";

/**
 * `liveness_ms` (null: back to the server's default): agents' `gone` follows the new window at once (a
 * lease keeps the ttl it was taken with). `history`: the room's retention, at most the server's.
 */
export function patchRoom(eng: Engine, roomId: string, op: Op, p: PatchRoom) {
  return eng.rooms.retrying(async () => {
    const { room, caller } = await enterRoom(eng, roomId, op);
    const admin = requireAdmin(caller);
    const now = eng.now();
    const liveness = p.liveness_ms !== undefined;
    if (liveness) {
      room.liveness_ms = p.liveness_ms!;
      room.rt.dirty.room = true;
      touchAgents(room);
    }
    if (p.history) setRetention(eng.limits, room, p.history);
    const tx = new Tx(room, admin, now, eng.limits, op);
    tx.label = "_patch_room";
    applyTx(tx);
    if (liveness) {
      goneSooner(room, now, now); // look again at who is gone, with the new window
      for (const id of room.agents.keys()) presenceChanged(room, id); // who is gone may have changed
    }
    await eng.rooms.commit(room);
    // the settings in force: the room's, or the server's
    return {
      ...roomJson(room),
      liveness_ms: windowOf(room, eng.limits),
      history: retentionJson(eng.limits, room),
    };
  });
}
