/**
 * Browser-test fixtures: a headless Debian Chromium driven by playwright-core, a seeded room, a recorder
 * of every request a page makes (to prove nothing leaves the server and no URL carries a token), and
 * page-side recorders of what the DOM showed (texts, flashes) for states a later redraw may undo.
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { client } from "../_server.ts";
import { CHROMIUM, CHROMIUM_MISSING, ignoreWithout, isExecutable } from "../_requirements.ts";

const withoutChromium = await ignoreWithout("chromium");

/** The browser tests' Deno.test: ignored (and reported so) only if chromium is missing and skipping was asked for. */
export function test(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, ignore: withoutChromium, fn });
}

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launch(): Promise<Browser & AsyncDisposable> {
  if (!(await isExecutable(CHROMIUM))) {
    throw new Error(`no chromium at ${CHROMIUM}: ${CHROMIUM_MISSING}`);
  }
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  return Object.assign(b, { [Symbol.asyncDispose]: () => b.close() });
}

/** A page in a fresh context (own sessionStorage) that records every request URL it makes. */
export async function openPage(
  browser: Browser,
  opts: { width?: number; height?: number; dark?: boolean } = {},
): Promise<{ ctx: BrowserContext; page: Page; requests: string[] }> {
  const ctx = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: opts.dark ? "dark" : "light",
    deviceScaleFactor: 1,
  });
  const page = await ctx.newPage();
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  return { ctx, page, requests };
}

export const SECRET = "attack-from-the-north";

export type Seeded = { id: string; token: string; view: string; alice: string; bob: string };

/**
 * A room with two agents holding private secrets, shared state with a timer and an enabled badge,
 * messages (directed, a reply, a claimed one), a custom action with params, a cooldown action, views
 * with render hints, and a refused invocation in the audit log.
 */
export async function seedRoom(base: string, id = "demo"): Promise<Seeded> {
  const c = client(base);
  const room = await c.createRoom(id);
  const alice = await c.join(room.id, "alice", { role: "player" });
  const bob = await c.join(room.id, "bob", { role: "player" });
  await c.http("PATCH", `/rooms/${room.id}/agents/bob`, { token: room.token, body: { grants: ["_tasks"] } });
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [
      { scope: "_shared", key: "phase", value: "playing" },
      { scope: "_shared", key: "turn", value: 3 },
      {
        scope: "_shared",
        key: "board",
        value: { cells: [["x", "o", null], [null, "x", null], [null, null, "o"]], size: 3 },
      },
      { scope: "_shared", key: "motd", value: "welcome", timer: { ms: 3_600_000, effect: "delete" } },
      {
        scope: "_shared",
        key: "endgame_hint",
        value: "north tower",
        enabled: 'state._shared.phase == "playing"',
      },
      { scope: "_tasks", key: "t1", value: { title: "index the docs", claimed_by: null } },
    ],
  });
  await c.ok(room.id, alice, "_set_state", { key: "secret_plan", value: SECRET });
  await c.ok(room.id, alice, "_set_state", { key: "health", value: 80 });
  await c.ok(room.id, bob, "_set_state", { key: "secret_plan", value: "hide-in-the-south" });
  await c.ok(room.id, room.token, "_register_action", {
    id: "take_turn",
    description: "Play a move when it is your turn",
    params: { move: { type: "string", enum: ["attack", "defend", "heal"], required: true } },
    if: 'state._shared.phase == "playing"',
    writes: [
      { scope: "_messages", append: true, value: { from: "${self}", kind: "move", body: "${params.move}" } },
      { scope: "_shared", key: "turn", increment: true },
    ],
  });
  await c.ok(room.id, room.token, "_register_action", {
    id: "special_attack",
    description: "Powerful attack with a cooldown",
    on_invoke: { timer: { ms: 600_000, effect: "enable" } },
    writes: [{ scope: "_shared", key: "last_special", value: "${self}" }],
  });
  await c.ok(room.id, room.token, "_register_action", {
    id: "finish",
    description: "End the game (only in the endgame)",
    if: 'state._shared.phase == "endgame"',
    writes: [{ scope: "_shared", key: "phase", value: "over" }],
  });
  await c.ok(room.id, alice, "_register_view", {
    id: "alice-status",
    expr: 'state["alice"].health > 50 ? "healthy" : "wounded"',
    description: "Alice's public health status",
    render: "badge",
  });
  await c.ok(room.id, alice, "_register_view", {
    id: "alice-health",
    expr: 'state["alice"].health',
    render: { type: "progress", max: 100 },
  });
  await c.ok(room.id, room.token, "_register_view", { id: "turn-view", expr: "state._shared.turn * 10" });
  await c.ok(room.id, alice, "_send_message", { body: "hello everyone" });
  await c.ok(room.id, bob, "_send_message", { body: "hi alice, ready?", to: "alice", reply_to: 1 });
  await c.ok(room.id, alice, "_send_message", { body: { task: "scout", where: "north" }, kind: "task" });
  await c.ok(room.id, bob, "_claim_message", { seq: 3 });
  await c.ok(room.id, bob, "special_attack", {});
  await c.ok(room.id, alice, "take_turn", { move: "attack" });
  const refused = await c.invoke(room.id, bob, "finish", {});
  if (refused.status !== 409) throw new Error(`expected a refusal, got ${refused.status} ${refused.text}`);
  return { ...room, alice, bob };
}

