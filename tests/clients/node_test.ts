/**
 * The TypeScript client as npm ships it: built with the pinned TypeScript compiler (clients/typescript/
 * build.ts: type-check, mod.js + mod.d.ts), installed by name next to a script, run by Node against a live
 * server.
 */
import assert from "node:assert/strict";
import { buildClient } from "../../clients/typescript/build.ts";
import { startServer } from "../_server.ts";

const PKG = new URL("../../clients/typescript/", import.meta.url);
const SCRIPT = new URL("./node_check.mjs", import.meta.url);

async function nodeVersion(): Promise<number> {
  try {
    const out = await new Deno.Command("node", { args: ["--version"], stdout: "piped", stderr: "null" })
      .output();
    return Number(/^v(\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

Deno.test("TypeScript client under Node: the built package joins, replays, waits, streams and fails typed", async () => {
  const major = await nodeVersion();
  // .ci/run's machines have Node (npx runs Deno); without it this test cannot say anything
  assert.ok(major >= 20, `node >= 20 is required on PATH (found ${major || "none"})`);
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-node-" });
  try {
    const pkg = `${dir}/node_modules/agent-sync-client`;
    const written = buildClient(`${pkg}/dist`);
    assert.deepEqual(written.map((f) => f.slice(pkg.length)).sort(), ["/dist/mod.d.ts", "/dist/mod.js"]);
    const dts = await Deno.readTextFile(`${pkg}/dist/mod.d.ts`);
    assert.match(dts, /export declare class Client/);
    assert.match(dts, /export declare class SyncError/);
    await Deno.copyFile(new URL("package.json", PKG), `${pkg}/package.json`);
    await Deno.copyFile(SCRIPT, `${dir}/check.mjs`);

    await using s = await startServer();
    const run = await new Deno.Command("node", {
      args: [`${dir}/check.mjs`],
      cwd: dir,
      env: { BASE: s.base, NO_PROXY: "*", no_proxy: "*" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, `node failed:\n${stderr}`);
    const r = JSON.parse(new TextDecoder().decode(run.stdout).trim());
    assert.equal(r.replayed, true, "the same Idempotency-Key got the first answer back");
    assert.equal(r.triggered, true, "invoke-and-wait woke on the other agent's commit");
    assert.equal(r.event.type, "change");
    assert.deepEqual(r.event.changes.map((c: { key: string }) => c.key), ["counter"]);
    assert.deepEqual(r.error, {
      isSyncError: true,
      code: "invalid_token",
      status: 401,
      message: r.error.message,
    });

    assert.equal(r.counter, 3, "three bumps, the replay not among them");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
