/**
 * The dashboard shows liveness and leases: an agent silent for the room's window turns grey with "last
 * seen", at that moment and without a reload; a leased entry shows its holder, epoch and a countdown.
 */
import assert from "node:assert/strict";
import { client, startServer } from "../_server.ts";
import { dashboardUrl, launch, openPage, test, until } from "./_fixture.ts";

test("dashboard greys gone agents with last seen, and shows a lease's holder, epoch and countdown", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("live-dash", { liveness_ms: 1500 });
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  await c.http("PATCH", `/rooms/${room.id}/agents/bob`, { token: room.token, body: { grants: ["_tasks"] } });
  await c.ok(room.id, bob, "_set_state", {
    scope: "_tasks",
    key: "t7",
    value: "work",
    lease: { ttl_ms: 600_000 },
  });
  void alice;
  await using browser = await launch();
  const { page } = await openPage(browser);
  await page.goto(dashboardUrl(s.base, room.id, room.token));

  const lease = page.locator("[data-scope=_tasks] [data-key=t7] .badge.lease");
  await lease.waitFor();
  const text = await lease.innerText();
  assert.match(text, /bob/);
  assert.match(text, /epoch 1/);
  assert.match(text, /lapses in 9m \d+s|lapses in 10m/, text);

  // alice and bob go silent: at the window's end their cards grey, without a reload
  const card = page.locator("[data-agent=alice]");
  await until(async () => (await card.getAttribute("class"))?.includes("gone"), "alice's card to grey");
  assert.match(await card.innerText(), /gone/);
  assert.match(await card.locator(".last-seen").innerText(), /^last seen \d+s ago$/);
  // a call brings her back
  await c.context(room.id, alice);
  await c.ok(room.id, room.token, "_set_state", { key: "poke", value: 1 }); // a commit: the page re-reads
  await until(
    async () => !(await card.getAttribute("class"))?.includes("gone"),
    "alice's card back to normal",
  );
});
