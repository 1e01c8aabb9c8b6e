import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

Deno.test("POST /rooms then _set_state and /context round-trip", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("smoke");
  const alice = await c.join(room.id, "alice");
  const w = await c.ok(room.id, alice, "_set_state", { key: "hp", value: 10 });
  assert.equal(w.writes[0].version, 1);
  const ctx = await c.context(room.id, alice);
  assert.deepEqual(ctx.state.self, { hp: 10 });
});
