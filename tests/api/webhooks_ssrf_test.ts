/**
 * Webhooks and the server's own network: without SYNC_WEBHOOK_ALLOW_PRIVATE a webhook can reach no private,
 * loopback or link-local address — refused at registration for literal addresses and local names, and at
 * delivery for a name that resolves to one (nothing is sent, the refusal is the delivery's error). A
 * delivery connects to the address that was checked, never resolving the name a second time.
 */
import assert from "node:assert/strict";
import type { Resolver } from "../../egress.ts";
import { startReceiver } from "../_receiver.ts";
import { type RoomFixture, setupRoom, until } from "../_setup.ts";

const SECRET = "ssrf-secret-0123456789";

/** A resolver for names under `.example.test` (the others do not exist): every answer is `address`. */
const resolverTo = (address: string, asked: string[] = []): Resolver => (host) => {
  asked.push(host);
  return host.endsWith(".example.test") ? Promise.resolve([address]) : Promise.reject(new Error("ENOTFOUND"));
};

/** Registers webhook "w" at a name under `.example.test` (the receiver's port), then alice makes `writes` commits. */
async function registerByName(
  fx: Pick<RoomFixture<"alice">, "c" | "room" | "tokens">,
  port: number,
  writes: number,
) {
  await fx.c.ok(fx.room.id, fx.room.token, "_register_webhook", {
    id: "w",
    url: `http://hooks.example.test:${port}/hook`,
    secret: SECRET,
  });
  for (let i = 1; i <= writes; i++) {
    await fx.c.ok(fx.room.id, fx.tokens.alice, "_set_state", { key: "k", value: i });
  }
}

Deno.test("registration refuses private, loopback and link-local targets in every form", async () => {
  const fx = await setupRoom();
  await using _ = fx.s;
  const urls: [string, string][] = [
    ["http://127.0.0.1:8787/hook", "loopback"],
    ["http://127.1/", "loopback"],
    ["http://2130706433/", "loopback"],
    ["http://[::1]:8787/", "loopback"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[::ffff:a00:1]/", "private"],
    ["http://10.0.0.1/", "private"],
    ["http://172.20.1.1/", "private"],
    ["http://192.168.0.10/", "private"],
    ["http://[fd00::1]/", "private"],
    ["http://169.254.169.254/latest/meta-data/", "link_local"],
    ["http://[fe80::1]/", "link_local"],
    ["http://[::ffff:169.254.169.254]/", "link_local"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://localhost:8787/", "local_name"],
    ["http://x.localhost/", "local_name"],
  ];
  for (const [url, reason] of urls) {
    const r = await fx.c.invoke(fx.room.id, fx.room.token, "_register_webhook", {
      id: "w",
      url,
      secret: SECRET,
    });
    assert.equal(r.status, 400, `${url}: ${r.text}`);
    assert.deepEqual([r.json.error, r.json.field, r.json.reason], ["url_not_allowed", "url", reason], url);
  }
  assert.deepEqual((await fx.req("GET", "/webhooks", fx.room.token)).json, []);
});

Deno.test("a name that resolves to a loopback address is refused at delivery: nothing is sent", async () => {
  await using rx = startReceiver();
  const asked: string[] = [];
  const fx = await setupRoom({
    server: {
      limits: { webhookRetryMinMs: 5, webhookRetryMaxMs: 10, webhookMaxFailures: 2 },
      delivery: { resolve: resolverTo("127.0.0.1", asked) },
    },
  });
  await using _ = fx.s;
  // a public-looking name is accepted at registration (names are checked when they are resolved)
  await registerByName(fx, rx.port, 1);
  const hook = await until(async () => {
    const h = (await fx.req("GET", "/webhooks", fx.room.token)).json[0];
    return h.enabled === false && h;
  }, { what: "the webhook to be disabled" });
  assert.match(
    hook.disabled.reason,
    /refused: hooks\.example\.test resolves to 127\.0\.0\.1, a loopback address/,
  );
  const rows = (await fx.req("GET", "/webhooks/w/deliveries", fx.room.token)).json.deliveries;
  assert.equal(rows[0].state, "pending");
  assert.equal(rows[0].attempts, 2);
  assert.equal(rows[0].last_status, null);
  assert.deepEqual(asked, ["hooks.example.test", "hooks.example.test"], "resolved at each attempt");
  assert.equal(rx.got.length, 0, "the receiver on loopback was never reached");
});

Deno.test("with private targets allowed, a delivery goes to the resolved address with the URL's Host", async () => {
  await using rx = startReceiver();
  const asked: string[] = [];
  const fx = await setupRoom({
    server: { limits: { webhookAllowPrivate: true }, delivery: { resolve: resolverTo("127.0.0.1", asked) } },
  });
  await using _ = fx.s;
  await registerByName(fx, rx.port, 2);
  await until(() => rx.got.length === 2, { what: "two deliveries" });
  assert.equal(rx.got[0].headers.get("host"), `hooks.example.test:${rx.port}`);
  assert.deepEqual(asked, ["hooks.example.test"], "one resolution for the one connection both used");
});
