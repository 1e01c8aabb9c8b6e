/**
 * What the client tests share: the README walk-through's `take_turn`, the three-agent rotation game's
 * `play`, and a bounded poll for eventual conditions.
 */
import { until as untilHolds } from "../_setup.ts";

/** The README walk-through's action: only the current player moves, and names who is next. */
export const TAKE_TURN = {
  id: "take_turn",
  description: "Play a move and pass the turn",
  params: { move: { type: "string", required: true }, next: { type: "string", required: true } },
  if: "state._shared.player == self",
  writes: [
    { scope: "_shared", key: "last_move", value: { by: "${self}", move: "${params.move}" } },
    { scope: "_shared", key: "turn", increment: true },
    { scope: "_shared", key: "player", value: "${params.next}" },
  ],
};

/** reference/examples.md's rotation game: each move is a message, the turn passes along `_shared.next`. */
export const PLAY = {
  id: "play",
  description: "Play on your turn; the turn passes to the next player",
  params: { move: { type: "string", required: true } },
  if: "state._shared.player == self",
  writes: [
    { scope: "_messages", append: true, value: { kind: "move", body: "${params.move}" } },
    { scope: "_shared", key: "round", increment: true },
    { scope: "_shared", key: "player", expr: true, value: "state._shared.next[self]" },
  ],
};

export const PLAYERS = ["p1", "p2", "p3"];

/** `_batch_set_state` params that start the rotation game with p1 to move. */
export const GAME_START = {
  writes: [
    { scope: "_shared", key: "next", value: { p1: "p2", p2: "p3", p3: "p1" } },
    { scope: "_shared", key: "round", value: 0 },
    { scope: "_shared", key: "player", value: "p1" },
  ],
};

export const MY_TURN = "state._shared.player == self";

/** Polls `ok` until it holds (bounded: an eventual condition, not a timing assertion); tests/_setup.ts's. */
export function until(ok: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<true> {
  return untilHolds(ok, { what, timeoutMs: limitMs });
}
