/**
 * The first step of `deno task test`: checks for what tests/_requirements.ts lists and, as root with
 * apt-get, installs the missing Debian packages quietly; otherwise stops with one line saying what to
 * install. Silent and about 20 ms when everything is there.
 */
import { isExecutable, type Requirement, requirements, SKIP_MISSING } from "./_requirements.ts";

/** The facts about the machine the decision depends on (injected so each branch can be tested). */
export type Host = { root: boolean; aptGet: string | null; requirements: Requirement[]; skip: boolean };

const SKIP_HINT = "AGENT_SYNC_SKIP_PROVISION=1";
const LOG_TAIL_LINES = 15;

async function missingOf(reqs: Requirement[]): Promise<Requirement[]> {
  const present = await Promise.all(reqs.map((r) => r.present()));
  return reqs.filter((_, i) => !present[i]);
}

const and = (parts: string[]) => parts.join(" and ");

/** Provisions `host`, writing at most a line or two through `say` (plus the apt log's tail on failure); the exit code. */
export async function provision(host: Host, say: (line: string) => void): Promise<number> {
  const missing = await missingOf(host.requirements);
  if (missing.length === 0) return 0;
  const pkgs = missing.map((r) => r.debian).join(" ");
  const tests = and(missing.map((r) => r.tests));
  const orSkip = `(or set ${SKIP_HINT} to run without ${tests})`;
  if (host.skip) {
    say(`${SKIP_HINT}: ${and(missing.map((r) => r.what))} missing, so ${tests} are ignored in this run`);
    return 0;
  }
  if (!host.aptGet) {
    const them = missing.length > 1 ? "them" : "it";
    say(
      `agent-sync tests need ${and(missing.map((r) => r.what))}: install ${them} (Debian: ${pkgs}) ` +
        `or point ${missing.map((r) => r.env).join(" / ")} at ${them} ${orSkip}`,
    );
    return 1;
  }
  if (!host.root) {
    say(`agent-sync tests need Debian packages ${pkgs}: run  sudo apt-get install -y ${pkgs}  ${orSkip}`);
    return 1;
  }
  const log = await Deno.makeTempFile({ prefix: "agent-sync-apt-", suffix: ".log" });
  say(`installing Debian packages ${pkgs} for ${tests} (apt log: ${log})`);
  if (!(await aptInstall(host.aptGet, missing.map((r) => r.debian), log))) {
    const tail = (await Deno.readTextFile(log)).trimEnd().split("\n").slice(-LOG_TAIL_LINES);
    for (const line of tail) say(`  ${line}`);
    say(`apt-get install -y ${pkgs} failed (the end of ${log} is above): install them yourself ${orSkip}`);
    return 1;
  }
  const still = await missingOf(missing);
  if (still.length) {
    say(`installed ${pkgs}, but ${and(still.map((r) => r.what))} still missing (apt log: ${log}) ${orSkip}`);
    return 1;
  }
  return 0;
}

/** `apt-get update` (its failure alone is not fatal: the lists may be recent enough) then `install`, all into `log`. */
async function aptInstall(aptGet: string, pkgs: string[], log: string): Promise<boolean> {
  const run = async (args: string[]) => {
    const r = await new Deno.Command(aptGet, {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    await Deno.writeTextFile(log, `$ apt-get ${args.join(" ")}\n${text}`, { append: true });
    return r.success;
  };
  await run(["update", "-qq"]);
  return await run(["install", "-y", "-qq", ...pkgs]);
}

async function onPath(cmd: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    if (await isExecutable(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return null;
}

if (import.meta.main) {
  const host: Host = {
    root: Deno.uid() === 0,
    aptGet: await onPath("apt-get"),
    requirements: requirements(),
    skip: SKIP_MISSING,
  };
  Deno.exit(await provision(host, (line) => console.error(line)));
}
