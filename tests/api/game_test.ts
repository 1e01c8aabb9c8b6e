/**
 * The three-agent turn game of issue 9 over real HTTP (the same code as `bench/game.ts`): strict rotation,
 * no duplicate or missed wake-ups, and with invoke-and-wait one call and under 1,000 bytes per turn.
 */
import assert from "node:assert/strict";
import { startServer } from "../_server.ts";
import { playGame } from "../../bench/game.ts";

const TURNS = 30;

Deno.test("three agents with invoke-and-wait play 30 turns in strict rotation, one call per turn", async () => {
  await using s = await startServer();
  const r = await playGame(s.base, "one_call", { turns: TURNS });
  assert.deepEqual(r.played, Array.from({ length: TURNS }, (_, i) => `p${(i % 3) + 1}`));
  assert.equal(r.rotationErrors, 0);
  assert.equal(r.duplicateWakeups, 0);
  assert.equal(r.missedWakeups, 0);
  assert.equal(r.turnCalls, TURNS, "one call per turn");
  assert.equal(r.extraCalls, 3, "plus each agent's first sync");
  assert.equal(r.handoffs.length, TURNS - 1, "every hand-off woke exactly the next player");
  for (const [i, b] of r.turnBytes.entries()) assert.ok(b <= 1000, `turn ${i + 1} took ${b} response bytes`);
  // no growth with the number of turns: a later round costs what an early one did (turns 10-12 and 25-27
  // both print two-digit numbers; a few bytes of slack for elapsed_ms)
  const round = (k: number) => r.turnBytes.slice(k - 1, k + 2).reduce((a, b) => a + b, 0);
  assert.ok(round(25) - round(10) <= 3 * 3, `round bytes grew from ${round(10)} to ${round(25)}`);
  assert.equal(s.eng.metrics.waiters, 0);
});

Deno.test("three agents with separate wait, take_turn and pass_turn calls play in strict rotation", async () => {
  await using s = await startServer();
  const r = await playGame(s.base, "separate", { turns: 12 });
  assert.deepEqual(r.played, Array.from({ length: 12 }, (_, i) => `p${(i % 3) + 1}`));
  assert.equal(r.duplicateWakeups, 0);
  assert.equal(r.missedWakeups, 0);
  assert.equal(r.turnCalls, 3 * 12);
  assert.equal(r.handoffs.length, 11);
  assert.equal(s.eng.metrics.waiters, 0);
});
