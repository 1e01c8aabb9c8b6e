/**
 * The README is executable: its curl walk-through runs with a real bash and curl against a test server
 * (only `BASE=` is changed), and every `# → …` line must match what the step printed. Then the agent-loop
 * programs (Python with httpx, TypeScript) play the walk-through's game against each other.
 */
import assert from "node:assert/strict";
import { startServer } from "../_server.ts";
import { findPython, ignoreWithout, PYTHON_MISSING } from "../_requirements.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
const BASE_LINE = "BASE=http://localhost:8787";

async function has(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return r.success;
  } catch {
    return false;
  }
}

const haveShell = await has("bash", ["-c", "command -v curl"]);

/** The text of one `## heading` section (up to the next `## `). */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = README.indexOf("\n## ", start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

type Step = { expect: string[] };

/** One bash script; a marker is echoed after each group of `# →` lines so output splits into steps. */
function buildScript(code: string[], base: string): { script: string; steps: Step[] } {
  const out: string[] = [];
  const steps: Step[] = [];
  let pending: string[] = [];
  const flush = () => {
    if (!pending.length) return;
    out.push(`echo; echo "@@STEP ${steps.length}@@"`);
    steps.push({ expect: pending });
    pending = [];
  };
  for (const block of code) {
    for (const line of block.split("\n")) {
      const m = /^# → (.*)$/.exec(line);
      if (m) {
        pending.push(m[1]);
        continue;
      }
      flush();
      out.push(line === BASE_LINE ? `BASE=${base}` : line);
    }
    flush();
  }
  out.push(`echo "@@VARS $ROOM $ALICE $BOB@@"`);
  return { script: out.join("\n"), steps };
}

/** Each `…`-separated piece of an expectation must appear in the output, in order. */
function matches(output: string, expected: string): boolean {
  let at = 0;
  for (const piece of expected.split("…").map((p) => p.trim()).filter(Boolean)) {
    const i = output.indexOf(piece, at);
    if (i < 0) return false;
    at = i + piece.length;
  }
  return true;
}

Deno.test({
  name: "README: the curl walk-through runs as written, then the Python and TypeScript agent loops play it",
  ignore: !haveShell,
  async fn(t) {
    await using s = await startServer();
    const walk = blocks(section("Walk-through with curl"), "bash");
    assert.ok(walk.length >= 5, "the walk-through has its bash blocks");
    assert.ok(walk[0].includes(BASE_LINE), `the walk-through starts with ${BASE_LINE}`);
    const { script, steps } = buildScript(walk, s.base);
    assert.ok(steps.length >= 8, "the walk-through shows its responses");

    const run = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped", stderr: "piped" })
      .output();
    const stdout = new TextDecoder().decode(run.stdout);
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, `bash exited ${run.code}: ${stderr}`);
    assert.equal(stderr.trim(), "", "nothing on stderr");

    const parts = stdout.split(/@@STEP \d+@@/);
    steps.forEach((step, i) => {
      for (const e of step.expect) {
        assert.ok(matches(parts[i], e), `step ${i}: expected\n  ${e}\ngot\n  ${parts[i].trim()}`);
      }
    });
    const vars = /@@VARS (\S+) (\S+) (\S+)@@/.exec(stdout);
    assert.ok(vars, "the walk-through set ROOM, ALICE and BOB");
    const [, room, alice, bob] = vars;

    // the room is where the walk-through left it
    const shared = async () => {
      const r = await fetch(`${s.base}/rooms/${room}/state?scope=_shared`, {
        headers: { authorization: `Bearer ${bob}` },
      });
      const rows = await r.json() as { key: string; value: unknown }[];
      return Object.fromEntries(rows.map((x) => [x.key, x.value]));
    };
    const before = await shared();
    assert.equal(before.player, "bob");
    assert.equal(before.turn, 4);

    const python = blocks(section("The agent loop"), "python");
    const ts = blocks(section("The agent loop"), "ts");
    assert.equal(python.length, 1, "one Python loop");
    assert.equal(ts.length, 1, "one TypeScript loop");
    const python3 = await findPython();

    await t.step({
      name: "the Python (alice) and TypeScript (bob) loops alternate for three turns each",
      ignore: await ignoreWithout("python3-httpx"),
      async fn() {
        if (!python3) throw new Error(`no python3 with httpx: ${PYTHON_MISSING}`);
        const dir = await Deno.makeTempDir({ prefix: "agent-sync-readme-" });
        try {
          await Deno.writeTextFile(`${dir}/agent.py`, python[0]);
          await Deno.writeTextFile(`${dir}/agent.ts`, ts[0]);
          const env = (token: string, next: string) => ({
            BASE: s.base,
            ROOM: room,
            TOKEN: token,
            NEXT: next,
            TURNS: "3",
          });
          const [py, deno] = await Promise.all([
            new Deno.Command(python3, {
              args: [`${dir}/agent.py`],
              env: env(alice, "bob"),
              stdout: "piped",
              stderr: "piped",
            }).output(),
            new Deno.Command(Deno.execPath(), {
              args: ["run", "--quiet", "--no-config", "--allow-net", "--allow-env", `${dir}/agent.ts`],
              env: env(bob, "alice"),
              stdout: "piped",
              stderr: "piped",
            }).output(),
          ]);
          const text = (b: Uint8Array) => new TextDecoder().decode(b);
          assert.equal(py.code, 0, `python: ${text(py.stderr)}`);
          assert.equal(deno.code, 0, `typescript: ${text(deno.stderr)}`);
          assert.equal(text(py.stdout).trim().split("\n").length, 3, "alice printed three moves");
          assert.equal(text(deno.stdout).trim().split("\n").length, 3, "bob printed three moves");
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
        const after = await shared();
        assert.equal(after.turn, 10, "six more turns were played");
        assert.equal(after.player, "bob", "alice played last and passed to bob");
      },
    });
  },
});
