/**
 * The dashboard shows why something is hidden (issue 14.3): with the room or view token, a dormant and a
 * disabled state entry carry "dormant" / "disabled" badges with their timer and condition, a hidden view
 * its badge and expression, an action its `enabled` condition; with an agent's token none of it appears.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, test } from "./_fixture.ts";

test("dashboard badges dormant and disabled entries and views for room and view tokens, never for agents", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("hidden");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_batch_set_state", {
    writes: [
      { scope: "_shared", key: "live", value: "in the open" },
      { scope: "_shared", key: "later", value: "surprise", timer: { ms: 3_600_000, effect: "enable" } },
      { scope: "_shared", key: "gated", value: "behind the gate", enabled: "state._shared.open == true" },
    ],
  });
  await c.ok(room.id, room.token, "_register_view", { id: "off", expr: "40 + 2", enabled: "false" });
  await c.ok(room.id, room.token, "_register_action", {
    id: "open_gate",
    enabled: 'state._shared.live == "closed"',
    writes: [{ scope: "_shared", key: "open", value: true }],
  });
  await using browser = await launch();

  for (const token of [room.token, room.view]) {
    const { page, ctx } = await openPage(browser);
    await page.goto(dashboardUrl(s.base, room.id, token));
    const later = page.locator("[data-scope=_shared] [data-key=later]");
    await later.waitFor();
    assert.match(await later.getAttribute("class") ?? "", /hidden-row/);
    assert.equal(await later.locator(".badge[data-hidden]").innerText(), "dormant");
    assert.match(await later.innerText(), /live in/, "the enable timer's countdown");
    const gated = page.locator("[data-scope=_shared] [data-key=gated]");
    assert.equal(await gated.locator(".badge[data-hidden]").innerText(), "disabled");
    assert.match(await gated.innerText(), /enabled if state\._shared\.open == true/);
    assert.equal(await page.locator("[data-key=live] [data-hidden]").count(), 0, "a live entry has no badge");
    const view = page.locator("[data-view=off]");
    assert.equal(await view.locator(".badge[data-hidden]").innerText(), "disabled");
    assert.match(await view.innerText(), /40 \+ 2/);
    assert.match(await page.locator("[data-action=open_gate]").innerText(), /enabled if/);
    await ctx.close();
  }

  const { page, ctx } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, alice));
  await page.locator("[data-scope=_shared] [data-key=live]").waitFor();
  assert.equal(await page.locator(".badge[data-hidden], .hidden-row").count(), 0);
  assert.equal(await page.locator("[data-key=later], [data-key=gated], [data-view=off]").count(), 0);
  const text = await page.locator("body").innerText();
  assert.ok(!text.includes("surprise") && !text.includes("behind the gate"), "no hidden value reaches alice");
  assert.doesNotMatch(await page.locator("[data-action=open_gate]").innerText(), /enabled if/);
  await ctx.close();
});
