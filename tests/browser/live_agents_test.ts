/**
 * Membership and presence reach an open dashboard without a reload (issue 14.2): an agent joining, a
 * PATCH of grants and role, and an agent blocking in /wait ("waiting on …") and leaving it. Needs the
 * server side of the feed contract: membership commits as `change` events with `agents`, and `presence`
 * events. The page is never reloaded and nothing else changes in the room, so only the feed can tell it.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, test, until } from "./_fixture.ts";

test("dashboard shows a join, a grant change and a blocked /wait live, without reload", async (t) => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("live-agents");
  const alice = await c.join(room.id, "alice");
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector("[data-agent=alice]");
  await page.waitForSelector("#live.on");
  await page.evaluate("window.sameDocument = true"); // gone if the page reloads
  const card = (id: string) => page.locator(`[data-agent=${id}]`);

  await t.step("an agent joining appears", async () => {
    await c.join(room.id, "carol", { role: "scout" });
    await until(async () => (await card("carol").count()) === 1, "carol's card");
    assert.match(await card("carol").innerText(), /scout/);
    assert.match(await page.locator("#c-agents").innerText(), /^2$/);
  });

  await t.step("a PATCH of grants and role appears", async () => {
    const r = await c.http("PATCH", `/rooms/${room.id}/agents/alice`, {
      token: room.token,
      body: { grants: ["_tasks"], role: "lead" },
    });
    assert.equal(r.status, 200, r.text);
    await until(async () => /_tasks/.test(await card("alice").innerText()), "alice's new grant");
    assert.match(await card("alice").innerText(), /lead/);
  });

  await t.step("an agent blocked in /wait shows what it waits on, and stops when the wait ends", async () => {
    const condition = 'state._shared.phase == "go"';
    const waiting = new AbortController();
    const wait = fetch(
      `${s.base}/rooms/${room.id}/wait?condition=${encodeURIComponent(condition)}&timeout=25000`,
      { headers: { authorization: `Bearer ${alice}` }, signal: waiting.signal },
    ).then((r) => r.text(), () => "aborted");
    try {
      await until(
        async () => (await card("alice").innerText()).includes(`waiting on ${condition}`),
        "alice waiting on the condition",
      );
      assert.match(await card("alice").innerText(), /waiting/);
    } finally {
      waiting.abort();
      await wait;
    }
    await until(async () => !/waiting on/.test(await card("alice").innerText()), "alice no longer waiting");
  });

  assert.equal(await page.evaluate("window.sameDocument"), true, "the page was not reloaded");
});
