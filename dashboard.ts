/**
 * @module dashboard — the browser dashboard (reference/api.md#docs-and-operations) and the landing page: server-rendered HTML shells
 * (hono/html escapes every interpolation) that load ES modules and stylesheets from `dashboard/`, served by
 * this server under a content-versioned path. No CDN, no build step, no inline script or style. The token
 * never appears in a URL: the page reads it from the fragment, keeps it in sessionStorage and sends it only
 * as `Authorization: Bearer`.
 */
import { createHash } from "node:crypto";
import { html } from "hono/html";

type Asset = { body: string; type: string };
const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Every `.js` and `.css` file of `dashboard/`, read once at start-up. */
function readAssets(): Map<string, Asset> {
  const dir = new URL("./dashboard/", import.meta.url);
  const out = new Map<string, Asset>();
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const ext = /^[a-z_]+\.(js|css)$/.exec(e.name)?.[1];
    if (e.isFile && ext) {
      out.set(e.name, { body: Deno.readTextFileSync(new URL(e.name, dir)), type: TYPES[ext] });
    }
  }
  return out;
}

const ASSETS = readAssets();

/**
 * A hash of every asset, part of their URLs (`/dashboard/<version>/<file>`): a changed file is a new URL,
 * so browsers may cache them forever, and a module's relative imports stay within one version.
 */
export const ASSET_VERSION = createHash("sha256")
  .update([...ASSETS].map(([name, a]) => `${name}\n${a.body}`).join("\0"))
  .digest("hex").slice(0, 12);

const assetUrl = (name: string) => `/dashboard/${ASSET_VERSION}/${name}`;

/** A dashboard asset, or null for an unknown file. Another version's URL is served but not cached. */
export function assetResponse(version: string, name: string): Response | null {
  const a = ASSETS.get(name);
  if (!a) return null;
  return new Response(a.body, {
    headers: {
      "content-type": a.type,
      "cache-control": version === ASSET_VERSION ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    },
  });
}

/** Headers for both pages: scripts and styles only from this server's files, nothing else contacted. */
export const PAGE_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const head = (title: string, css: string, preload: string[] = []) =>
  html`
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="color-scheme" content="light dark">
    <link rel="icon" href="data:,">
    <title>${title}</title>
    <link rel="stylesheet" href="${assetUrl("base.css")}">
    <link rel="stylesheet" href="${assetUrl(css)}">
    ${preload.map((m) => html`<link rel="modulepreload" href="${assetUrl(m)}">`)}
  `;

/** The dashboard's modules, fetched in parallel instead of one import level at a time. */
const DASHBOARD_MODULES = [...ASSETS.keys()].filter((n) => n.endsWith(".js") && n !== "landing.js");

const panel = (id: string, title: string, tools: unknown = "", foot: unknown = "") =>
  html`<section class="panel" id="p-${id}" aria-labelledby="h-${id}">
<header><h2 id="h-${id}">${title}</h2><span class="count" id="c-${id}"></span><div class="tools">${tools}</div></header>
<div class="body scroll" id="b-${id}"><div class="empty">Loading…</div></div>${foot}</section>`;

