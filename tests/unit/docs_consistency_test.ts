/**
 * The docs say what the code does (issue 14.6): every environment variable of config.ts is in the README's
 * table with the same default, and api.md's and operations.md's limit rows agree with those defaults; every
 * error code (with its status) and every quota is in api.md; every reference and guide is linked from the
 * README and the landing page; nothing cites a specification the repository does not hold.
 */
import assert from "node:assert/strict";
import { ERROR_STATUS, Quota } from "../../errors.ts";
import { landingPage } from "../../dashboard.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, root));
const README = read("README.md");
const API = read("reference/api.md");
const OPERATIONS = read("reference/operations.md");

/** config.ts's `Env` schema: each variable's default as its source says it (`int(1024 * 1024)`), evaluated. */
function envDefaults(): Map<string, number | string | undefined> {
  const src = read("config.ts");
  const consts = new Map<string, number>();
  for (const m of src.matchAll(/^const (\w+) = ([\d_ *]+);/gm)) consts.set(m[1], arithmetic(m[2]));
  const body = /const Env = z\.object\(\{([\s\S]*?)\n\}\);/.exec(src)?.[1];
  assert.ok(body, "config.ts has the Env schema");
  const out = new Map<string, number | string | undefined>();
  for (const m of body.matchAll(/^\s+(\w+): (.*),$/gm)) {
    const [, name, spec] = m;
    const value = /^int\((.+)\)$/.exec(spec)?.[1] ?? /\.default\((.+)\)$/.exec(spec)?.[1];
    if (value === undefined) out.set(name, undefined); // optional, or a list (empty by default)
    else if (/^"/.test(value)) out.set(name, JSON.parse(value));
    else out.set(name, consts.get(value) ?? arithmetic(value));
  }
  return out;
}

function arithmetic(expr: string): number {
  assert.match(expr, /^[\d_ *]+$/, `a plain product: ${expr}`);
  return expr.split("*").map((x) => Number(x.trim().replaceAll("_", ""))).reduce((a, b) => a * b, 1);
}

/** The ways the docs write a number: 1048576, 1,048,576, 1 MiB, 64 KiB, 25 s, 24 h, 50 ms. */
function spellings(name: string, n: number): string[] {
  const out = [String(n), n.toLocaleString("en-US")];
  if (n % (1024 * 1024) === 0) out.push(`${n / (1024 * 1024)} MiB`);
  if (n % 1024 === 0) out.push(`${n / 1024} KiB`);
  if (name.endsWith("_MS")) out.push(`${n} ms`, `${n / 1000} s`, `${n / 3_600_000} h`);
  return out;
}

Deno.test("every environment variable is in the README's table, with config.ts's default", () => {
  const rows = new Map<string, string>();
  for (const m of README.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1], m[2].trim());
  const defaults = envDefaults();
  assert.ok(defaults.size >= 30, `read config.ts's variables (${defaults.size})`);
  for (const [name, value] of defaults) {
    const cell = rows.get(name);
    assert.ok(cell !== undefined, `${name} is in the README's configuration table`);
    if (value === undefined) {
      assert.match(cell, /^—/, `${name} has no default: the README says "—"`);
      continue;
    }
    const shown = /^`([^`]*)`/.exec(cell)?.[1];
    assert.equal(shown, String(value), `${name}: the README's default ${cell} vs config.ts ${value}`);
  }
  for (const name of rows.keys()) {
    assert.ok(defaults.has(name), `README documents ${name}, which config.ts reads`);
  }
});

Deno.test("api.md's Limits and operations.md's tables agree with the defaults of the variables they name", () => {
  const defaults = envDefaults();
  let checked = 0;
  const between = (text: string, from: string, to: string) =>
    text.slice(text.indexOf(from), text.indexOf(to));
  const tables = [
    ["api.md Limits", between(API, "\n## Limits", "\n## Errors")],
    ["operations.md Rate limits and quotas", between(OPERATIONS, "\n## Rate limits", "\n## Shutdown")],
  ];
  for (const [doc, text] of tables) {
    for (const row of text.split("\n").filter((l) => l.startsWith("|"))) {
      for (const [, name] of row.matchAll(/`(SYNC_[A-Z_]+)`/g)) {
        const value = defaults.get(name);
        if (typeof value !== "number") continue;
        checked++;
        assert.ok(
          spellings(name, value).some((s) => row.includes(s)),
          `${doc}: the row naming ${name} should say its default ${value}: ${row}`,
        );
      }
    }
  }
  assert.ok(checked >= 20, `rows checked: ${checked}`);
  const messages = API.split("\n").find((l) => l.startsWith("| messages per room per second"));
  assert.ok(
    messages?.includes("SYNC_ROOM_MESSAGES_PER_SEC"),
    "api.md names the messages-per-second variable",
  );
});

Deno.test("every error code is in api.md's Errors table with its status, and every quota is named there", () => {
  const table = API.slice(API.indexOf("## Errors"));
  const rows = new Map<string, number>();
  for (const m of table.matchAll(/^\| `(\w+)` \| (\d{3}) \|/gm)) rows.set(m[1], Number(m[2]));
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.equal(rows.get(code), status, `api.md's Errors table: ${code} ${status}`);
  }
  for (const code of rows.keys()) {
    assert.ok(code in ERROR_STATUS, `api.md lists ${code}, which errors.ts does not have`);
  }
  for (const q of Quota.options) assert.ok(API.includes(`"${q}"`), `api.md names the quota "${q}"`);
});

Deno.test("every reference document and guide is linked from the README and from the landing page", () => {
  const landing = landingPage();
  for (const dir of ["reference", "docs"]) {
    for (const e of Deno.readDirSync(new URL(`${dir}/`, root))) {
      if (!e.isFile || !e.name.endsWith(".md")) continue;
      const path = `${dir}/${e.name}`;
      assert.ok(README.includes(`(${path})`), `the README links ${path}`);
      assert.ok(landing.includes(`href="/${path}"`), `the landing page links /${path}`);
    }
  }
});

Deno.test("no document or code comment cites a specification that is not in the repository", () => {
  const spec = ["SPEC", ".md"].join("");
  const section = new RegExp(["SPEC", " §"].join(""));
  const offenders: string[] = [];
  const walk = (dir: URL, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith(".") || e.name === "node_modules" || e.name === "data" || e.name === "dist") {
        continue;
      }
      const path = rel + e.name;
      if (e.isDirectory) walk(new URL(`${e.name}/`, dir), `${path}/`);
      else if (/\.(md|ts|js|py|css)$/.test(e.name)) {
        const text = Deno.readTextFileSync(new URL(e.name, dir));
        if (text.includes(spec) || section.test(text)) offenders.push(path);
      }
    }
  };
  walk(root, "");
  assert.deepEqual(offenders, [], "files citing the specification");
});
