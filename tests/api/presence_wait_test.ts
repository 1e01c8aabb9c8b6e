import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";

Deno.test("wait on agents.<id>.status wakes when that agent starts waiting (presence is not a commit)", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("presence");
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  const cursor = (await c.context(room.id, alice)).cursor;
  // 800 ms: shorter than the lazy presence flush (1 s), so only a presence wake-up can trigger this wait
  const watching = c.http(
    "GET",
    `/rooms/${room.id}/wait?condition=${
      encodeURIComponent('agents.bob.status == "waiting"')
    }&include=agents&timeout=800`,
    { token: alice },
  );
  const ac = new AbortController();
  const bobWait = c.http("GET", `/rooms/${room.id}/wait?condition=false&timeout=5000`, {
    token: bob,
    signal: ac.signal,
  });
  const r = await watching;
  assert.equal(r.json.triggered, true);
  assert.equal(r.json.agents.bob.waiting_on, "false");
  assert.equal(r.json.cursor, cursor, "no commit was needed");
  ac.abort();
  await bobWait.catch(() => {});
});
