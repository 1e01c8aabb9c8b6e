/**
 * The dashboard and the landing page at phone width (390 px): nothing is wider than the screen, even
 * with the longest ids, keys, names and unbroken values the API accepts.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, screenshot, seedRoom, test } from "./_fixture.ts";

const WIDTH = 390;
const id = (prefix: string) => (prefix + "-" + "x".repeat(128)).slice(0, 128);
const word = (n: number) => "w".repeat(n); // no break opportunity

/** The seeded room plus the longest of everything: agent, scope, key, value, role, grant, action, view. */
async function longRoom(base: string) {
  const room = await seedRoom(base, id("room"));
  const c = client(base);
  const agent = id("agent");
  const token = await c.join(room.id, agent, { name: word(256), role: word(128) });
  await c.http("PATCH", `/rooms/${room.id}/agents/${agent}`, {
    token: room.token,
    body: { grants: ["_" + word(128)] },
  });
  await c.ok(room.id, token, "_set_state", { key: word(256), value: word(3000) });
  await c.ok(room.id, room.token, "_set_state", {
    scope: "_" + word(128),
    key: word(256),
    value: { [word(200)]: [word(500), { [word(100)]: word(900) }] },
  });
  await c.ok(room.id, token, "_send_message", { body: word(2000), kind: word(64) });
  await c.ok(room.id, token, "_send_message", { body: { [word(150)]: word(1500) } });
  await c.ok(room.id, room.token, "_register_action", {
    id: id("action"),
    description: word(500),
    params: { [word(64)]: { type: "string", enum: [word(200)], description: word(300) } },
    if: `state._shared.phase == "${word(300)}"`,
    writes: [{ scope: "_" + word(128), key: word(256), value: "${params." + word(64) + "}" }],
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: id("view"),
    expr: `"${word(1200)}"`,
    description: word(400),
    render: word(100),
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: id("table"),
    expr: `[{"${word(80)}": "${word(400)}", "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6, "h": 7}]`,
    render: "table",
  });
  await c.invoke(room.id, token, id("action"), { [word(64)]: word(200) }); // refused: in the audit log
  return { ...room, agent };
}

async function assertFits(page: Page, what: string) {
  const wide = await page.evaluate(`(() => {
    const out = [];
    for (const el of document.querySelectorAll("body *")) {
      const r = el.getBoundingClientRect();
      if (r.right > ${WIDTH} + 0.5 && el.closest("[hidden]") === null && getComputedStyle(el).position !== "fixed") {
        let clipped = false;
        for (let p = el.parentElement; p; p = p.parentElement) {
          const o = getComputedStyle(p);
          if (o.overflowX !== "visible" && p.getBoundingClientRect().right <= ${WIDTH} + 0.5) clipped = true;
        }
        if (!clipped) out.push(el.tagName.toLowerCase() + "." + el.className + " right=" + Math.round(r.right));
      }
    }
    return { scroll: document.documentElement.scrollWidth, wide: out.slice(0, 30) };
  })()`) as { scroll: number; wide: string[] };
  assert.ok(wide.scroll <= WIDTH, `${what}: the document is ${wide.scroll} px wide: ${wide.wide.join(", ")}`);
}

test("dashboard at 390 px has no horizontal overflow with the longest ids and values", async (t) => {
  await using s = await startServer();
  const room = await longRoom(s.base);
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-screens-" });
  await using browser = await launch();
  const { page } = await openPage(browser, { width: WIDTH, height: 844 });
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector(`[data-agent="${room.agent}"]`);
  await page.waitForSelector("#b-audit li");

  await t.step("everything (room token)", async () => {
    await assertFits(page, "room token");
    const select = await page.locator("#persp").boundingBox();
    assert.ok(select && select.x >= 0 && select.x + select.width <= WIDTH, `View as select at ${select?.x}`);
    const live = await page.locator("#live").boundingBox();
    assert.ok(live && live.x + live.width <= WIDTH, "the live indicator is on screen");
    await screenshot(page, dir, "dashboard-phone-long-ids");
  });

  await t.step("with long values expanded and trees opened", async () => {
    await page.evaluate(`document.querySelectorAll("details").forEach((d) => d.open = true)`);
    for (const b of await page.locator("button.more:visible").all()) await b.click();
    assert.ok(await page.locator("button.more", { hasText: "show less" }).count() >= 5);
    await assertFits(page, "expanded");
    await page.locator("#p-messages").scrollIntoViewIfNeeded();
    await screenshot(page, dir, "dashboard-phone-long-values");
  });

  await t.step("viewing as the agent with the longest id", async () => {
    await page.selectOption("#persp", room.agent);
    await page.waitForSelector("#banner:not([hidden])");
    await assertFits(page, "perspective");
  });

  await t.step("the invoke dialog", async () => {
    await page.locator(`[data-action="${id("action")}"] [data-invoke]`).click();
    await page.waitForSelector("#invoke[open]");
    await assertFits(page, "invoke dialog");
    await page.click("#invoke-close");
  });
  await Deno.remove(dir, { recursive: true });
});

test("landing page at 390 px has no horizontal overflow, with a room of the longest id created", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const { page } = await openPage(browser, { width: WIDTH, height: 844 });
  await page.goto(s.base + "/");
  await assertFits(page, "landing");
  await page.fill("#create-id", id("room"));
  await page.click("#create-go");
  await page.waitForSelector("#created", { state: "visible" });
  await assertFits(page, "landing with tokens");
});
