/**
 * The dashboard in a real headless Chromium (playwright-core → /usr/bin/chromium) against a seeded room:
 * panels, privacy per identity, live updates through the change feed, the CEL console, message paging.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, SECRET, type Seeded, seedRoom, test, until } from "./_fixture.ts";

const dash = dashboardUrl;

/** Waits for the dashboard's first load (the agents panel is drawn from /poll). */
async function loaded(page: Page) {
  await page.waitForSelector("[data-agent=bob]", { timeout: 15_000 });
}

/** Every request went to the server, and none carried a token in its URL (fragments are never sent). */
function assertRequestsClean(requests: string[], base: string, room: Seeded) {
  assert.ok(requests.length > 0);
  for (const u of requests) {
    const sent = u.replace(/#.*$/, "");
    assert.ok(sent.startsWith(base + "/"), `request to another origin: ${u}`);
    for (const t of [room.token, room.view, room.alice, room.bob]) {
      assert.ok(!sent.includes(t), `a token appeared in a request URL: ${sent}`);
    }
  }
}

const text = (page: Page, sel: string) => page.locator(sel).innerText();

test("dashboard with a room token shows every panel, updates live, and evaluates CEL", async (t) => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  await using browser = await launch();
  const { page, requests } = await openPage(browser);
  await page.goto(dash(s.base, room.id, room.token));
  await loaded(page);

  await t.step("the token leaves the address bar and is kept in sessionStorage", async () => {
    assert.ok(!page.url().includes(room.token), page.url());
    const stored = await page.evaluate(() => Object.values(sessionStorage));
    assert.deepEqual(stored, [room.token]);
    assert.match(await text(page, "#who"), /room token/);
  });

  await t.step("agents panel: presence, status, role, heartbeat and grants", async () => {
    const bob = await text(page, "[data-agent=bob]");
    assert.match(bob, /active/);
    assert.match(bob, /player/);
    assert.match(bob, /_tasks/);
    assert.match(bob, /ago/);
    assert.match(await text(page, "[data-agent=alice]"), /alice/);
  });

  await t.step(
    "state panel: scopes grouped with versions, timer and enabled badges, private scopes",
    async () => {
      const shared = await text(page, "[data-scope=_shared]");
      assert.match(shared, /phase\s+"playing"/);
      assert.match(shared, /turn\s+4\s+v2/);
      assert.match(shared, /expires in/);
      assert.match(shared, /enabled if/);
      assert.match(shared, /cells/);
      assert.match(await text(page, "[data-scope=_tasks]"), /index the docs/);
      assert.match(await text(page, "[data-scope=alice]"), new RegExp(SECRET));
      assert.match(await text(page, "[data-scope=bob]"), /hide-in-the-south/);
    },
  );

  await t.step("state panel: the JSON tree collapses and the key filter narrows the rows", async () => {
    const board = page.locator('[data-path="v:_shared/board"]');
    assert.equal(await board.getAttribute("open"), "");
    await board.locator("summary").first().click();
    assert.equal(await board.getAttribute("open"), null);
    await page.fill("#state-filter", "secret");
    await until(async () => (await page.locator("#b-state .row").count()) === 2, "filtered rows");
    await page.fill("#state-filter", "");
    await until(async () => (await page.locator("#b-state .row").count()) > 2, "unfiltered rows");
  });

  await t.step("messages panel: sender, recipient, reply_to, claims, JSON bodies", async () => {
    const msgs = await text(page, "#b-messages");
    assert.match(msgs, /hello everyone/);
    assert.match(await text(page, ".msg[data-seq='2']"), /bob\s*→ alice[\s\S]*↩ #1/);
    assert.match(await text(page, ".msg[data-seq='3']"), /claimed by bob/);
    assert.match(await text(page, ".msg[data-seq='3']"), /scout/);
    assert.match(await text(page, "#msg-range"), /#1–#4 of 4/);
  });

  await t.step("actions panel: availability, params, writes, cooldown countdown", async () => {
    const take = await text(page, "[data-action=take_turn]");
    assert.match(take, /available/);
    assert.match(take, /move: string required/);
    assert.match(take, /append to _messages/);
    assert.match(take, /_shared\.turn \+= 1/);
    assert.match(await text(page, "[data-action=finish]"), /unavailable/);
    const special = page.locator("[data-action=special_attack] [data-until]");
    const first = await special.innerText();
    assert.match(first, /\d+m \d+s/);
    await until(async () => (await special.innerText()) !== first, "the cooldown to count down");
    assert.equal(await page.locator("[data-invoke]").count() > 0, true);
  });

  await t.step("views panel: live values with render hints", async () => {
    assert.match(await text(page, "[data-view=alice-status]"), /healthy/);
    assert.equal(await page.locator("[data-view=alice-status] .badge.ok").innerText(), "healthy");
    assert.match(await text(page, "[data-view=alice-health]"), /80\s*\/ 100/);
    assert.equal(await page.locator("[data-view=alice-health] .meter").count(), 1);
    assert.match(await text(page, "[data-view=turn-view]"), /40/);
  });

  await t.step("audit panel: ok and refused entries, filterable by agent and action", async () => {
    const refused = page.locator("#b-audit li[data-ok='0']");
    assert.equal(await refused.count(), 1);
    assert.match(await refused.innerText(), /bob[\s\S]*finish[\s\S]*409[\s\S]*precondition_failed/);
    await page.selectOption("#audit-agent", "alice");
    await until(async () => {
      const all = await page.locator("#b-audit li .what").allInnerTexts();
      return all.length > 0 && all.every((x) => x.startsWith("alice"));
    }, "audit filtered to alice");
    await page.selectOption("#audit-agent", "");
    await page.selectOption("#audit-action", "finish");
    await until(async () => (await page.locator("#b-audit li").count()) === 1, "audit filtered to finish");
    await page.selectOption("#audit-action", "");
    await page.selectOption("#audit-ok", "refused");
    await until(async () => (await page.locator("#b-audit li").count()) === 1, "audit filtered to refusals");
    await page.selectOption("#audit-ok", "");
  });

  await t.step("a write through the API appears without a reload", async () => {
    const c = client(s.base);
    await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "phase", value: "endgame" });
    await c.ok(room.id, room.bob, "_send_message", { body: "live message from bob" });
    await until(
      async () => /"endgame"/.test(await text(page, "[data-scope=_shared] [data-key=phase]")),
      "phase update",
    );
    await until(async () => /live message from bob/.test(await text(page, "#b-messages")), "new message");
    await until(
      async () => /\bavailable/.test(await text(page, "[data-action=finish]")),
      "finish to become available",
    );
    assert.ok(!/unavailable/.test(await text(page, "[data-action=finish]")));
    assert.match(await text(page, "#live"), /live/);
  });

  await t.step("the CEL console evaluates 1 + 2 to 3 against the room", async () => {
    await page.fill("#cel-expr", "1 + 2");
    await page.click("#cel-form button[type=submit]");
    await until(
      async () => (await page.locator("#cel-out li .res").first().innerText()).trim() === "3",
      "eval result",
    );
    await page.fill("#cel-expr", "state._shared.turn * 2");
    await page.press("#cel-expr", "Enter");
    await until(
      async () => (await page.locator("#cel-out li .res").first().innerText()).trim() === "8",
      "eval turn",
    );
    await page.fill("#cel-expr", "1 +");
    await page.press("#cel-expr", "Enter");
    await until(
      async () => /invalid_cel/.test(await page.locator("#cel-out li .res").first().innerText()),
      "cel error",
    );
  });

  await t.step("an action can be invoked from the dashboard", async () => {
    await page.click("[data-action=take_turn] [data-invoke]");
    assert.equal(JSON.parse(await page.inputValue("#invoke-params")).move, "attack");
    await page.fill("#invoke-params", JSON.stringify({ move: "heal" }));
    await page.click("#invoke-go");
    await until(
      async () => /^409[\s\S]*precondition_failed/.test(await text(page, "#invoke-result")),
      "a refusal",
    );
    await page.click("#invoke-close");
    await page.click("[data-action=finish] [data-invoke]");
    await page.click("#invoke-go");
    await until(async () => /^200/.test(await text(page, "#invoke-result")), "invoke result");
    await page.click("#invoke-close");
    await until(
      async () => /"over"/.test(await text(page, "[data-scope=_shared] [data-key=phase]")),
      "the write",
    );
  });

  await t.step("no request left the server and no URL carried a token", () => {
    assertRequestsClean(requests, s.base, room);
    assert.ok(requests.some((u) => u.endsWith(`/rooms/${room.id}/events`)), "the change feed was used");
  });
});

