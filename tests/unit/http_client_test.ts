/**
 * http_client.ts against servers written byte by byte: it connects to the address it is handed (never
 * resolving the name), reads each framing HTTP/1.1 allows, reuses keep-alive connections (and recovers when
 * the server closed one), enforces its deadline, and speaks TLS to the URL's name on the checked address.
 */
import assert from "node:assert/strict";
import type { Target } from "../../egress.ts";
import { HttpClient } from "../../http_client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A TCP server: for each request on a connection (`n` counts them over all connections) `answer` gives the
 * raw bytes to write back, or null to close the connection without answering, or "hang" to never answer.
 */
function rawServer(answer: (n: number, head: string) => string | null | "hang") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let n = 0;
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let buf = "";
    const chunk = new Uint8Array(65536);
    try {
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        const len = end < 0 ? 0 : Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (end >= 0 && buf.length >= end + 4 + len) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4 + len);
          const out = answer(n++, head);
          if (out === "hang") continue;
          if (out === null) break;
          await conn.write(enc.encode(out));
          continue;
        }
        const r = await conn.read(chunk);
        if (r === null) break;
        buf += dec.decode(chunk.subarray(0, r));
      }
    } catch { /* the client went away */ }
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const accepting = (async () => {
    try {
      for await (const c of listener) serve(c);
    } catch { /* closed */ }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    port,
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    },
  };
}

const target = (port: number, servername = "rebind.test"): Target => ({
  address: "127.0.0.1",
  port,
  tls: false,
  servername,
  hostHeader: `${servername}:${port}`,
});

const post = (http: HttpClient, port: number, connectTo: () => Promise<Target>, timeoutMs = 5000) =>
  http.post(`http://rebind.test:${port}`, connectTo, {
    path: "/hook?x=1",
    headers: { host: `rebind.test:${port}`, "content-type": "application/json" },
    body: enc.encode('{"a":1}'),
  }, timeoutMs);

Deno.test("post() connects to the given address, sends the URL's Host, and reuses the connection", async () => {
  const heads: string[] = [];
  const srv = rawServer((_, head) => (heads.push(head), "HTTP/1.1 204 No Content\r\n\r\n"));
  const http = new HttpClient();
  let connects = 0;
  const connectTo = () => (connects++, Promise.resolve(target(srv.port)));
  try {
    assert.deepEqual(await post(http, srv.port, connectTo), { status: 204, reason: "No Content" });
    assert.deepEqual(await post(http, srv.port, connectTo), { status: 204, reason: "No Content" });
    assert.equal(connects, 1, "the second request went over the same connection");
    assert.match(heads[0], /^POST \/hook\?x=1 HTTP\/1\.1\r\n/);
    assert.match(heads[0], new RegExp(`\r\nhost: rebind\\.test:${srv.port}\r\n`));
    assert.match(heads[0], /\r\ncontent-length: 7$/);
  } finally {
    http.close();
    await srv.close();
  }
});

Deno.test("post() reads content-length, chunked and close-delimited answers, skipping 1xx", async () => {
  const answers = [
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
    "HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n",
    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\nno",
    "HTTP/1.0 201 Created\r\n\r\nuntil the end",
  ];
  const srv = rawServer((n) => answers[n] ?? null);
  const http = new HttpClient();
  let connects = 0;
  const connectTo = () => (connects++, Promise.resolve(target(srv.port)));
  try {
    const got = [];
    for (let i = 0; i < answers.length; i++) got.push((await post(http, srv.port, connectTo)).status);
    assert.deepEqual(got, [200, 202, 500, 201]);
    assert.equal(connects, 1, "each framed answer left the connection reusable");
  } finally {
    http.close();
    await srv.close();
  }
});

Deno.test("post() retries once on a new connection when the server had closed the idle one", async () => {
  // answers the first request, then drops the connection without saying so
  const srv = rawServer((n) => (n === 1 ? null : "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
  const http = new HttpClient();
  let connects = 0;
  const connectTo = () => (connects++, Promise.resolve(target(srv.port)));
  try {
    assert.equal((await post(http, srv.port, connectTo)).status, 200);
    assert.equal((await post(http, srv.port, connectTo)).status, 200);
    assert.equal(connects, 2);
  } finally {
    http.close();
    await srv.close();
  }
});

Deno.test("post() gives up at its deadline when the target never answers", async () => {
  const srv = rawServer(() => "hang");
  const http = new HttpClient();
  try {
    await assert.rejects(
      post(http, srv.port, () => Promise.resolve(target(srv.port)), 200),
      /no answer within 200 ms/,
    );
    // a refused connection is an error too, not a hang
    const closed = rawServer(() => null);
    const port = closed.port;
    await closed.close();
    await assert.rejects(post(http, port, () => Promise.resolve(target(port)), 2000));
  } finally {
    http.close();
    await srv.close();
  }
});

/** A test CA and a certificate it signed for `hooks.test`, made with openssl (the test is skipped without). */
async function testCertificates(): Promise<{ ca: string; cert: string; key: string } | undefined> {
  const dir = await Deno.makeTempDir();
  const run = async (...args: string[]) =>
    (await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "null" }).output()).success;
  try {
    await Deno.writeTextFile(`${dir}/leaf.ext`, "subjectAltName=DNS:hooks.test\nbasicConstraints=CA:FALSE\n");
    const rsa = ["-newkey", "rsa:2048", "-nodes"];
    const ok = await run(
      "req",
      "-x509",
      ...rsa,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=t",
    ) &&
      await run("req", ...rsa, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=hooks.test") &&
      await run(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
      );
    if (!ok) return undefined;
    const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
    return { ca: await read("ca.pem"), cert: await read("cert.pem"), key: await read("key.pem") };
  } catch {
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const tls = await testCertificates();

Deno.test({
  name: "post() over https: TLS to the URL's name on the checked address; another name fails verification",
  ignore: !tls,
  async fn() {
    const hosts: string[] = [];
    const srv = Deno.serve(
      { port: 0, hostname: "127.0.0.1", cert: tls!.cert, key: tls!.key, onListen: () => {} },
      (req) => (hosts.push(req.headers.get("host") ?? ""), new Response("ok", { status: 200 })),
    );
    const port = srv.addr.port;
    const http = new HttpClient({ caCerts: [tls!.ca] });
    const to = (name: string): Target => ({ ...target(port, name), tls: true });
    try {
      const r = await http.post(`https://hooks.test:${port}`, () => Promise.resolve(to("hooks.test")), {
        path: "/",
        headers: { host: `hooks.test:${port}` },
        body: enc.encode("{}"),
      }, 5000);
      assert.equal(r.status, 200);
      assert.deepEqual(hosts, [`hooks.test:${port}`]);
      await assert.rejects(
        http.post(`https://other.test:${port}`, () => Promise.resolve(to("other.test")), {
          path: "/",
          headers: { host: `other.test:${port}` },
          body: enc.encode("{}"),
        }, 5000),
      );
    } finally {
      http.close();
      await srv.shutdown();
    }
  },
});
