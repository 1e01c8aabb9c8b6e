/**
 * The landing page in a real headless Chromium: create a room, see its tokens once, open its dashboard.
 * Also takes the screenshots (desktop 1280×800 and phone 390×844, light and dark) people look at.
 */
import assert from "node:assert/strict";
import { startServer } from "../_server.ts";
import { launch, openPage, screenshot, seedRoom, test, until } from "./_fixture.ts";

test("landing page creates a room, shows its tokens once and opens its dashboard", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const { page, requests } = await openPage(browser);
  await page.goto(s.base + "/");
  assert.match(await page.locator("h1").innerText(), /agent-sync/);
  assert.match(await page.locator(".hero").innerText(), /coordination server/);

  await page.fill("#create-id", "fresh");
  await page.click("#create-go");
  await page.waitForSelector("#created", { state: "visible" });
  assert.equal(await page.locator("#created-id").innerText(), "fresh");
  const roomToken = await page.inputValue("#room-token");
  const viewToken = await page.inputValue("#view-token");
  assert.match(roomToken, /^room_/);
  assert.match(viewToken, /^view_/);
  await page.click("[data-copy=room-token]");
  await until(
    async () => /Copied|copy/.test(await page.locator("[data-copy=room-token]").innerText()),
    "copy feedback",
  );

  // a second room with the same id is refused with the server's message
  await page.fill("#create-id", "fresh");
  await page.click("#create-go");
  await until(
    async () => /already exists/.test(await page.locator("#create-error").innerText()),
    "room_exists error",
  );

  await page.click("#open-dashboard");
  await page.waitForSelector("#who:not([hidden])");
  assert.match(await page.locator("#who").innerText(), /room token/);
  assert.match(await page.locator(".room-id").innerText(), /fresh/);
  assert.ok(!page.url().includes(roomToken));
  await page.waitForSelector("#b-agents .empty");
  assert.match(await page.locator("#b-agents").innerText(), /No agents/);

  for (const u of requests) {
    const sent = u.replace(/#.*$/, ""); // a fragment is never sent to a server
    assert.ok(sent.startsWith(s.base + "/"), `request to another origin: ${u}`);
    assert.ok(!sent.includes(roomToken) && !sent.includes(viewToken), `token in a request URL: ${sent}`);
  }
});

test("landing page's For agents block: commands at column 0 and links to every reference", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(s.base + "/");
  const lines = (await page.locator("#curl-example").innerText()).split("\n");
  assert.equal(lines[0], "# the README: read context, invoke, wait (also at /SKILL.md)");
  for (const line of lines) {
    assert.ok(!/^\s/.test(line), `indented line in the commands: ${JSON.stringify(line)}`);
  }
  assert.ok(lines.includes(`curl -s ${s.base}/`), "the commands carry this server's address");

  const links = await page.locator("ul.links a").evaluateAll((as) =>
    as.map((a) => ({ href: a.getAttribute("href")!, text: (a.parentElement?.textContent ?? "").trim() }))
  );
  const hrefs = links.map((l) => l.href);
  const reference = [...Deno.readDirSync(new URL("../../reference/", import.meta.url))]
    .filter((e) => e.name.endsWith(".md")).map((e) => `/reference/${e.name}`);
  for (const doc of ["/SKILL.md", ...reference]) {
    assert.ok(hrefs.includes(doc), `the links omit ${doc}`);
    const r = await fetch(s.base + doc);
    await r.body?.cancel();
    assert.equal(r.status, 200, doc);
  }
  // the OpenAPI document is linked under its name (the route is added with it)
  assert.match(links.find((l) => l.href === "/openapi.json")?.text ?? "", /the OpenAPI document/);
});

test("screenshots of the dashboard and landing page at desktop and phone width, light and dark", async () => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-screens-" });
  await using browser = await launch();
  const sizes = [["desktop", 1280, 800], ["phone", 390, 844]] as const;
  for (const [size, width, height] of sizes) {
    for (const dark of [false, true]) {
      const { ctx, page } = await openPage(browser, { width, height, dark });
      try {
        const scheme = dark ? "dark" : "light";
        await page.goto(`${s.base}/?room=${room.id}#token=${room.token}`);
        await page.waitForSelector("[data-agent=bob]");
        await page.waitForSelector("#live.on");
        await screenshot(page, dir, `dashboard-${size}-${scheme}`);
        await page.locator("#p-messages").scrollIntoViewIfNeeded();
        await screenshot(page, dir, `dashboard-${size}-${scheme}-lower`);
        await page.goto(`${s.base}/`);
        await page.fill("#create-id", `shot-${size}-${scheme}`);
        await page.click("#create-go");
        await page.waitForSelector("#created", { state: "visible" });
        await page.locator("#created").scrollIntoViewIfNeeded();
        await screenshot(page, dir, `landing-${size}-${scheme}`);
      } finally {
        await ctx.close();
      }
    }
  }
  const files = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.equal(files.length, 12);
});