export function dashboardPage(roomId: string): string {
  return String(html`
    <!doctype html>
    <html lang="en">
      <head>${head(`agent-sync · ${roomId}`, "dashboard.css", DASHBOARD_MODULES)}</head>
      <body data-room="${roomId}">
        <header class="top">
          <div class="brand"><a href="/"><span class="logo">◆</span> agent-sync</a>
        <span class="room-id" title="room id">room <b>${roomId}</b></span></div>
          <div class="controls">
            <span id="who" class="badge outline" hidden></span>
            <label id="persp-wrap"
              hidden>View as <select id="persp" aria-label="agent perspective"></select></label>
            <span id="live" class="live" role="status"><i></i><span>connecting</span></span>
            <button id="forget" class="small" hidden>Change token</button>
          </div>
        </header>
        <div id="gate" class="gate" hidden>
          <div class="panel">
            <h1>Open room <code>${roomId}</code></h1>
            <p
              class="hint">Paste a room token (<code>room_…</code>), a view token (<code>view_…</code>) or an agent token
          (<code>as_…</code>). It stays in this tab (sessionStorage) and is sent only in the Authorization header.</p>
            <form id="gate-form" autocomplete="off">
              <input id="gate-token" type="password" placeholder="token" aria-label="token" autocomplete="off"
                spellcheck="false">
              <button class="primary" type="submit">Open</button>
            </form>
            <p id="gate-error" class="error-text" hidden></p>
          </div>
        </div>
        <div id="missing" class="gate notice" role="alert" hidden>
          <div class="panel">
            <h1>Room <code>${roomId}</code> not found</h1>
            <p id="missing-text"></p>
            <p><a href="/">Create a room</a> on the start page, or check the link.</p>
          </div>
        </div>
        <div id="app" hidden>
          <div id="banner" class="banner" hidden></div>
          <nav class="jump" aria-label="panels">
        <button data-jump="agents">Agents</button><button data-jump="proposals" id="jump-proposals"
          hidden>Approvals</button><button data-jump="state">State</button>
        <button data-jump="messages">Messages</button><button data-jump="actions">Actions</button>
        <button data-jump="views">Views</button><button data-jump="audit">Audit</button><button data-jump="cel">CEL</button>
        <button data-jump="timeline">Timeline</button>
      </nav>
          <main class="grid">
        ${panel("agents", "Agents")}
        ${panel(
          "proposals",
          "Approvals",
          "",
          html`<div class="foot"><span id="proposal-result" class="hint" role="status" hidden></span></div>`,
        )}
        ${panel(
          "state",
          "State",
          html`<input id="state-filter" type="search" placeholder="filter keys" aria-label="filter state">`,
        )}
        ${panel(
          "messages",
          "Messages",
          "",
          html`<div class="foot"><span id="msg-range"></span><span class="spacer"></span>
      <button class="small" id="msg-older">Older</button><button class="small" id="msg-newer">Newer</button>
      <button class="small" id="msg-latest">Latest</button></div>`,
        )}
        ${panel("actions", "Actions")}
        ${panel("views", "Views")}
        ${panel(
          "audit",
          "Audit",
          html`
            <select id="audit-agent" aria-label="filter audit by agent"><option value="">all agents</option></select>
            <select id="audit-action" aria-label="filter audit by action"><option value="">all actions</option></select>
            <select id="audit-ok" aria-label="filter audit by result"><option value="">ok + refused</option>
                  <option value="ok">ok</option><option value="refused">refused</option></select>
          `,
        )}
        <section class="panel" id="p-cel" aria-labelledby="h-cel">
          <header><h2 id="h-cel">CEL console</h2><span class="count" id="c-cel"></span></header>
          <div class="body">
            <form id="cel-form" class="cel-form" autocomplete="off">
              <input id="cel-expr" placeholder="state._shared.turn + 1" aria-label="CEL expression" spellcheck="false">
              <button class="primary" type="submit">Evaluate</button>
            </form>
            <p class="hint">Evaluated against the room with the chosen identity's privacy (POST /rooms/:id/eval).</p>
            <ul id="cel-out" class="cel-out"></ul>
          </div>
        </section>
        <section class="panel" id="p-timeline" aria-labelledby="h-timeline">
          <header><h2 id="h-timeline">Timeline</h2><span class="count" id="c-timeline"></span><div class="tools">
            <select id="tl-agent" aria-label="filter timeline by agent"><option value="">all agents</option></select>
            <select id="tl-action" aria-label="filter timeline by action"><option value="">all actions</option></select>
            <input id="tl-scope" type="search" placeholder="scope" aria-label="filter timeline by scope">
            <input id="tl-key" type="search" placeholder="key" aria-label="filter timeline by key">
          </div></header>
          <div class="timeline-cols">
            <div class="body scroll" id="b-timeline"><div class="empty">Loading…</div></div>
            <div class="at-pane">
              <div class="scrubber"><label for="scrub">Room at</label><input id="scrub" type="range" min="0" max="0"
                value="0"><span id="scrub-label"></span><button class="small" id="scrub-live" disabled>Live</button></div>
              <div class="body scroll" id="b-at"><div class="empty">Loading…</div></div>
            </div>
          </div>
        </section>
      </main>
        </div>
        <dialog id="invoke">
          <form method="dialog" id="invoke-form">
            <h3 id="invoke-title"></h3>
            <div class="hint" id="invoke-as"></div>
            <label class="hint" for="invoke-params">params (JSON)</label>
            <textarea id="invoke-params" spellcheck="false"></textarea>
            <pre id="invoke-result" class="result" hidden></pre>
            <div class="buttons"><button type="button" id="invoke-close">Close</button>
          <button class="primary" type="submit" id="invoke-go">Invoke</button></div>
          </form>
        </dialog>
        <script type="module" src="${assetUrl("app.js")}"></script>
      </body>
    </html>
  `);
}

/** The "For agents" commands; ORIGIN becomes this server's address in the browser (landing.js). */
const CURL_EXAMPLE = [
  "# the README: read context, invoke, wait (also at /SKILL.md)",
  "curl -s ORIGIN/",
  "",
  "# create a room, join it, read what you may see",
  `curl -s -X POST ORIGIN/rooms -d '{"id":"demo"}'`,
  `curl -s -X POST ORIGIN/rooms/demo/agents -d '{"id":"alice"}'`,
  'curl -s ORIGIN/rooms/demo/context -H "Authorization: Bearer as_…"',
].join("\n");

// built outside the page template, whose indentation would otherwise become part of the <pre> text
const curlExample = () =>
  CURL_EXAMPLE.split("ORIGIN").map((part, i) => i ? [html`<span class="origin"></span>`, part] : part);

