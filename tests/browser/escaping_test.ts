/**
 * No room-provided string is ever interpreted as HTML by the dashboard: markup payloads planted in every
 * place a room can hold text (names, roles, grants, keys, values, messages, action and view definitions,
 * view values, audit entries, a wait condition, CEL results and errors) run nothing and show literally.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, seedRoom, test, until } from "./_fixture.ts";

/** Markup that runs `hit(n)` if it is ever parsed as HTML; n names where it was planted. */
const xss = (n: number) => `<img src=x onerror="hit(${n})"><b id="planted${n}">bold</b>`;
const svg = (n: number) => `"><svg onload="hit(${n})"></svg><script>hit(${n})</script>`;

async function plantedRoom(base: string) {
  const room = await seedRoom(base, "planted");
  const c = client(base);
  const eve = await c.join(room.id, "eve", { name: xss(1), role: xss(2), meta: { note: xss(3) } });
  await c.http("PATCH", `/rooms/${room.id}/agents/eve`, { token: room.token, body: { grants: [xss(4)] } });
  await c.ok(room.id, eve, "_set_state", { key: xss(5), value: xss(6) });
  await c.ok(room.id, eve, "_set_state", { key: "nested", value: { [xss(7)]: [xss(8), { k: svg(9) }] } });
  await c.ok(room.id, eve, "_set_state", { key: "long", value: xss(10) + "x".repeat(400) + xss(11) });
  await c.ok(room.id, room.token, "_set_state", {
    scope: "_shared",
    key: "gated",
    value: 1,
    enabled: `'${xss(12)}' != ''`,
  });
  await c.ok(room.id, eve, "_send_message", { body: xss(13) });
  await c.ok(room.id, eve, "_send_message", { body: { [xss(14)]: svg(15) } });
  await c.ok(room.id, eve, "_send_message", { body: xss(16) + "\n".repeat(12) + xss(17) });
  await c.ok(room.id, room.token, "_register_action", {
    id: "planted_action",
    description: xss(18),
    params: { p: { type: "string", description: xss(19), enum: [xss(20)], default: xss(20) } },
    if: `'${xss(21)}' != ''`,
    writes: [{ scope: "_shared", key: xss(22), value: xss(23) }],
  });
  await c.ok(room.id, eve, "planted_action", { p: xss(20) });
  await c.ok(room.id, room.token, "_register_view", {
    id: "planted-view",
    expr: `'${xss(24)}'`,
    description: xss(25),
    render: xss(26),
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: "planted-list",
    expr: `['${xss(27)}']`,
    render: "list",
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: "planted-table",
    expr: `[{'${xss(28)}': '${xss(29)}'}]`,
    render: "table",
  });
  await c.ok(room.id, room.token, "_register_view", {
    id: "planted-badge",
    expr: `'${xss(30)}'`,
    render: "badge",
  });
  await c.ok(room.id, room.token, "_register_view", { id: "planted-error", expr: `state['${xss(31)}'].x` });
  await c.invoke(room.id, eve, "_set_state", { key: xss(32), value: 1, [xss(33)]: true }); // refused, audited
  return { ...room, eve };
}

test("dashboard shows room-provided markup as text and never runs it", async (t) => {
  await using s = await startServer();
  const room = await plantedRoom(s.base);
  // eve blocks in /wait on a condition holding markup: the agents panel shows it as "waiting on …"
  const waiting = new AbortController();
  const wait = fetch(
    `${s.base}/rooms/${room.id}/wait?condition=${
      encodeURIComponent(`'${xss(34)}' == 'never'`)
    }&timeout=25000`,
    { headers: { authorization: `Bearer ${room.eve}` }, signal: waiting.signal },
  ).then((r) => r.text(), () => "aborted");
  try {
    await until(async () => {
      const ctx = await client(s.base).context(room.id, room.token);
      return ctx.agents?.eve?.status === "waiting";
    }, "eve to wait");
    await using browser = await launch();
    const { page } = await openPage(browser);
    await page.addInitScript(`window.hits = []; window.hit = (n) => window.hits.push(n);`);
    await page.goto(dashboardUrl(s.base, room.id, room.token));
    await page.waitForSelector("[data-agent=eve] .waiting-on");
    await page.waitForSelector("[data-view=planted-table] table");

    const body = () => page.locator("body").innerText();
    await t.step("every planted string is shown literally", async () => {
      await page.evaluate(`document.querySelectorAll("details").forEach((d) => d.open = true)`);
      for (const b of await page.locator("button.more:visible").all()) await b.click();
      const text = await body();
      const shown = [
        1,
        2,
        4,
        5,
        6,
        7,
        8,
        10,
        11,
        13,
        14,
        16,
        17,
        18,
        21,
        22,
        24,
        25,
        26,
        27,
        28,
        29,
        30,
        31,
        34,
      ];
      const missing = shown.filter((n) => !text.includes(xss(n)));
      assert.deepEqual(missing, [], "payloads shown as text");
      // inside JSON (a param's enum and default, audited params) the quotes are escaped
      for (const n of [20, 32, 33]) assert.ok(text.includes(JSON.stringify(xss(n))), `payload ${n} as JSON`);
      assert.ok(text.includes(svg(9)) && text.includes(svg(15)), "the svg payloads are shown as text");
    });

    await t.step("the CEL console shows results and errors holding markup as text", async () => {
      await page.fill("#cel-expr", `'${xss(35)}'`);
      await page.press("#cel-expr", "Enter");
      await until(
        async () => (await page.locator("#cel-out li .res").first().innerText()).includes(xss(35)),
        "eval",
      );
      await page.fill("#cel-expr", `state['${xss(36)}'] +`);
      await page.press("#cel-expr", "Enter");
      await until(
        async () => (await page.locator("#cel-out li").first().innerText()).includes(xss(36)),
        "echo",
      );
    });

    await t.step("the invoke dialog shows the description and defaults as text", async () => {
      await page.click("[data-action=planted_action] [data-invoke]");
      assert.ok((await page.locator("#invoke-as").innerText()).includes(xss(18)));
      assert.equal(JSON.parse(await page.inputValue("#invoke-params")).p, xss(20));
      await page.click("#invoke-close");
    });

    await t.step("nothing ran and no planted element exists", async () => {
      assert.deepEqual(await page.evaluate("window.hits"), []);
      assert.equal(await page.locator("img, svg, [id^=planted], script:not([src])").count(), 0);
      assert.equal(await page.locator("[onerror], [onload], [onclick]").count(), 0);
    });
  } finally {
    waiting.abort();
    await wait;
  }
});
