/**
 * The dashboard's Timeline panel in a real Chromium: who did what with each commit's diff, a refused
 * invocation with its reason, filters by agent, action and key, the scrubber showing the whole room at an
 * earlier commit (and back to live), commits arriving live highlighted — and, for an agent token, nothing
 * of another agent's private scope.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, recordFlashes, SECRET, seedRoom, test, until } from "./_fixture.ts";

const text = (page: Page, sel: string) => page.locator(sel).innerText();
const commitSeqs = (page: Page) =>
  page.locator("#b-timeline li.commit").evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute("data-seq")))
  );

test("timeline: commits with their diff and refusals with their reason, filters, the scrubber, live arrivals", async (t) => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  const c = client(s.base);
  const history = (await c.http("GET", `/rooms/${room.id}/history?limit=500`, { token: room.token })).json;
  const refusal = history.commits.find((x: { ok: boolean }) => !x.ok);
  const turnSet = history.commits.find((x: { action: string }) => x.action === "_batch_set_state").seq;
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));
  await page.waitForSelector("#b-timeline li.commit");

  await t.step("each commit: who, what, and the writes it made", async () => {
    assert.equal((await commitSeqs(page))[0], history.cursor, "newest first");
    const batch = await text(page, `#b-timeline li.commit[data-seq="${turnSet}"]`);
    assert.match(batch, /admin · _batch_set_state/);
    assert.match(batch, /_shared\.turn = 3/);
    assert.match(batch, /_shared\.phase = "playing"/);
    const joined = await text(page, `#b-timeline li.commit[data-seq="2"]`);
    assert.match(joined, /bob · _join/);
  });

  await t.step("a refused invocation shows its error code, message and detail", async () => {
    const li = page.locator(`#b-timeline li.commit[data-seq="${refusal.seq}"]`);
    assert.equal(await li.getAttribute("data-ok"), "0");
    const shown = await li.innerText();
    assert.match(shown, /bob · finish/);
    assert.match(shown, /refused · precondition_failed/);
    assert.match(shown, /is not satisfied/);
    assert.match(shown, /state\._shared\.phase/);
  });

  await t.step("filters by agent, action and key", async () => {
    await page.selectOption("#tl-agent", "bob");
    await until(async () => {
      const all = await page.locator("#b-timeline li.commit .what").allInnerTexts();
      return all.length > 0 && all.every((x) => x.startsWith("bob"));
    }, "the timeline filtered to bob");
    await page.selectOption("#tl-agent", "");
    await page.selectOption("#tl-action", "take_turn");
    await until(async () => {
      const all = await page.locator("#b-timeline li.commit .what").allInnerTexts();
      return all.length === 1 && all[0].includes("take_turn");
    }, "the timeline filtered to take_turn");
    await page.selectOption("#tl-action", "");
    await page.fill("#tl-scope", "_shared");
    await page.fill("#tl-key", "turn");
    await until(async () => {
      const seqs = await commitSeqs(page);
      const want = history.commits.filter((x: { writes: { scope: string; key: string }[] }) =>
        x.writes.some((w) => w.scope === "_shared" && w.key === "turn")
      ).map((x: { seq: number }) => x.seq);
      return JSON.stringify(seqs) === JSON.stringify(want);
    }, "the timeline filtered to _shared.turn");
    await page.fill("#tl-scope", "");
    await page.fill("#tl-key", "");
    await until(async () => (await commitSeqs(page)).length === history.commits.length, "every commit again");
  });

  await t.step("the scrubber shows the whole room at an earlier commit, and back to live", async () => {
    await until(async () => /turn/.test(await text(page, "#b-at")), "the room at the latest commit");
    assert.match(await text(page, "#scrub-label"), new RegExp(`#${history.cursor}.*live`));
    assert.match(await text(page, "#b-at [data-at-scope=_shared]"), /turn\s+4/);
    await page.click(`#b-timeline button[data-at="${turnSet}"]`);
    await until(
      async () => /turn\s+3/.test(await text(page, "#b-at [data-at-scope=_shared]")),
      "turn 3 then",
    );
    const then = await text(page, "#b-at");
    assert.match(await text(page, "#scrub-label"), new RegExp(`^#${turnSet} `));
    assert.ok(!/alice-status/.test(then), "no view registered yet at that commit");
    assert.match(then, /bob\s+player · grants _tasks/, "bob's grants of then");
    assert.equal(await page.locator("#scrub").inputValue(), String(turnSet));
    await page.click("#scrub-live");
    await until(async () => /turn\s+4/.test(await text(page, "#b-at [data-at-scope=_shared]")), "live again");
    assert.match(await text(page, "#b-at"), /alice-status/);
  });

  await t.step(
    "a commit that arrives while the page is open is highlighted, and the room follows it",
    async () => {
      const flashes = await recordFlashes(page);
      await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "turn", value: 5 });
      const seq = history.cursor + 1;
      await page.waitForSelector(`#b-timeline li.commit[data-seq="${seq}"].arrived`);
      await until(async () => (await flashes()).includes(`commit:${seq}`), "the new commit flashed");
      await until(
        async () => /turn\s+5/.test(await text(page, "#b-at [data-at-scope=_shared]")),
        "the room followed",
      );
      await until(async () => (await flashes()).includes("at:_shared/turn"), "the changed value flashed");
    },
  );

  await t.step("an approval's commit shows the approved action's run as its proposer", async () => {
    await c.ok(room.id, room.token, "_register_action", {
      id: "ship",
      writes: [{ scope: "_shared", key: "shipped", value: true }],
      approval: { count: 1, from: "true" },
    });
    const proposed = await c.invoke(room.id, room.alice, "ship", {});
    assert.equal(proposed.status, 202, proposed.text);
    const approved = await c.invoke(room.id, room.bob, "_approve", { proposal: proposed.json.proposal.id });
    assert.equal(approved.status, 200, approved.text);
    const li = `#b-timeline li.commit[data-seq="${approved.json.cursor}"]`;
    await page.waitForSelector(li);
    const shown = await text(page, li);
    assert.match(shown, /bob · _approve/);
    assert.match(shown, /ran ship as alice/);
    assert.match(shown, /_shared\.shipped = true/);
    assert.match(shown, /executed/);
  });
});

test("timeline for an agent token: another agent's private scope never appears, at any commit", async () => {
  await using s = await startServer();
  const room = await seedRoom(s.base);
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.bob));
  await page.waitForSelector("#b-timeline li.commit");
  await until(async () => /turn/.test(await text(page, "#b-at")), "the room at the latest commit");
  const seqs = await commitSeqs(page);
  const all = (await client(s.base).http("GET", `/rooms/${room.id}/history?limit=500`, { token: room.token }))
    .json.commits as { seq: number; agent: string; writes: { scope: string }[] }[];
  const alicePrivate = all.filter((x) => x.writes.length && x.writes.every((w) => w.scope === "alice"));
  assert.ok(alicePrivate.length > 0);
  for (const x of alicePrivate) {
    assert.ok(!seqs.includes(x.seq), `bob's timeline lists alice's commit ${x.seq}`);
  }
  for (const seq of seqs) {
    await page.click(`#b-timeline button[data-at="${seq}"]`);
    await until(
      async () => new RegExp(`^#${seq} `).test(await text(page, "#scrub-label")),
      `the room at ${seq}`,
    );
    assert.ok(!(await text(page, "#p-timeline")).includes(SECRET), `the secret at ${seq}`);
  }
  assert.ok(!(await page.content()).includes(SECRET));
});
