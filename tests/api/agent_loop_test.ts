/**
 * The seed 000 Python agent loop (tests/agent_loop.py), run with a python3 that has httpx (Debian's
 * python3-httpx) against a started test server: it joins, lists actions, invokes one per turn, and its
 * messages land in the room.
 */
import { SEND_MESSAGE } from "../_seed_actions.ts";
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { findPython, ignoreWithout, PYTHON_MISSING } from "../_requirements.ts";

const SCRIPT = new URL("../agent_loop.py", import.meta.url).pathname;
const TURNS = 3;
const PYTHON = await findPython();

Deno.test("the seed 000 Python agent loop completes its turns and its messages appear in the room", {
  ignore: await ignoreWithout("python3-httpx"),
}, async (t) => {
  if (!PYTHON) throw new Error(`no python3 with httpx: ${PYTHON_MISSING}`);
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("my-room");
  // the room's one custom action: seed 000's send_message
  await c.ok(room.id, room.token, "_register_action", SEND_MESSAGE);

  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT],
    env: { AGENT_SYNC_BASE: s.base, AGENT_LOOP_TURNS: String(TURNS), NO_PROXY: "*", no_proxy: "*" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `agent_loop.py failed:\n${stderr}`);

  await t.step("the agent joined and is present", async () => {
    const agents = (await c.http("GET", `/rooms/${room.id}/agents`, { token: room.token })).json;
    const w = agents.find((a: { id: string }) => a.id === "worker-1");
    assert.equal(w.name, "Worker 1");
    assert.notEqual(w.last_heartbeat, null);
  });

  await t.step("each turn's invocation succeeded and posted its message", async () => {
    const ctx = await c.context(room.id, room.token, "?only=messages");
    const mine = ctx.messages.recent.filter((m: { from: string }) => m.from === "worker-1");
    assert.equal(mine.length, TURNS);
    assert.ok(
      mine.every((m: { body: string; kind: string }) => m.body === "doing work..." && m.kind === "chat"),
    );
    const poll = (await c.http("GET", `/rooms/${room.id}/poll`, { token: room.token })).json;
    const invocations = poll.audit.filter((a: { agent: string }) => a.agent === "worker-1");
    assert.equal(invocations.length, TURNS);
    assert.ok(invocations.every((a: { ok: boolean }) => a.ok), JSON.stringify(invocations));
  });
});
