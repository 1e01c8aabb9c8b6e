/**
 * What the browser and Python tests need from the machine, in one place: a Chromium (Debian's package
 * `chromium`) and a python3 that imports httpx (`python3-httpx`). `tests/_provision.ts` provisions them
 * before `deno task test`; the tests find them here and are ignored only if AGENT_SYNC_SKIP_PROVISION=1.
 */

/** The Chromium the browser tests drive (AGENT_SYNC_CHROMIUM points elsewhere, e.g. off Debian). */
export const CHROMIUM = Deno.env.get("AGENT_SYNC_CHROMIUM") || "/usr/bin/chromium";

/** The pythons tried, in order: AGENT_SYNC_PYTHON alone if set, else Debian's, then python3 on PATH. */
export const PYTHONS = Deno.env.get("AGENT_SYNC_PYTHON")
  ? [Deno.env.get("AGENT_SYNC_PYTHON")!]
  : ["/usr/bin/python3", "python3"];

/** What a test that runs without `deno task test`'s provisioning says when its requirement is missing. */
export const CHROMIUM_MISSING = "`deno task test` provisions Debian's chromium (or set AGENT_SYNC_CHROMIUM)";
export const PYTHON_MISSING = "`deno task test` provisions Debian's python3-httpx (or set AGENT_SYNC_PYTHON)";

/** Set to run `deno task test` without what is missing: those tests are reported as ignored, not passed. */
export const SKIP_MISSING = Deno.env.get("AGENT_SYNC_SKIP_PROVISION") === "1";

export async function isExecutable(path: string): Promise<boolean> {
  try {
    const s = await Deno.stat(path);
    return s.isFile && ((s.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The first of `candidates` that has httpx, or null. find_spec locates it without importing (10 ms, not 150). */
export async function findPython(candidates: string[] = PYTHONS): Promise<string | null> {
  for (const python of candidates) {
    try {
      const r = await new Deno.Command(python, {
        args: ["-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('httpx') is None)"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return python;
    } catch { /* not installed */ }
  }
  return null;
}

/** One thing the tests need: its Debian package, the variable that points elsewhere, which tests need it. */
export type Requirement = {
  debian: string;
  env: string;
  what: string;
  tests: string;
  present(): Promise<boolean>;
};

export function requirements(chromium = CHROMIUM, pythons = PYTHONS): Requirement[] {
  return [
    {
      debian: "chromium",
      env: "AGENT_SYNC_CHROMIUM",
      what: `chromium (${chromium})`,
      tests: "the dashboard's browser tests",
      present: () => isExecutable(chromium),
    },
    {
      debian: "python3-httpx",
      env: "AGENT_SYNC_PYTHON",
      what: "a python3 with httpx",
      tests: "the Python agent-loop tests",
      present: async () => (await findPython(pythons)) !== null,
    },
  ];
}

/**
 * For Deno.test's `ignore`: true only when `debian`'s requirement is missing and AGENT_SYNC_SKIP_PROVISION=1
 * asked to run without it. Otherwise the test runs, and fails loudly if the requirement is missing.
 */
export async function ignoreWithout(debian: "chromium" | "python3-httpx"): Promise<boolean> {
  if (!SKIP_MISSING) return false;
  const req = requirements().find((r) => r.debian === debian)!;
  return !(await req.present());
}