test("dashboard perspectives: as-agent selector, agent token, view token, paste field", async (t) => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  await using browser = await launch();

  await t.step("the agent-perspective selector hides alice's private value when viewing as bob", async () => {
    const { ctx, page, requests } = await openPage(browser);
    try {
      await page.goto(dash(s.base, room.id, room.token));
      await loaded(page);
      assert.match(await text(page, "#b-state"), new RegExp(SECRET));
      await page.selectOption("#persp", "bob");
      await until(
        async () => (await page.locator("[data-scope=alice]").count()) === 0,
        "alice's scope to vanish",
      );
      assert.ok(!(await page.content()).includes(SECRET));
      assert.match(await text(page, "[data-scope=bob]"), /hide-in-the-south/);
      assert.match(await text(page, "#banner"), /Viewing as bob/);
      assert.match(await text(page, "[data-view=alice-status]"), /healthy/);
      await page.fill("#cel-expr", '"alice" in state');
      await page.press("#cel-expr", "Enter");
      await until(
        async () => (await page.locator("#cel-out li .res").first().innerText()).trim() === "false",
        "eval as bob",
      );
      assert.ok(requests.some((u) => /\/poll\?.*agent=bob/.test(u)));
      await page.selectOption("#persp", "");
      await until(async () => (await page.locator("[data-scope=alice]").count()) === 1, "alice's scope back");
      assertRequestsClean(requests, s.base, room);
    } finally {
      await ctx.close();
    }
  });

  await t.step("an agent token (bob) never shows alice's secret", async () => {
    const { ctx, page, requests } = await openPage(browser);
    try {
      await page.goto(dash(s.base, room.id, room.bob));
      await loaded(page);
      await page.waitForSelector("[data-scope=bob]");
      assert.match(await text(page, "#who"), /agent · bob/);
      assert.equal(await page.locator("#persp-wrap").isVisible(), false);
      assert.equal(await page.locator("[data-scope=alice]").count(), 0);
      assert.match(await text(page, "[data-view=alice-status]"), /healthy/);
      const audit = await page.locator("#b-audit li .what").allInnerTexts();
      assert.ok(audit.length > 0 && audit.every((x) => x.startsWith("bob")), audit.join("|"));
      await page.fill("#cel-expr", "state");
      await page.press("#cel-expr", "Enter");
      await page.waitForSelector("#cel-out li .res");
      // a live change arrives, and still nothing of alice's
      await client(s.base).ok(room.id, room.alice, "_set_state", {
        key: "secret_plan",
        value: SECRET + "-v2",
      });
      await client(s.base).ok(room.id, room.alice, "_send_message", { body: "ping from alice" });
      await until(async () => /ping from alice/.test(await text(page, "#b-messages")), "live message");
      assert.ok(!(await page.content()).includes(SECRET));
      assertRequestsClean(requests, s.base, room);
    } finally {
      await ctx.close();
    }
  });

  await t.step("a view token shows all state and offers no mutation", async () => {
    const { ctx, page, requests } = await openPage(browser);
    try {
      await page.goto(dash(s.base, room.id, room.view));
      await loaded(page);
      assert.match(await text(page, "#who"), /read-only/);
      assert.match(await text(page, "[data-scope=_shared]"), /phase/);
      assert.equal(await page.locator("[data-action=take_turn]").count(), 1);
      assert.equal(await page.locator("[data-invoke]").count(), 0);
      assert.equal(await page.locator("#persp-wrap").isVisible(), false);
      assertRequestsClean(requests, s.base, room);
    } finally {
      await ctx.close();
    }
  });

  await t.step("without a token the page asks for one, and a pasted token opens the room", async () => {
    const { ctx, page, requests } = await openPage(browser);
    try {
      await page.goto(dash(s.base, room.id));
      await page.waitForSelector("#gate-token", { state: "visible" });
      await page.fill("#gate-token", "room_not-a-real-token");
      await page.press("#gate-token", "Enter");
      await until(async () => /token/i.test(await text(page, "#gate-error")), "refusal message");
      await page.fill("#gate-token", room.view);
      await page.press("#gate-token", "Enter");
      await loaded(page);
      assert.match(await text(page, "#who"), /read-only/);
      assertRequestsClean(requests, s.base, room);
      assert.ok(requests.every((u) => !u.includes("room_not-a-real-token")));
    } finally {
      await ctx.close();
    }
  });
});

