/**
 * How the dashboard shows values: long ones collapse behind "show more" (and stay open across live
 * updates), timestamps carry the date, and a value that changed flashes while unchanged ones do not.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, recordFlashes, seedRoom, test, until } from "./_fixture.ts";

const ESSAY = Array.from({ length: 60 }, (_, i) => `sentence ${i + 1} of a long essay.`).join(" ");

test("dashboard collapses a long value behind show more, and keeps it open across updates", async () => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  const c = client(s.base);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "essay", value: ESSAY });
  await c.ok(room.id, room.alice, "_send_message", { body: ESSAY });
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  const row = page.locator("[data-scope=_shared] [data-key=essay]");
  await row.waitFor();
  const button = row.locator("button.more");
  assert.equal(await button.innerText(), `show more (${ESSAY.length.toLocaleString("en-US")} chars)`);
  const collapsed = await row.locator(".val").innerText();
  assert.ok(collapsed.length < 400, `collapsed to ${collapsed.length} characters`);
  assert.ok(!collapsed.includes("sentence 60"), "the end of the value is hidden");

  await button.click();
  assert.equal(await button.innerText(), "show less");
  assert.match(await row.locator(".val").innerText(), /sentence 60 of a long essay\./);

  // a live update redraws the panel; the value stays open
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 99 });
  await until(async () => /99/.test(await page.locator("[data-key=turn]").innerText()), "the live update");
  assert.equal(await row.locator("button.more").innerText(), "show less");
  assert.match(await row.locator(".val").innerText(), /sentence 60/);
  await row.locator("button.more").click();
  assert.ok(!(await row.locator(".val").innerText()).includes("sentence 60"));

  // a long message body collapses the same way
  const msg = page.locator(".msg", { hasText: "sentence 1 of" });
  assert.match(await msg.locator("button.more").innerText(), /^show more/);
  assert.ok(!(await msg.innerText()).includes("sentence 60"));
});

test("dashboard timestamps carry the date as well as the time", async () => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector(".msg");
  for (const sel of ["#b-messages time", "#b-audit time"]) {
    const times = await page.locator(sel).evaluateAll((els) =>
      els.map((e) => ({ text: e.textContent, iso: e.getAttribute("datetime") }))
    );
    assert.ok(times.length > 0, sel);
    for (const t of times) {
      const d = new Date(t.iso!);
      const p = (n: number) => String(n).padStart(2, "0");
      const local = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
        `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
      assert.equal(t.text, local, `${sel} ${t.iso}`);
    }
  }
  const heartbeat = await page.locator("[data-agent=bob] [data-ago]").getAttribute("title");
  assert.match(heartbeat ?? "", /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
});

test("dashboard flashes a state value and a view value that changed, and nothing else", async () => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  const c = client(s.base);
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector("[data-view=turn-view]");
  await page.waitForSelector("#live.on");
  const flashed = await recordFlashes(page);
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 7 });
  await until(async () => {
    const ids = await flashed();
    return ids.includes("_shared/turn") && ids.includes("turn-view");
  }, "the changed values to flash");
  assert.match(await page.locator("[data-view=turn-view]").innerText(), /70/);
  const ids = await flashed();
  for (const unchanged of ["_shared/phase", "_shared/board", "alice/secret_plan", "alice-status", "alice"]) {
    assert.ok(!ids.includes(unchanged), `${unchanged} did not change but flashed: ${ids.join(", ")}`);
  }
  // the flash is brief: the class goes when its animation ends
  await until(async () => (await page.locator(".flash").count()) === 0, "the flash to end");
});
