/**
 * The first step of `deno task test` (tests/_provision.ts): silent when chromium and a python3 with httpx
 * are there; otherwise it installs them as root with apt-get or stops with one line saying what to install.
 * Missing things are simulated with AGENT_SYNC_CHROMIUM / AGENT_SYNC_PYTHON, a PATH and a fake apt-get.
 */
import assert from "node:assert/strict";
import { type Host, provision } from "../_provision.ts";
import { requirements } from "../_requirements.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const NOT_THERE = "/nonexistent/agent-sync";

/** A temp dir with executable shell scripts; released with `await using`. */
async function scripts(files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-provision-" });
  for (const [name, body] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Runs `deno task test` (the README's command, extra args go to `deno test`) with a PATH holding only deno. */
async function runTask(dir: string, env: Record<string, string>) {
  await Deno.symlink(Deno.execPath(), `${dir}/deno`);
  const out = await new Deno.Command(Deno.execPath(), {
    // should provisioning not stop, the filter keeps `deno test` from running the suite inside this test
    args: ["task", "test", "--filter", "no test has this name"],
    cwd: ROOT,
    env: { PATH: dir, NO_COLOR: "1", AGENT_SYNC_SKIP_PROVISION: "", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000), // a hang guard, not a timing assertion
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  // deno task echoes the command it runs ("Task test deno run …"); the rest is what the user reads
  const lines = text.split("\n").filter((l) => l.trim() && !l.startsWith("Task test "));
  return { code: out.code, lines };
}

Deno.test("deno task test: with chromium hidden and no apt-get, it stops at once with one line saying what to install", async () => {
  await using bin = await scripts({ python3: "exit 0" });
  const { code, lines } = await runTask(bin.dir, {
    AGENT_SYNC_CHROMIUM: NOT_THERE,
    AGENT_SYNC_PYTHON: `${bin.dir}/python3`,
  });
  assert.notEqual(code, 0);
  assert.equal(lines.length, 1, `one line, got:\n${lines.join("\n")}`);
  assert.equal(
    lines[0],
    `agent-sync tests need chromium (${NOT_THERE}): install it (Debian: chromium) or point ` +
      "AGENT_SYNC_CHROMIUM at it (or set AGENT_SYNC_SKIP_PROVISION=1 to run without the dashboard's browser tests)",
  );
});

Deno.test("deno task test's provisioning step prints nothing and exits 0 when everything is there", async () => {
  await using bin = await scripts({ chromium: "exit 0", python3: "exit 0" });
  // the task's first command, as deno.json spells it (the rest, `deno test …`, would run this suite)
  const task: string = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks.test;
  const [deno, ...args] = task.split(" && ")[0].split(" ");
  assert.equal(deno, "deno");
  assert.ok(args.includes("tests/_provision.ts"), `the test task starts with the provisioning step: ${task}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: {
      PATH: bin.dir,
      AGENT_SYNC_CHROMIUM: `${bin.dir}/chromium`,
      AGENT_SYNC_PYTHON: `${bin.dir}/python3`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr), "");
});

/** In-process runs with the host's facts (root, apt-get) injected; the lines it would print. */
async function provisionAs(host: Omit<Host, "skip"> & { skip?: boolean }) {
  const lines: string[] = [];
  const code = await provision({ skip: false, ...host }, (l) => lines.push(l));
  return { code, lines };
}

/** A fake apt-get that logs its arguments to `calls` and runs `onInstall` for `install`. */
function fakeAptGet(dir: string, onInstall: string): string {
  return `echo "$@" >> ${dir}/calls\ncase "$1" in install) ${onInstall} ;; esac`;
}

Deno.test("provisioning as a user who is not root: one line with the sudo command, apt-get not run", async () => {
  await using bin = await scripts({});
  await using apt = await scripts({ "apt-get": `touch ${bin.dir}/ran` });
  const { code, lines } = await provisionAs({
    root: false,
    aptGet: `${apt.dir}/apt-get`,
    requirements: requirements(NOT_THERE, [NOT_THERE]),
  });
  assert.equal(code, 1);
  assert.deepEqual(lines, [
    "agent-sync tests need Debian packages chromium python3-httpx: run  sudo apt-get install -y chromium " +
    "python3-httpx  (or set AGENT_SYNC_SKIP_PROVISION=1 to run without the dashboard's browser tests and the " +
    "Python agent-loop tests)",
  ]);
  await assert.rejects(Deno.stat(`${bin.dir}/ran`), Deno.errors.NotFound);
});

Deno.test("provisioning as root installs only the missing packages with apt-get, saying so in one line", async () => {
  await using bin = await scripts({ chromium: "exit 0" });
  const python = `${bin.dir}/python3`; // appears when apt-get installs python3-httpx
  await using apt = await scripts({
    "apt-get": fakeAptGet(bin.dir, `printf '#!/bin/sh\\n' > ${python}; chmod +x ${python}`),
  });
  const { code, lines } = await provisionAs({
    root: true,
    aptGet: `${apt.dir}/apt-get`,
    requirements: requirements(`${bin.dir}/chromium`, [python]),
  });
  assert.equal(code, 0, lines.join("\n"));
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0],
    /^installing Debian packages python3-httpx for the Python agent-loop tests \(apt log: .+\)$/,
  );
  assert.equal(await Deno.readTextFile(`${bin.dir}/calls`), "update -qq\ninstall -y -qq python3-httpx\n");
});

Deno.test("provisioning as root: a failed apt-get install shows the apt log's tail and one line, exit 1", async () => {
  await using bin = await scripts({});
  await using apt = await scripts({
    "apt-get": fakeAptGet(bin.dir, "echo 'E: Unable to locate package python3-httpx' >&2; exit 100"),
  });
  const { code, lines } = await provisionAs({
    root: true,
    aptGet: `${apt.dir}/apt-get`,
    requirements: requirements(NOT_THERE, [NOT_THERE]),
  });
  assert.equal(code, 1);
  assert.match(lines[0], /^installing Debian packages chromium python3-httpx for /);
  assert.ok(lines.includes("  E: Unable to locate package python3-httpx"), lines.join("\n"));
  assert.match(lines.at(-1)!, /^apt-get install -y chromium python3-httpx failed \(the end of .+ is above\)/);
});

Deno.test("provisioning with AGENT_SYNC_SKIP_PROVISION=1 installs nothing and says which tests are ignored", async () => {
  await using bin = await scripts({});
  await using apt = await scripts({ "apt-get": `touch ${bin.dir}/ran` });
  const { code, lines } = await provisionAs({
    root: true,
    aptGet: `${apt.dir}/apt-get`,
    requirements: requirements(NOT_THERE, [NOT_THERE]),
    skip: true,
  });
  assert.equal(code, 0);
  assert.deepEqual(lines, [
    `AGENT_SYNC_SKIP_PROVISION=1: chromium (${NOT_THERE}) and a python3 with httpx missing, so the dashboard's ` +
    "browser tests and the Python agent-loop tests are ignored in this run",
  ]);
  await assert.rejects(Deno.stat(`${bin.dir}/ran`), Deno.errors.NotFound);
});
