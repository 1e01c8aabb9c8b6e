/**
 * @module engine/access — a request's way into a room: the room (checked against storage when other
 * processes share it), who the request's token is there, and the sign of life that gives (presence).
 */
import { actAs, type Caller, identify, requireReader } from "../auth.ts";
import { type ReadCtx, readCtx } from "./context.ts";
import type { Engine } from "./engine.ts";
import type { Op } from "./op.ts";
import { settleLeases } from "./lease_expiry.ts";
import { freshPresence, touch } from "./presence.ts";
import type { Room } from "./room.ts";

/** The room and who the token is in it (undefined without a token; `401 invalid_token` for a wrong one). */
export async function enterRoom(
  eng: Engine,
  roomId: string,
  op: Op,
): Promise<{ room: Room; caller?: Caller }> {
  let room = await eng.rooms.fresh(roomId);
  let caller = identify(room, op.token);
  // what lapsed by now has expired for every read (leases) and is known (presence across processes)
  const settling = settleLeases(eng, room) ?? freshPresence(eng, room);
  if (settling) {
    await settling;
    if (!room.rt.alive) {
      room = await eng.rooms.fresh(roomId);
      caller = identify(room, op.token);
    }
  }
  if (caller && !op.head) touch(eng, room, caller);
  return { room, caller };
}

/** A read: any token of the room; the room token may read as one of its agents (`agent`, the dashboard). */
export async function openRead(eng: Engine, roomId: string, op: Op, agent?: string): Promise<ReadCtx> {
  const { room, caller } = await enterRoom(eng, roomId, op);
  return readCtx(eng, room, actAs(room, requireReader(caller), agent), op);
}
