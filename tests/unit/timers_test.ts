import assert from "node:assert/strict";
import {
  isExpired,
  isGone,
  isLive,
  nextBoundary,
  parseTarget,
  renewTimer,
  startTimer,
  ticksRemaining,
} from "../../timers.ts";
import { ApiError } from "../../errors.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const noTicks = () => 0;

Deno.test("startTimer: ms, at and ticks; exactly one kind", () => {
  const ms = startTimer({ ms: 1000 }, T0, noTicks);
  assert.equal(ms.effect, "delete");
  assert.equal(ms.expires_at, "2026-01-01T00:00:01.000Z");
  const at = startTimer({ at: "2026-01-02T00:00:00Z", effect: "enable" }, T0, noTicks);
  assert.equal(at.expires_at, "2026-01-02T00:00:00.000Z");
  const tk = startTimer({ ticks: 3, tick_on: "_shared.turn" }, T0, () => 5);
  assert.equal(tk.expires_tick, 8);
  for (
    const bad of [
      {},
      { ms: 1, at: "2026-01-01T00:00:00Z" },
      { ms: 0 },
      { ms: -1 },
      { ticks: 2 },
      { ticks: 2, tick_on: "turn" },
      { ms: 5, tick_on: "_shared.turn" },
      { at: "not a date" },
      { ms: 1, effect: "boom" },
      { ms: 1, extra: true },
    ]
  ) {
    assert.throws(
      () => startTimer(bad, T0, noTicks, "timer"),
      (e) => e instanceof ApiError && e.code === "invalid_timer",
      JSON.stringify(bad),
    );
  }
});

Deno.test("isLive / isGone: delete is live until expiry, enable is dormant until expiry", () => {
  const del = startTimer({ ms: 1000, effect: "delete" }, T0, noTicks);
  const en = startTimer({ ms: 1000, effect: "enable" }, T0, noTicks);
  assert.equal(isLive(del, T0 + 999, noTicks), true);
  assert.equal(isLive(del, T0 + 1000, noTicks), false);
  assert.equal(isGone(del, T0 + 1000, noTicks), true);
  assert.equal(isLive(en, T0 + 999, noTicks), false);
  assert.equal(isLive(en, T0 + 1000, noTicks), true);
  assert.equal(isGone(en, T0 + 5000, noTicks), false);
  assert.equal(isLive(null, T0, noTicks), true);
  assert.equal(nextBoundary(del, T0), T0 + 1000);
  assert.equal(nextBoundary(del, T0 + 1000), undefined);
});

Deno.test("logical timers count ticks of their target, not time", () => {
  let turn = 10;
  const ticks = (t: string) => (t === "_shared.turn" ? turn : 0);
  const t = startTimer({ ticks: 2, tick_on: "_shared.turn", effect: "enable" }, T0, ticks);
  assert.equal(ticksRemaining(t, ticks), 2);
  assert.equal(isExpired(t, T0 + 1e9, ticks), false);
  turn++;
  assert.equal(ticksRemaining(t, ticks), 1);
  turn++;
  assert.equal(isLive(t, T0, ticks), true);
  assert.equal(ticksRemaining(t, ticks), 0);
  assert.equal(nextBoundary(t, T0), undefined);
});

Deno.test("renewTimer restarts an ms timer from now; other kinds cannot be renewed", () => {
  const t = startTimer({ ms: 1000 }, T0, noTicks);
  const r = renewTimer(t, T0 + 800)!;
  assert.equal(r.expires_at, new Date(T0 + 1800).toISOString());
  assert.equal(renewTimer(startTimer({ at: "2026-02-01T00:00:00Z" }, T0, noTicks), T0), undefined);
  assert.equal(renewTimer(startTimer({ ticks: 1, tick_on: "_s.k" }, T0, noTicks), T0), undefined);
});

Deno.test("parseTarget splits at the first dot", () => {
  assert.deepEqual(parseTarget("_shared.turn"), ["_shared", "turn"]);
  assert.deepEqual(parseTarget("_shared.a.b"), ["_shared", "a.b"]);
  assert.equal(parseTarget("turn"), undefined);
  assert.equal(parseTarget(".x"), undefined);
  assert.equal(parseTarget("x."), undefined);
});
