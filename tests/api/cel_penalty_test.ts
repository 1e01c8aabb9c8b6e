/**
 * The CEL penalty (one second of `429 rate_limited` for a token whose own expressions were answered
 * `cel_limit` twice within a second) follows measured evaluation: a waiter cut off after its request began
 * counts, an over-long expression trickled in slowly does not (issue 14.7).
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { until } from "../_setup.ts";

const HEAVY = "state._shared.l.all(a, state._shared.l.all(b, state._shared.l.all(c, a + b + c >= 0)))";

async function heavyRoom(base: string) {
  const c = client(base);
  const room = await c.createRoom("penalty");
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  return {
    c,
    room,
    alice,
    bob,
    fill: () =>
      c.ok(room.id, room.token, "_set_state", {
        scope: "_shared",
        key: "l",
        value: Array.from({ length: 300 }, (_, i) => i),
      }),
  };
}

Deno.test("a token whose expressions hit cel_limit twice in a second is answered 429 rate_limited for a moment; others are not", async () => {
  await using s = await startServer({ limits: { celTimeoutMs: 20 } });
  const { c, room, alice, bob, fill } = await heavyRoom(s.base);
  await fill();
  const r1 = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: HEAVY } });
  assert.equal(r1.status, 400);
  assert.equal(r1.json.error, "cel_limit");
  const once = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: "1 + 2" } });
  assert.equal(once.status, 200, "one cut-off is not penalised");
  const again = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: HEAVY } });
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

Deno.test("waits whose re-evaluation after a commit is cut off end cel_limit and count for their token's penalty", async () => {
  await using s = await startServer({ limits: { celTimeoutMs: 20 } });
  const { c, room, alice, bob, fill } = await heavyRoom(s.base);
  // cheap while the list is empty: both waits block
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "l", value: [] });
  const cond = encodeURIComponent(`${HEAVY} && state._shared.never == true`);
  const waits = [0, 1].map(() =>
    c.http("GET", `/rooms/${room.id}/wait?condition=${cond}&timeout=20000`, { token: alice })
  );
  await until(async () => (await c.http("GET", "/metrics")).text.includes("agent_sync_waiters 2"), {
    what: "both waits blocked",
  });
  await fill(); // the commit that makes the condition expensive: both re-evaluations are cut off
  for (const w of await Promise.all(waits)) {
    assert.equal(w.status, 400, w.text);
    assert.equal(w.json.error, "cel_limit");
    assert.match(w.json.message, /condition/);
  }
  const next = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: "1" } });
  assert.equal(next.status, 429, "the waits' cut-off re-evaluations were the token's");
  const other = await c.http("POST", `/rooms/${room.id}/eval`, { token: bob, body: { expr: "1" } });
  assert.equal(other.status, 200);
});

Deno.test("over-long expressions sent slowly are instant refusals: no penalty for the time the body took", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("slow");
  const long = JSON.stringify({ expr: `1 == 1${" && true".repeat(600)}` });
  const u = new URL(s.base);
  for (let k = 0; k < 3; k++) {
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    try {
      const enc = new TextEncoder();
      await conn.write(enc.encode(
        `POST /rooms/slow/eval HTTP/1.1\r\nhost: ${u.host}\r\nauthorization: Bearer ${room.token}\r\n` +
          `content-type: application/json\r\ncontent-length: ${long.length}\r\nconnection: close\r\n\r\n`,
      ));
      // the body in two parts, the second after a pause (the head and first part arrive well before it)
      await conn.write(enc.encode(long.slice(0, 100)));
      await new Promise((r) => setTimeout(r, 150));
      await conn.write(enc.encode(long.slice(100)));
      const buf = new Uint8Array(65536);
      let text = "";
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      assert.match(text.split("\r\n")[0], / 400 /, text);
      assert.match(text, /"error":"cel_limit"/);
    } finally {
      conn.close();
    }
  }
  const after = await c.http("POST", `/rooms/slow/eval`, { token: room.token, body: { expr: "2" } });
  assert.equal(after.status, 200, after.text);
});

Deno.test("an invoke-and-wait whose condition is cut off counts for the penalty like a /wait", async () => {
  await using s = await startServer({ limits: { celTimeoutMs: 20 } });
  const { c, room, alice, fill } = await heavyRoom(s.base);
  await fill();
  for (let i = 0; i < 2; i++) {
    const r = await c.invoke(room.id, alice, "_set_state", { key: "n", value: i }, {
      wait: { condition: HEAVY, timeout: 1000 },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, "cel_limit");
  }
  const next = await c.http("POST", `/rooms/${room.id}/eval`, { token: alice, body: { expr: "1" } });
  assert.equal(next.status, 429);
});
