/**
 * @module engine/credential — what an open wait or feed was opened with: the token's hash, who it was, and
 * the room's incarnation (its room-token hash: a room re-created under the same id is another room). Every
 * wake-up asks `recheck` first, so a rotated token or a deleted room ends it before anything is evaluated.
 */
import { type Caller, hashToken } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { Op } from "./op.ts";
import type { Room } from "./room.ts";

export type Credential = {
  /** the room's incarnation when it was opened */
  readonly room: string;
  /** the hash of the token it was opened with (undefined: opened by the engine itself, no token) */
  readonly token?: string;
  /** who that token was, as it was opened (`?agent=` applied) */
  readonly caller: Caller;
};

export function credentialOf(room: Room, caller: Caller, op: Op): Credential {
  return { room: room.token_hash, token: op.token === undefined ? undefined : hashToken(op.token), caller };
}

/**
 * The caller the credential stands for in `room` now (grants as they are now): `404 room_not_found` when the
 * room is another incarnation, `401 invalid_token` when the token no longer opens it (a re-join rotated the
 * agent's token, the view token was rotated). A few string comparisons: no hashing per wake-up; `last`
 * (what the previous wake-up returned) is returned again while the agent record is the same object.
 */
export function recheck(room: Room, cred: Credential, last: Caller = cred.caller): Caller {
  if (room.token_hash !== cred.room) {
    throw new ApiError("room_not_found", `room ${room.id} was deleted`, { room: room.id });
  }
  const c = cred.caller;
  const agent = c.kind === "agent" ? room.agents.get(c.id) : undefined;
  if (cred.token !== undefined) {
    const current = c.kind === "admin" || (c.kind === "agent" && c.viaRoomToken)
      ? room.token_hash
      : c.kind === "viewer"
      ? room.view_token_hash
      : agent?.token_hash;
    if (current !== cred.token) throw invalid();
  }
  if (c.kind !== "agent") return c;
  if (!agent) throw invalid();
  if (last.kind === "agent" && last.agent === agent) return last;
  return { ...c, agent };
}

function invalid(): ApiError {
  return new ApiError(
    "invalid_token",
    "the bearer token this was opened with is no longer valid for this room",
  );
}
