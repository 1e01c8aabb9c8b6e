/**
 * egress.ts: which addresses a webhook may reach — every private, loopback, link-local or otherwise
 * non-global IPv4 and IPv6 address (and the IPv6 forms embedding an IPv4 one) refused, at registration on
 * the URL and at delivery on every address a name resolves to.
 */
import assert from "node:assert/strict";
import { addressClass, checkTargetUrl, EgressRefused, type Resolver, resolveTarget } from "../../egress.ts";
import { ApiError } from "../../errors.ts";

Deno.test("addressClass() names every non-global address and passes global ones", () => {
  const table: [string, string | null][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", null],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["169.254.169.254", "link_local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["198.18.0.1", "reserved"],
    ["192.0.2.1", "reserved"],
    ["8.8.8.8", null],
    ["93.184.215.14", null],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["[::1]", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "link_local"],
    ["::ffff:8.8.8.8", null],
    ["::ffff:0:127.0.0.1", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b::808:808", null],
    ["64:ff9b:1::1", "private"],
    ["2002:7f00:1::1", "loopback"],
    ["2002:0808:0808::1", null],
    ["2001:0:4136:e378::1", "reserved"],
    ["2001:db8::1", "reserved"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fe80::1", "link_local"],
    ["fe80::1%eth0", "link_local"],
    ["febf::1", "link_local"],
    ["fec0::1", "private"],
    ["ff02::1", "multicast"],
    ["100::1", "reserved"],
    ["2606:4700:4700::1111", null],
    ["2a00:1450:4001:82b::200e", null],
  ];
  for (const [ip, cls] of table) assert.equal(addressClass(ip), cls, ip);
  for (const notIp of ["example.com", "1.2.3", "1.2.3.256", "1::2::3", "12345::", "::g"]) {
    assert.equal(addressClass(notIp), undefined, notIp);
  }
});

Deno.test("checkTargetUrl() refuses what a webhook may not reach, in every spelling the URL parser accepts", () => {
  const refused: [string, string][] = [
    ["http://127.0.0.1:8080/hook", "loopback"],
    ["http://2130706433/", "loopback"], // decimal IPv4
    ["http://0x7f.1/", "loopback"], // hex and short forms
    ["http://0177.0.0.1/", "loopback"], // octal
    ["http://[::1]/", "loopback"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[0:0:0:0:0:ffff:7f00:1]/", "loopback"],
    ["http://10.0.0.5/", "private"],
    ["http://[fd00::5]/", "private"],
    ["http://169.254.169.254/latest/meta-data/", "link_local"],
    ["http://[fe80::1]/", "link_local"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://localhost:8787/", "local_name"],
    ["http://LOCALHOST./", "local_name"],
    ["http://api.localhost/", "local_name"],
    ["http://printer.local/", "local_name"],
    ["http://metadata.google.internal/", "local_name"],
    ["http://intranet/", "local_name"],
    ["gopher://example.com/", "scheme"],
    ["file:///etc/passwd", "scheme"],
    ["https://bob:pw@example.com/", "credentials"],
  ];
  for (const [url, reason] of refused) {
    assert.throws(() => checkTargetUrl(url, false), (e: unknown) => {
      assert.ok(e instanceof ApiError, url);
      assert.equal(e.code, "url_not_allowed", url);
      assert.deepEqual(e.details, { field: "url", reason }, url);
      assert.ok(!e.message.includes(url), "the URL is not echoed");
      return true;
    });
  }
  assert.equal(
    checkTargetUrl("https://hooks.example.com/x?y=1#frag", false).href,
    "https://hooks.example.com/x?y=1",
  );
  assert.equal(checkTargetUrl("http://93.184.215.14/", false).hostname, "93.184.215.14");
  // allowed private targets: still http(s) only, still no credentials
  assert.equal(checkTargetUrl("http://127.0.0.1:9/", true).port, "9");
  assert.throws(() => checkTargetUrl("ftp://127.0.0.1/", true), /http or https/);
  assert.throws(
    () => checkTargetUrl("not a url", false),
    (e: unknown) => (e as ApiError).code === "invalid_body",
  );
});

const fixed = (...addresses: string[]): Resolver => () => Promise.resolve(addresses);

Deno.test("resolveTarget() checks every resolved address and connects to the checked one", async () => {
  const url = new URL("https://hooks.example.com:8443/x");
  const t = await resolveTarget(url, fixed("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"), false);
  assert.deepEqual(t, {
    address: "93.184.215.14",
    port: 8443,
    tls: true,
    servername: "hooks.example.com",
    hostHeader: "hooks.example.com:8443",
  });
  for (
    const answer of [["127.0.0.1"], ["93.184.215.14", "10.0.0.1"], ["::ffff:169.254.169.254"], ["fe80::1"]]
  ) {
    await assert.rejects(resolveTarget(url, fixed(...answer), false), (e: unknown) => {
      assert.ok(e instanceof EgressRefused, String(e));
      assert.match(
        e.message,
        /^hooks\.example\.com resolves to .+, a (loopback|private|link_local) address$/,
      );
      return true;
    }, answer.join());
  }
  await assert.rejects(resolveTarget(url, fixed(), false), /resolves to no address/);
  await assert.rejects(resolveTarget(url, () => Promise.reject(new Error("NXDOMAIN")), false), /NXDOMAIN/);
  // a literal address is not resolved at all
  let asked = 0;
  const counting: Resolver = () => (asked++, Promise.resolve(["93.184.215.14"]));
  await assert.rejects(resolveTarget(new URL("http://[::1]:80/"), counting, false), /loopback/);
  assert.equal((await resolveTarget(new URL("http://[::1]:80/"), counting, true)).address, "::1");
  assert.equal(asked, 0);
  // the system resolver: localhost is loopback (and refused by name before resolving)
  await assert.rejects(resolveTarget(new URL("http://localhost/"), counting, false), /local name/);
  assert.equal(
    (await resolveTarget(new URL("http://rebind.test:81/"), fixed("127.0.0.1"), true)).address,
    "127.0.0.1",
  );
});
