/**
 * README "Client libraries": its Python and TypeScript loops, run as written (only the TypeScript import
 * points at this checkout), play the walk-through's game against each other through the two clients.
 */
import assert from "node:assert/strict";
import { Client } from "../../clients/typescript/mod.ts";
import { startServer } from "../_server.ts";
import { TAKE_TURN } from "./_fixture.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
const MOD = new URL("../../clients/typescript/mod.ts", import.meta.url).href;
const PYTHON_PACKAGE = new URL("../../clients/python/", import.meta.url).pathname;

function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = README.indexOf("\n## ", start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

const blocks = (text: string, lang: string) =>
  [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);

Deno.test("README client loops: Python (alice) and TypeScript (bob) alternate three turns each", async () => {
  const text = section("Client libraries");
  const [python] = blocks(text, "python");
  const [ts] = blocks(text, "ts");
  assert.ok(python && ts, "the section has a Python and a TypeScript loop");
  assert.ok(ts.includes(`from "./clients/typescript/mod.ts"`), "the TypeScript loop imports the client file");

  await using s = await startServer();
  const anon = new Client({ baseUrl: s.base });
  const room = await anon.createRoom({ meta: { title: "demo" } });
  const admin = anon.withToken(room.token);
  const alice = await anon.join(room, "alice", { role: "player" });
  const bob = await anon.join(room, "bob", { role: "player" });
  await admin.invoke(room, "_batch_set_state", {
    writes: [{ scope: "_shared", key: "turn", value: 1 }, {
      scope: "_shared",
      key: "player",
      value: "alice",
    }],
  });
  await admin.invoke(room, "_register_action", TAKE_TURN);

  const dir = await Deno.makeTempDir({ prefix: "agent-sync-readme-clients-" });
  try {
    await Deno.writeTextFile(`${dir}/agent.py`, python);
    await Deno.writeTextFile(`${dir}/agent.ts`, ts.replace("./clients/typescript/mod.ts", MOD));
    const env = (token: string, next: string) => ({ BASE: s.base, ROOM: room.id, TOKEN: token, NEXT: next });
    const [py, deno] = await Promise.all([
      new Deno.Command("python3", {
        args: [`${dir}/agent.py`],
        env: { ...env(alice.token, "bob"), PYTHONPATH: PYTHON_PACKAGE, PYTHONDONTWRITEBYTECODE: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output(),
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--no-config",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          `${dir}/agent.ts`,
        ],
        env: env(bob.token, "alice"),
        stdout: "piped",
        stderr: "piped",
      }).output(),
    ]);
    const out = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.equal(py.code, 0, `python: ${out(py.stderr)}`);
    assert.equal(deno.code, 0, `typescript: ${out(deno.stderr)}`);
    assert.equal(out(py.stdout).trim().split("\n").length, 3, "alice printed three moves");
    assert.equal(out(deno.stdout).trim().split("\n").length, 3, "bob printed three moves");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const shared = await admin.context(room, { only: "state" });
  assert.equal(shared.state?._shared.turn, 7, "six turns were played");
  assert.equal(shared.state?._shared.player, "alice", "bob played last and passed to alice");
});