/** The dashboard's address for a room, with the token in the fragment (never sent to the server). */
export const dashboardUrl = (base: string, room: string, token?: string) =>
  `${base}/?room=${encodeURIComponent(room)}${token ? `#token=${token}` : ""}`;

/**
 * Requests the page made from `from` on whose path matches `re`, once every request it started before now
 * has been reported: a marker request is sent and awaited, and events arrive in order.
 */
export async function requestsSince(page: Page, requests: string[], from: number, re: RegExp) {
  const marker = `/healthz?marker=${crypto.randomUUID()}`;
  await page.evaluate((m) => fetch(m).then((r) => r.text()), marker);
  await until(() => Promise.resolve(requests.some((u) => u.endsWith(marker))), "the marker request");
  return requests.slice(from).filter((u) => re.test(new URL(u).pathname));
}

/**
 * Runs a minute of the page's timers (poll ticks, reconnects) on Playwright's clock — installed before
 * the page loaded — and returns the requests for room paths the page made meanwhile.
 */
export async function roomRequestsOverAMinute(page: Page, requests: string[]): Promise<string[]> {
  const from = requests.length;
  await page.clock.runFor(60_000);
  return await requestsSince(page, requests, from, /^\/rooms\//);
}

/**
 * Records every text the element `selector` shows from now on (a later redraw may undo a state the test
 * looks for). The page code is a string: these tests are type-checked without the DOM library.
 */
export async function recordTexts(page: Page, selector: string): Promise<() => Promise<string[]>> {
  const key = `texts_${crypto.randomUUID().replaceAll("-", "")}`;
  await page.evaluate(`(() => {
    const seen = (window[${JSON.stringify(key)}] = []);
    const note = () => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (el) seen.push(el.textContent);
    };
    new MutationObserver(note).observe(document.body, { childList: true, subtree: true, characterData: true });
  })()`);
  return () => page.evaluate(`window[${JSON.stringify(key)}]`) as Promise<string[]>;
}

/** Records the data-flash-id of every element that gets the "flash" class from now on. */
export async function recordFlashes(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(`(() => {
    const seen = (window.flashed = []);
    new MutationObserver((list) => {
      for (const m of list) {
        const el = m.target;
        if (el.classList && el.classList.contains("flash")) seen.push(el.dataset.flashId);
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["class"] });
  })()`);
  return () => page.evaluate("window.flashed") as Promise<string[]>;
}

/** Polls until fn() is truthy (the DOM is polled, not timed: the bound only stops a hung test). */
export async function until<T>(fn: () => Promise<T>, what: string, limitMs = 10_000): Promise<T> {
  const end = Date.now() + limitMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Screenshots go under the test's temp dir and, for the lead to look at, to /work/main/.tmp/screens. */
export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}.png`;
  await page.screenshot({ path, fullPage: false });
  const share = new URL("../../.tmp/screens/", import.meta.url).pathname;
  await Deno.mkdir(share, { recursive: true }).catch(() => {});
  await Deno.copyFile(path, `${share}${name}.png`).catch(() => {});
  return path;
}
