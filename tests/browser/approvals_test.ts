/**
 * The Approvals panel in a real headless Chromium: a pending proposal with who proposed it, its params, the
 * approvals so far and its expiry; Approve from the dashboard runs it and "executed" shows live; an agent
 * token that may decide gets the buttons, one that may not sees nothing of the proposal.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, test, until } from "./_fixture.ts";

const SECRET = "blue-green-cutover";

async function approvalRoom(base: string) {
  const c = client(base);
  const room = await c.createRoom("approvals");
  const alice = await c.join(room.id, "alice", { role: "dev" });
  const rev = await c.join(room.id, "rev", { role: "reviewer" });
  const bob = await c.join(room.id, "bob", { role: "dev" });
  await c.ok(room.id, room.token, "_register_action", {
    id: "deploy",
    description: "Ship a version once a reviewer and a human agree",
    params: { version: { type: "string", required: true }, plan: { type: "string" } },
    writes: [{ scope: "_shared", key: "deployed", value: "${params.version}" }],
    approval: {
      count: 2,
      from: "approver == 'admin' || agents[approver].role == 'reviewer'",
      expires_ms: 3_600_000,
    },
  });
  const made = await c.invoke(room.id, alice, "deploy", { version: "v42", plan: SECRET });
  if (made.status !== 202) throw new Error(`proposal: ${made.status} ${made.text}`);
  return { c, room, alice, rev, bob, id: made.json.proposal.id as string };
}

const text = (page: Page, sel: string) => page.locator(sel).innerText();

test("dashboard Approvals: a pending proposal, approved from the page, shows executed live", async (t) => {
  await using s = await startServer();
  const { c, room, rev, bob, id } = await approvalRoom(s.base);
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  const card = `[data-proposal="${id}"]`;
  await page.waitForSelector(card, { timeout: 15_000 });

  await t.step("the card shows the action, proposer, params, approvals so far and the expiry", async () => {
    const shown = await text(page, card);
    assert.match(shown, /deploy/);
    assert.match(shown, /pending/);
    assert.match(shown, /by alice/);
    assert.match(shown, /v42/);
    assert.ok(shown.includes(SECRET), "the room token sees the params");
    assert.match(shown, /0 of 2/);
    assert.match(shown, /expires in (59|60)m/);
    assert.match(await text(page, "#c-proposals"), /1 pending/);
  });

  await t.step("an approval through the API appears without a reload", async () => {
    await c.ok(room.id, rev, "_approve", { proposal: id });
    await until(async () => /1 of 2 · rev/.test(await text(page, card)), "rev's approval");
  });

  await t.step("Approve in the dashboard runs it: executed, its write, live", async () => {
    await page.click(`${card} [data-approve]`);
    await until(
      async () => (await page.locator(card).getAttribute("data-status")) === "executed",
      "the proposal to show executed",
    );
    assert.match(await text(page, card), /executed/);
    assert.match(await text(page, card), /_shared\.deployed v1/);
    assert.match(await text(page, "#proposal-result"), new RegExp(`${id}: executed`));
    await until(
      async () => /"v42"/.test(await text(page, "[data-scope=_shared] [data-key=deployed]")),
      "the write in the State panel",
    );
    assert.equal(await page.locator(`${card} [data-approve]`).count(), 0, "no buttons once decided");
    assert.match(await text(page, "#c-proposals"), /0 pending · 1 decided/);
  });

  await t.step("a reject with a reason from the dashboard", async () => {
    const next = await c.invoke(room.id, bob, "deploy", { version: "v43" });
    const other = `[data-proposal="${next.json.proposal.id}"]`;
    await page.waitForSelector(`${other} [data-reject]`);
    await page.fill(`${other} [data-reason-for]`, "not on a Friday");
    await page.click(`${other} [data-reject]`);
    await until(
      async () => /rejected[\s\S]*by admin — not on a Friday/.test(await text(page, other)),
      "the rejection with its reason",
    );
  });
});

test("dashboard Approvals per token: an approver gets the buttons, an outsider sees nothing", async () => {
  await using s = await startServer();
  const { room, rev, bob, id } = await approvalRoom(s.base);
  await using browser = await launch();
  const card = `[data-proposal="${id}"]`;

  const reviewer = await openPage(browser);
  await reviewer.page.goto(dashboardUrl(s.base, room.id, rev));
  await reviewer.page.waitForSelector(`${card} [data-approve]`, { timeout: 15_000 });
  await reviewer.page.click(`${card} [data-approve]`);
  await until(async () => /1 of 2 · rev/.test(await text(reviewer.page, card)), "rev's approval");
  assert.equal(await reviewer.page.locator(`${card} [data-approve]`).count(), 0, "rev approved already");
  assert.equal(await reviewer.page.locator(`${card} [data-reject]`).count(), 1, "rev may still reject");
  await reviewer.ctx.close();

  const outsider = await openPage(browser);
  await outsider.page.goto(dashboardUrl(s.base, room.id, bob));
  await outsider.page.waitForSelector("[data-agent=bob]", { timeout: 15_000 });
  assert.equal(await outsider.page.locator(card).count(), 0);
  assert.ok(!(await outsider.page.content()).includes(SECRET), "bob's page holds none of the params");
  assert.match(await text(outsider.page, "#c-proposals"), /0 pending/);
  await outsider.ctx.close();

  const viewer = await openPage(browser);
  await viewer.page.goto(dashboardUrl(s.base, room.id, room.view));
  await viewer.page.waitForSelector(card, { timeout: 15_000 });
  assert.equal(await viewer.page.locator(`${card} button`).count(), 0, "a view token never decides");
  await viewer.ctx.close();
});
