/**
 * The Python client (clients/python) as pip installs it, run by the `python3` on PATH against a live server:
 * tests/clients/python_check.py plays the README walk-through, the one-call game, SSE resumption, lost
 * answers, the wait loop, keep_alive with a lease, typed errors and the one-write check; this side installs it offline first and
 * checks the game's room with its own eyes.
 */
import assert from "node:assert/strict";
import { startServer } from "../_server.ts";
import { PLAYERS } from "./_fixture.ts";

const PACKAGE = new URL("../../clients/python/", import.meta.url).pathname;
const SCRIPT = new URL("./python_check.py", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
    return { ok: out.success, stdout: text(out.stdout), stderr: text(out.stderr) };
  } catch (e) {
    return { ok: false, stdout: "", stderr: String(e) };
  }
}

/** A Python that can build the package with no network: setuptools, plus wheel before setuptools 70.1. */
async function builder(): Promise<string | undefined> {
  const probe = "import setuptools, sys; v = tuple(map(int, setuptools.__version__.split('.')[:2]));" +
    " (v >= (70, 1)) or __import__('wheel')";
  for (const py of ["python3", "/usr/bin/python3"]) {
    if ((await run(py, ["-c", probe])).ok) return py;
  }
}

Deno.test("Python client: installed offline, it runs the walk-through, game, SSE resumption and retries", async (t) => {
  assert.ok((await run("python3", ["--version"])).ok, "python3 is required on PATH");
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-py-" });
  try {
    // pip builds in the source tree: build a copy
    await run("cp", ["-r", PACKAGE, `${dir}/src`]);
    let pythonPath = PACKAGE;
    const py = await builder();
    await t.step({
      name: "pip installs it with no index and no build isolation",
      ignore: py === undefined,
      async fn() {
        const pip = await run(py!, [
          "-m",
          "pip",
          "install",
          "--quiet",
          "--no-build-isolation",
          "--no-index",
          "--target",
          `${dir}/site`,
          `${dir}/src`,
        ], { PIP_DISABLE_PIP_VERSION_CHECK: "1" });
        assert.ok(pip.ok, `pip install failed:\n${pip.stderr}`);
        const files = [...Deno.readDirSync(`${dir}/site/agent_sync_client`)].map((e) => e.name).sort();
        for (const f of ["__init__.py", "client.py", "py.typed"]) {
          assert.ok(files.includes(f), `${f} installed`);
        }
        pythonPath = `${dir}/site`;
      },
    });

    await using s = await startServer();
    const check = await run("python3", [SCRIPT], {
      BASE: s.base,
      PYTHONPATH: pythonPath,
      PYTHONDONTWRITEBYTECODE: "1",
      NO_PROXY: "*",
      no_proxy: "*",
    });
    assert.ok(check.ok, `python_check.py failed:\n${check.stderr}\n${check.stdout}`);
    const r = JSON.parse(check.stdout.trim().split("\n").at(-1)!);
    assert.deepEqual(r.checks, [
      "walk-through",
      "one-call game",
      "events resume after a cut connection",
      "a retry after a lost answer applies once",
      "wait_loop re-issues after timeouts and carries the cursor",
      "keep_alive holds a lease while the block runs; update_room sets the window",
      "the SSE parser takes frames split anywhere",
      "typed errors",
      "one write per request, TCP_NODELAY",
    ]);

    await t.step("the three Python agents' moves are in the room once each, in rotation", async () => {
      const res = await fetch(`${s.base}/rooms/${r.game.room}/context?only=messages&messages_limit=200`, {
        headers: { authorization: `Bearer ${r.game.token}` },
      });
      const ctx = await res.json();
      const moves = ctx.messages.recent.filter((m: { kind: string }) => m.kind === "move");
      const expected = Array.from({ length: 12 }, (_, i) => `${PLAYERS[i % 3]}-${Math.floor(i / 3)}`);
      assert.deepEqual(moves.map((m: { body: string }) => m.body), expected);
      assert.deepEqual(moves.map((m: { from: string }) => m.from), expected.map((m) => m.split("-")[0]));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
