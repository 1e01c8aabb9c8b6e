/**
 * The served documentation and pages through HTTP (reference/api.md#docs-and-operations): README at `/` and `/SKILL.md` as Markdown,
 * every `reference/` and `docs/` file, the landing page for browsers, the dashboard shell for `?room=`.
 */
import assert from "node:assert/strict";
import { startServer } from "../_server.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));
const BROWSER_ACCEPT =
  "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/** Reference documents the README links to; they must always be served. */
const REQUIRED_REFERENCE = ["api.md", "cel.md", "examples.md", "architecture.md"];
/** The guides of docs/ (issue 14.9). */
const REQUIRED_GUIDES = [
  "index.md",
  "getting-started.md",
  "agent-loop.md",
  "mcp-clients.md",
  "deployment.md",
  "security-model.md",
];

async function get(base: string, path: string, accept?: string) {
  const res = await fetch(base + path, { headers: accept ? { accept } : {} });
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    headers: res.headers,
    text: await res.text(),
  };
}

Deno.test("GET / serves the README as text/markdown to agents and curl", async () => {
  await using s = await startServer();
  const readme = await read("README.md");
  for (const accept of [undefined, "*/*", "text/markdown", "application/json"]) {
    const r = await get(s.base, "/", accept);
    assert.equal(r.status, 200, `accept ${accept}`);
    assert.match(r.type, /^text\/markdown/);
    assert.equal(r.text, readme);
  }
});

Deno.test("GET /SKILL.md serves the README as text/markdown", async () => {
  await using s = await startServer();
  const r = await get(s.base, "/SKILL.md");
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/markdown/);
  assert.equal(r.text, await read("README.md"));
});

/** The Markdown files of a served folder. */
const markdownIn = (dir: string) =>
  [...Deno.readDirSync(new URL(`${dir}/`, root))].filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => e.name);

Deno.test("GET /reference/:file and /docs/:file serve every reference document and guide as text/markdown", async () => {
  await using s = await startServer();
  const served = [
    ...[...new Set([...REQUIRED_REFERENCE, ...markdownIn("reference")])].map((f) => `reference/${f}`),
    ...REQUIRED_GUIDES.map((f) => `docs/${f}`),
  ];
  assert.deepEqual(markdownIn("docs").sort(), [...REQUIRED_GUIDES].sort(), "the guides are the ones listed");
  for (const path of served) {
    const r = await get(s.base, `/${path}`);
    assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
    assert.match(r.type, /^text\/markdown/);
    assert.equal(r.text, await read(path));
  }
});

Deno.test("GET /reference/:file and /docs/:file answer an unknown or malformed name with 404 JSON", async () => {
  await using s = await startServer();
  for (
    const path of [
      "/reference/nope.md",
      "/reference/..%2FREADME.md",
      "/reference/api.txt",
      "/reference/.env",
      "/docs/nope.md",
      "/docs/..%2Freference%2Fapi.md",
      "/docs/index.txt",
    ]
  ) {
    const r = await get(s.base, path);
    assert.equal(r.status, 404, path);
    assert.match(r.type, /^application\/json/);
    const body = JSON.parse(r.text);
    assert.equal(body.error, "not_found");
    assert.equal(typeof body.message, "string");
  }
});

Deno.test("GET / with Accept text/html serves the landing page, self-contained", async () => {
  await using s = await startServer();
  const r = await get(s.base, "/", BROWSER_ACCEPT);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/html/);
  assert.match(r.text, /<title>agent-sync/);
  assert.match(r.text, /Create a room/);
  assert.match(r.text, /id="create-form"/);
  assertSelfContained(r.text, r.headers);
});

Deno.test("GET /?room= serves the dashboard with the room id escaped and no token", async () => {
  await using s = await startServer();
  const r = await get(s.base, "/?room=demo", BROWSER_ACCEPT);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/html/);
  assert.match(r.text, /data-room="demo"/);
  for (const panel of ["agents", "state", "messages", "actions", "views", "audit", "cel"]) {
    assert.match(r.text, new RegExp(`id="p-${panel}"`), panel);
  }
  assertSelfContained(r.text, r.headers);

  const evil = await get(s.base, `/?room=${encodeURIComponent('"><script>alert(1)</script>')}`);
  assert.equal(evil.status, 200);
  assert.ok(!evil.text.includes("<script>alert(1)"), "the room id must be escaped");
  assert.match(evil.text, /&lt;script&gt;alert\(1\)/);
});

Deno.test("GET /dashboard/:version/:file serves the pages' modules and stylesheets, cached by version", async () => {
  await using s = await startServer();
  const page = await get(s.base, "/?room=demo", BROWSER_ACCEPT);
  const urls = [...page.text.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(
    urls.some((u) => u.endsWith("/app.js")) && urls.some((u) => u.endsWith("/dashboard.css")),
    urls.join(),
  );
  const version = urls[0].split("/")[2];
  for (const u of urls) {
    const r = await get(s.base, u);
    assert.equal(r.status, 200, u);
    assert.equal(r.type, u.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8", u);
    assert.equal(r.headers.get("cache-control"), "public, max-age=31536000, immutable", u);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    const file = u.split("/").pop()!;
    assert.equal(r.text, await read(`dashboard/${file}`), u);
  }
  // a module's relative imports resolve inside the same version, and each of them is served
  const app = await get(s.base, `/dashboard/${version}/app.js`);
  for (const [, dep] of app.text.matchAll(/from "\.\/([a-z_]+\.js)"/g)) {
    assert.equal((await get(s.base, `/dashboard/${version}/${dep}`)).status, 200, dep);
  }
  const old = await get(s.base, "/dashboard/0123456789ab/app.js");
  assert.equal(old.status, 200);
  assert.equal(old.headers.get("cache-control"), "no-cache", "another version's URL is not cached");
  for (const bad of ["nope.js", "..%2Fdashboard.ts", "app.ts", "README.md"]) {
    const r = await get(s.base, `/dashboard/${version}/${bad}`);
    assert.equal(r.status, 404, bad);
    assert.equal(JSON.parse(r.text).error, "not_found");
  }
});

/**
 * No CDN or other origin: nothing is loaded from elsewhere, no inline script or style, and the CSP
 * allows scripts and styles only from this server.
 */
function assertSelfContained(page: string, headers: Headers) {
  assert.ok(!/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(page), "the page references another origin");
  assert.ok(!/@import|url\(\s*["']?(?:https?:)?\/\//i.test(page), "the CSS references another origin");
  assert.ok(!/<script(?![^>]*\ssrc=)[^>]*>/i.test(page), "every script is a file");
  assert.ok(!/<style|\sstyle=|\son[a-z]+=/i.test(page), "no inline style or event handler");
  const csp = headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /style-src 'self';/);
  assert.match(csp, /connect-src 'self'/);
  assert.ok(!csp.includes("unsafe-inline"), csp);
  assert.equal(headers.get("referrer-policy"), "no-referrer");
}
