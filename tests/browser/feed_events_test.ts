/**
 * The dashboard's handling of the change-feed events for membership and presence (issue 14.2's feed
 * contract: `presence` without an id, `error` before the server ends a feed). The server does not send
 * them yet, so the feed is answered here with a recorded stream while /poll stays real.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { client, startServer } from "../_server.ts";
import {
  dashboardUrl,
  launch,
  openPage,
  recordTexts,
  roomRequestsOverAMinute,
  test,
  until,
} from "./_fixture.ts";

/** Holds the page's /events requests until release(), then answers each with `body` as the stream. */
async function scriptFeed(page: Page, body: string) {
  let release = () => {};
  const released = new Promise<void>((r) => release = r);
  await page.route("**/rooms/*/events", async (route) => {
    await released;
    await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body });
  });
  return release;
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

test("a presence event shows an agent waiting on a condition, and ignores agents not shown", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("presence");
  await c.join(room.id, "alice");
  await c.join(room.id, "bob");
  await using browser = await launch();
  const { page } = await openPage(browser);
  const condition = 'state._shared.phase == "go"';
  const release = await scriptFeed(
    page,
    ": connected\n\n" + sse("presence", {
      cursor: 3,
      agents: [
        { id: "bob", status: "waiting", waiting_on: condition, last_heartbeat: new Date().toISOString() },
        { id: "mallory", status: "waiting", waiting_on: "not shown: not in this room" },
      ],
    }),
  );
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector("[data-agent=bob]");
  // every text bob's card shows: a later /poll redraws it with the server's own state
  const bobTexts = await recordTexts(page, "[data-agent=bob]");
  release();
  await until(async () => (await bobTexts()).some((t) => t.includes(condition)), "bob waiting on it");
  const seen = await bobTexts();
  assert.ok(seen.some((t) => /waiting/.test(t) && t.includes(`waiting on ${condition}`)), seen.join(" | "));
  assert.equal(await page.locator("[data-agent=mallory]").count(), 0, "an agent not in the list stays out");
});

/** A dashboard (on Playwright's clock) of a room with alice, whose feed sends `event` once it has loaded. */
async function dashboardWithFeed(base: string, browser: Browser, roomId: string, event: string) {
  const c = client(base);
  const room = await c.createRoom(roomId);
  await c.join(room.id, "alice");
  const { page, requests } = await openPage(browser);
  await page.clock.install();
  const release = await scriptFeed(page, event);
  await page.goto(dashboardUrl(base, room.id, room.token));
  await page.waitForSelector("[data-agent=alice]");
  release();
  return { page, requests };
}

test("an error event ends the feed: room_not_found shows the message and stops every request", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const error = sse("error", { error: "room_not_found", message: "room doomed not found" });
  const { page, requests } = await dashboardWithFeed(s.base, browser, "doomed", error);
  await page.waitForSelector("#missing", { state: "visible" });
  assert.match(
    await page.locator("#missing").innerText(),
    /Room doomed not found\. It may have been deleted/,
  );
  assert.deepEqual(await roomRequestsOverAMinute(page, requests), []);
});

test("an error event invalid_token asks for a token again and stops the feed", async () => {
  await using s = await startServer();
  await using browser = await launch();
  const error = sse("error", { error: "invalid_token", message: "token rotated" });
  const { page, requests } = await dashboardWithFeed(s.base, browser, "revoked", error);
  await page.waitForSelector("#gate-token", { state: "visible" });
  assert.match(await page.locator("#gate-error").innerText(), /token rotated/);
  assert.deepEqual(await page.evaluate(() => Object.values(sessionStorage)), []);
  assert.deepEqual(await roomRequestsOverAMinute(page, requests), []);
});