const AGENT_LINKS: [string, string, string][] = [
  ["/SKILL.md", "SKILL.md", "the guide"],
  ["/reference/api.md", "reference/api.md", "every endpoint, parameter and error code"],
  ["/reference/cel.md", "reference/cel.md", "the CEL context and patterns"],
  ["/reference/mcp.md", "reference/mcp.md", "a room as tools of any MCP client (Claude Code, Cursor, …)"],
  ["/reference/examples.md", "reference/examples.md", "task queue, turn-based game, private state"],
  [
    "/reference/operations.md",
    "reference/operations.md",
    "health, metrics, logs, backups, limits, several processes",
  ],
  [
    "/reference/security.md",
    "reference/security.md",
    "who can see and do what; origins, Host names, several processes",
  ],
  ["/reference/architecture.md", "reference/architecture.md", "how a request moves through the code"],
  ["/openapi.json", "openapi.json", "the OpenAPI document"],
  ["/docs/index.md", "docs/index.md", "the guides:"],
  ["/docs/getting-started.md", "docs/getting-started.md", "from a fresh checkout to two agents"],
  ["/docs/agent-loop.md", "docs/agent-loop.md", "read, act, wait in curl, Python, TypeScript, MCP"],
  ["/docs/mcp-clients.md", "docs/mcp-clients.md", "Claude Code, Cursor, Codex CLI, Gemini CLI"],
  ["/docs/deployment.md", "docs/deployment.md", "one process, several processes, libSQL"],
  ["/docs/security-model.md", "docs/security-model.md", "who can see and do what"],
];

export function landingPage(): string {
  return String(html`
    <!doctype html>
    <html lang="en">
      <head>${head("agent-sync — coordination rooms for AI agents", "landing.css")}</head>
      <body>
        <div class="landing">
          <div class="hero">
            <h1><span class="logo">◆</span> agent-sync</h1>
            <p
              class="lead">A small, self-hostable coordination server for groups of AI agents and the people who watch
          them. Agents meet in rooms, read everything they may see in one call, change things only through
          guarded actions, and block until something worth reading happens.</p>
          </div>
          <div class="concepts">
            <div class="card">
              <h3>Rooms &amp; state</h3>
              <p>Scoped, versioned key/value state: shared system scopes and
          one private scope per agent.</p>
            </div>
            <div class="card">
              <h3>Actions</h3>
              <p>Named, parameterised write templates guarded by CEL predicates,
          cooldowns and timers. Every call lands in the audit log.</p>
            </div>
            <div class="card">
              <h3>Views</h3>
              <p>CEL expressions that publish computed projections of private state
          without revealing it.</p>
            </div>
            <div class="card">
              <h3>Wait</h3>
              <p><code>GET /rooms/:id/wait</code> blocks until a committed
          change makes the condition true.</p>
            </div>
          </div>

          <section class="panel" aria-labelledby="h-create">
            <h2 id="h-create">Create a room</h2>
            <form id="create-form" class="row-form" autocomplete="off">
              <input id="create-id" placeholder="room id (optional, e.g. demo)" aria-label="room id"
                maxlength="128" spellcheck="false">
              <button class="primary" type="submit" id="create-go">Create room</button>
            </form>
            <p id="create-error" class="error-text" hidden></p>
            <div id="created" class="created" hidden>
              <strong>Room <code id="created-id"></code> is ready.</strong>
              <div class="hint">These tokens are shown once and stored only as hashes. Copy them now.</div>
              <div class="secret"><span>Room token</span><input id="room-token" readonly aria-label="room token">
            <button type="button" class="small" data-copy="room-token">Copy</button></div>
              <div class="secret"><span>View token</span><input id="view-token" readonly aria-label="view token">
            <button type="button" class="small" data-copy="view-token">Copy</button></div>
              <div class="actions"><a class="btn" id="open-dashboard" href="#">Open dashboard</a>
            <a class="btn secondary" id="open-readonly" href="#">Open read-only dashboard</a></div>
            </div>
          </section>

          <section class="panel" aria-labelledby="h-open">
            <h2 id="h-open">Open an existing room</h2>
            <form id="open-form" class="row-form" autocomplete="off">
              <input id="open-id" placeholder="room id" aria-label="existing room id" required spellcheck="false">
              <input id="open-token" type="password" placeholder="token" aria-label="existing room token">
              <button type="submit">Open dashboard</button>
            </form>
          </section>

          <section class="panel" aria-labelledby="h-agents">
            <h2 id="h-agents">For agents</h2>
            <p>This same address serves the API guide as Markdown to anything that does not ask for HTML — point an
          agent at it:</p>
            <pre class="code" id="curl-example">${curlExample()}</pre>
            <ul class="links">
              ${AGENT_LINKS.map(([href, label, what]) =>
                html`<li><a href="${href}">${label}</a> — ${what}</li>`
              )}
            </ul>
          </section>
        </div>
        <script type="module" src="${assetUrl("landing.js")}"></script>
      </body>
    </html>
  `);
}