test("dashboard pages thousands of messages instead of rendering them all", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("busy");
  const alice = await c.join(room.id, "alice");
  await c.join(room.id, "bob");
  const total = 2500;
  for (let i = 0; i < total; i += 100) {
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, j) => c.ok(room.id, alice, "_send_message", { body: `message ${i + j + 1}` }),
      ),
    );
  }
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dash(s.base, room.id, room.token));
  await loaded(page);
  await page.waitForSelector(".msg");
  assert.equal(await page.locator(".msg").count(), 200);
  assert.match(await text(page, "#msg-range"), /#2,301–#2,500 of 2,500/);
  assert.match(await text(page, ".msg >> nth=0"), /#2500/);
  await page.click("#msg-older");
  await until(async () => /#2,101–#2,300/.test(await text(page, "#msg-range")), "the older page");
  assert.equal(await page.locator(".msg").count(), 200);
  assert.match(await text(page, ".msg >> nth=0"), /message 2300/);
  await page.click("#msg-newer");
  await until(async () => /live/.test(await text(page, "#msg-range")), "back to the latest page");
  await c.ok(room.id, alice, "_send_message", { body: "message 2501" });
  await until(
    async () => /message 2501/.test(await text(page, ".msg >> nth=0")),
    "a live message on the latest page",
  );
  assert.equal(await page.locator(".msg").count(), 200);
});
