/**
 * @module engine/room_settings — `PATCH /rooms/:id` (room token): a room's settings, one body field per
 * setting (`history`: its retention). A change is a commit like any other (the cursor moves, the history
 * lists it as `_patch_room`), under the registry's stale-commit policy.
 */
import { requireAdmin } from "../auth.ts";
import type { PatchRoom } from "../wire.ts";
import { enterRoom } from "./access.ts";
import type { Engine } from "./engine.ts";
import { roomJson } from "./membership.ts";
import type { Op } from "./op.ts";
import { retentionJson, setRetention } from "./retention.ts";
import { applyTx, Tx } from "./tx.ts";

export function patchRoom(eng: Engine, roomId: string, op: Op, p: PatchRoom) {
  return eng.rooms.retrying(async () => {
    const { room, caller } = await enterRoom(eng, roomId, op);
    const admin = requireAdmin(caller);
    if (p.history) setRetention(eng.limits, room, p.history);
    const tx = new Tx(room, admin, eng.now(), eng.limits, op);
    tx.label = "_patch_room";
    applyTx(tx);
    await eng.rooms.commit(room);
    return { ...roomJson(room), history: retentionJson(eng.limits, room) };
  });
}
