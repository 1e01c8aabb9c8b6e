/**
 * The dashboard for a room that does not exist, or stops existing while it is open: a clear message
 * instead of panels saying "Loading…", and no more requests. The page's timers run on Playwright's
 * clock, so "no more requests" is checked over a minute of page time without waiting one.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, roomRequestsOverAMinute, test, until } from "./_fixture.ts";

test("dashboard for a missing room says so and stops polling and streaming", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const { page, requests } = await openPage(browser);
  await page.clock.install();
  await page.goto(dashboardUrl(s.base, "no-such-room", "room_0123456789abcdef"));
  await page.waitForSelector("#missing", { state: "visible" });
  const notice = await page.locator("#missing").innerText();
  assert.match(notice, /Room no-such-room not found/);
  assert.match(notice, /stopped asking the server/);
  assert.equal(await page.locator("#app").isVisible(), false);
  assert.ok(!(await page.locator("body").innerText()).includes("Loading…"), "no panel says Loading…");
  assert.match(await page.locator("#live").innerText(), /stopped/);
  assert.ok(requests.some((u) => u.includes("/rooms/no-such-room/poll")), "the room was asked for");
  assert.deepEqual(await roomRequestsOverAMinute(page, requests), []);
});

test("dashboard whose room is deleted while open says so and stops", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("short-lived");
  await c.join(room.id, "alice");
  await using browser = await launch();
  const { page, requests } = await openPage(browser);
  await page.clock.install();
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector("[data-agent=alice]");
  await page.waitForSelector("#live.on");
  const del = await c.http("DELETE", `/rooms/${room.id}`, { token: room.token });
  assert.equal(del.status, 200, del.text);
  // the feed ends with the room; the page finds out within its poll and reconnect timers
  await until(async () => {
    await page.clock.runFor(2_000);
    return await page.locator("#missing").isVisible();
  }, "the missing-room message");
  assert.match(await page.locator("#missing").innerText(), /Room short-lived not found/);
  assert.deepEqual(await roomRequestsOverAMinute(page, requests), []);
});
