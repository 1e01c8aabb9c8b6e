import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

Deno.test("a token whose expressions hit cel_limit twice in a second is answered 429 rate_limited for a moment; others are not", async () => {
  await using s = await startServer({ limits: { celTimeoutMs: 20 } });
  const c = client(s.base);
  const room = await c.createRoom("penalty");
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, room.token, "_set_state", {
    scope: "_shared",
    key: "l",
    value: Array.from({ length: 300 }, (_, i) => i),
  });
  const heavy = "state._shared.l.all(a, state._shared.l.all(b, state._shared.l.all(c, a + b + c >= 0)))";
  const r1 = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: heavy } });
  assert.equal(r1.status, 400);
  assert.equal(r1.json.error, "cel_limit");
  const once = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: "1 + 2" } });
  assert.equal(once.status, 200, "one cut-off is not penalised");
  const again = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: heavy } });
  assert.equal(again.json.error, "cel_limit");
  const r2 = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: "1 + 2" } });
  assert.equal(r2.status, 429);
  assert.equal(r2.json.error, "rate_limited");
  assert.equal(r2.headers.get("x-error-code"), "rate_limited");
  assert.ok(Number(r2.headers.get("retry-after")) >= 1);
  const r3 = await c.http("POST", `/rooms/${room.id}/eval`, { token: bob, body: { expr: "1 + 2" } });
  assert.equal(r3.status, 200);
  assert.equal(r3.json.value, 3);
});
