/**
 * Hostile input (fast-check): random and malformed bodies, params, CEL, ids, headers and query strings on
 * every endpoint never get a 5xx or hang, every error is `{error, message}`, and the server stays healthy.
 * Expensive CEL is cut off with `400 cel_limit` while other rooms keep serving.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { client, http, type Res, startServer } from "../_server.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 250);
const REQUEST_TIMEOUT_MS = 5000;

const ENDPOINTS: [string, string][] = [
  ["GET", "/"],
  ["GET", "/SKILL.md"],
  ["GET", "/reference/:x"],
  ["GET", "/healthz"],
  ["GET", "/metrics"],
  ["POST", "/rooms"],
  ["GET", "/rooms"],
  ["GET", "/rooms/:id"],
  ["PATCH", "/rooms/:id"],
  ["POST", "/rooms/:id/rotate-view-token"],
  ["POST", "/rooms/:id/agents"],
  ["GET", "/rooms/:id/agents"],
  ["PATCH", "/rooms/:id/agents/:x"],
  ["POST", "/rooms/:id/agents/:x/heartbeat"],
  ["POST", "/rooms/:id/actions/:action/invoke"],
  ["GET", "/rooms/:id/actions"],
  ["GET", "/rooms/:id/actions/:action"],
  ["PUT", "/rooms/:id/actions"],
  ["DELETE", "/rooms/:id/actions/:action"],
  ["GET", "/rooms/:id/context"],
  ["GET", "/rooms/:id/state"],
  ["POST", "/rooms/:id/eval"],
  ["GET", "/rooms/:id/poll"],
  ["GET", "/rooms/:id/history"],
  ["GET", "/rooms/:id/state/history"],
  ["GET", "/rooms/:id/views"],
  ["GET", "/rooms/:id/views/:x"],
  ["GET", "/rooms/:id/wait"],
  ["GET", "/rooms/:id/events"],
  ["PUT", "/rooms/:id/state"],
  ["PUT", "/rooms/:id/state/batch"],
  ["DELETE", "/rooms/:id/state"],
  ["PUT", "/rooms/:id/views"],
  ["POST", "/rooms/:id/views"],
  ["DELETE", "/rooms/:id/views/:x"],
  ["POST", "/rooms/:id/messages"],
  ["GET", "/rooms/:id/messages"],
  ["POST", "/rooms/:id/messages/:x/claim"],
  ["GET", "/rooms/:id/export"],
  ["POST", "/rooms/import"],
  ["DELETE", "/rooms/:x"],
  ["POST", "/mcp"],
];

const ACTIONS = [
  "_set_state",
  "_batch_set_state",
  "_delete_state",
  "_send_message",
  "_register_action",
  "_delete_action",
  "_register_view",
  "_delete_view",
  "_heartbeat",
  "_renew_timer",
  "_claim_message",
  "help",
  "bump",
  "nope",
];
const QUERY_KEYS = [
  "condition",
  "timeout",
  "include",
  "agent",
  "after",
  "only",
  "messages_after",
  "messages_limit",
  "scope",
  "key",
  "resolve",
  "audit_limit",
  "compact",
  "dry_run",
  "kind",
  "thread",
  "unclaimed",
  "limit",
  "room",
  "at",
  "before",
  "order",
  "as",
  "action",
  "x",
];
const CEL_PARTS = [
  "state",
  "._shared",
  ".counter",
  "self",
  "views",
  "agents",
  "params",
  "[",
  "]",
  "(",
  ")",
  "{",
  "}",
  " + ",
  " == ",
  " && ",
  " || ",
  "!",
  "1",
  "2.5",
  '"s"',
  "true",
  "null",
  ".map(x, x)",
  ".all(x, x > 0)",
  ".size()",
  "has(",
  "int(",
  "double(",
  "string(",
  ", ",
  "?",
  ":",
  "'",
  "\\",
  "\u0000",
  "💥",
  "9223372036854775807",
  "-",
  "/ 0",
  "% 0",
];

const celString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.array(fc.constantFrom(...CEL_PARTS), { maxLength: 20 }).map((a) => a.join("")),
  fc.constantFrom("state._shared.counter > 0", "true", 'self == "a"', "messages.count >= 0", "x.y.z", ""),
);
const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(
    "",
    " ",
    "..",
    "../..",
    "%00",
    "_audit",
    "_messages",
    "_shared",
    "a".repeat(300),
    "null",
    "-1",
    "1e309",
    "0x10",
  ),
);
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(
    fc.constantFrom(
      "key",
      "value",
      "scope",
      "id",
      "expr",
      "params",
      "writes",
      "if",
      "increment",
      "append",
      "timer",
      "enabled",
      "body",
      "to",
      "kind",
      "agent",
      "wait",
      "dry_run",
      "if_version",
      "merge",
      "public",
      "condition",
      "format",
      "room",
      "state",
      "messages",
      "audit",
    ),
    fc.oneof(fc.jsonValue({ maxDepth: 3 }), celString, weirdString),
  ),
);
const bodyArb = fc.oneof(
  fc.constant(undefined),
  jsonish.map((v) => JSON.stringify(v)),
  fc.record({ params: jsonish, agent: fc.option(weirdString, { nil: undefined }) }).map((v) =>
    JSON.stringify(v)
  ),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    "{",
    "[1,2",
    '{"params":',
    "null",
    '"x"',
    '{"a":1}}',
    "\u0000\u0001",
    '{"__proto__":{"x":1}}',
  ),
  fc.nat(30).map((n) => "[".repeat(n * 40) + "]".repeat(n * 40)),
);
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});

type Fixture = { id: string; room: string; view: string; agent: string };

function requestArb(f: Fixture) {
  return fc.record({
    endpoint: fc.constantFrom(...ENDPOINTS),
    method: fc.option(fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"), {
      freq: 4,
      nil: undefined,
    }),
    id: fc.oneof({ weight: 6, arbitrary: fc.constant(f.id) }, { weight: 1, arbitrary: weirdString }),
    x: fc.oneof(fc.constantFrom("a", "alice", "1", "v1", "bump", "README.md"), weirdString),
    action: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ACTIONS) }, {
      weight: 1,
      arbitrary: weirdString,
    }),
    query: fc.array(
      fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.oneof(celString, weirdString, fc.nat().map(String))),
      { maxLength: 4 },
    ),
    token: fc.constantFrom<string | undefined>(
      undefined,
      f.room,
      f.view,
      f.agent,
      "garbage",
      "as_0000",
      "room_",
      "view_x",
    ),
    headers: fc.dictionary(
      fc.constantFrom(
        "content-type",
        "idempotency-key",
        "last-event-id",
        "x-request-id",
        "accept",
        "content-encoding",
        "x-foo",
      ),
      headerValue,
      { maxKeys: 3 },
    ),
    body: bodyArb,
  });
}

async function send(
  base: string,
  r: ReturnType<typeof requestArb> extends fc.Arbitrary<infer T> ? T : never,
) {
  const [defMethod, pattern] = r.endpoint;
  const method = r.method ?? defMethod;
  const path = pattern.replace(":id", encodeURIComponent(r.id)).replace(
    ":action",
    encodeURIComponent(r.action),
  )
    .replace(":x", encodeURIComponent(r.x));
  const qs = r.query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const headers: Record<string, string> = { ...r.headers };
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  const isStream = pattern.endsWith("/events");
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), isStream ? 200 : REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(`${base}${path}${qs ? `?${qs}` : ""}`, {
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : r.body,
      signal: ac.signal,
    });
    let text = "";
    try {
      text = await res.text();
    } catch (e) {
      if (!(isStream && ac.signal.aborted)) throw e;
    }
    return { status: res.status, text, method, path, qs };
  } catch (e) {
    if (ac.signal.aborted && isStream) return { status: 200, text: "", method, path, qs };
    throw new Error(`${method} ${path}?${qs} did not answer: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

async function fixture(base: string): Promise<Fixture> {
  const c = client(base);
  const room = await c.createRoom("fuzz");
  const agent = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "bump",
    params: { n: { type: "integer" } },
    writes: [{ scope: "_shared", key: "counter", increment: 1 }],
  });
  await c.ok(room.id, room.token, "_register_view", { id: "v1", expr: "state._shared.counter" });
  await c.ok(room.id, agent, "_send_message", { body: "hello" });
  return { id: room.id, room: room.token, view: room.view, agent };
}

Deno.test("every endpoint answers random and malformed requests with < 500 and a JSON error", async () => {
  await using s = await startServer({ limits: { maxWaitMs: 150 } });
  const f = await fixture(s.base);
  await fc.assert(
    fc.asyncProperty(requestArb(f), async (r) => {
      const res = await send(s.base, r);
      assert.ok(
        res.status < 500,
        `${res.method} ${res.path}?${res.qs} → ${res.status} ${res.text.slice(0, 300)}`,
      );
      // /mcp answers in JSON-RPC's own error shape, as its protocol requires
      if (res.status >= 400 && res.method !== "HEAD" && !res.path.startsWith("/mcp")) {
        const body = JSON.parse(res.text);
        assert.equal(typeof body.error, "string", res.text);
        assert.equal(typeof body.message, "string", res.text);
      }
    }),
    { numRuns: RUNS },
  );
  const h = await http(s.base, "GET", "/healthz");
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { ok: true });
  // the fuzzer may have deleted its own room: a new one must work
  const c = client(s.base);
  const after = await c.createRoom("after-fuzz");
  const ctx = await http(s.base, "GET", `/rooms/${after.id}/context`, { token: after.token });
  assert.equal(ctx.status, 200);
});

Deno.test("invoke params: random JSON never yields a 5xx from any builtin", async () => {
  await using s = await startServer({ limits: { maxWaitMs: 150 } });
  const f = await fixture(s.base);
  const c = client(s.base);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ACTIONS),
      jsonish,
      fc.constantFrom(f.room, f.agent),
      async (action, params, token) => {
        const r = await c.invoke(f.id, token, action, params);
        assert.ok(
          r.status < 500,
          `${action} ${JSON.stringify(params)} → ${r.status} ${r.text.slice(0, 300)}`,
        );
      },
    ),
    { numRuns: RUNS },
  );
  assert.equal((await http(s.base, "GET", "/healthz")).status, 200);
});

const BIG = Array.from({ length: 1000 }, (_, i) => i);
const EXPENSIVE = [
  "state._shared.big.all(x, state._shared.big.all(y, state._shared.big.all(z, x + y + z >= 0)))",
  "state._shared.big.map(x, state._shared.big.map(y, x * y)).size() > 0",
  'state._shared.big.map(x, state._shared.big.map(y, string(x) + "-" + string(y) + "................................")).size()',
  "state._shared.big.exists(x, state._shared.big.exists(y, x == y + 5000))",
];

Deno.test("expensive CEL is cut off with 400 cel_limit while other rooms keep serving", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const hot = await c.createRoom("hot");
  await c.ok(hot.id, hot.token, "_set_state", { scope: "_shared", key: "big", value: BIG });
  const calm = await c.createRoom("calm");
  const bob = await c.join(calm.id, "bob");
  await c.ok(calm.id, bob, "_set_state", { key: "hp", value: 1 });

  await c.ok(hot.id, hot.token, "_register_action", { id: "heavy", if: EXPENSIVE[1], writes: [] });
  const expensive: Promise<Res>[] = [];
  for (let i = 0; i < 3; i++) {
    for (const expr of EXPENSIVE) {
      expensive.push(c.http("POST", `/rooms/hot/eval`, { token: hot.token, body: { expr } }));
    }
  }
  expensive.push(
    c.http("GET", `/rooms/hot/wait?condition=${encodeURIComponent(EXPENSIVE[0])}&timeout=1000`, {
      token: hot.token,
    }),
  );
  expensive.push(c.invoke(hot.id, hot.token, "heavy"));
  const calmReads: Promise<Res>[] = [];
  for (let i = 0; i < 60; i++) calmReads.push(c.http("GET", `/rooms/calm/context`, { token: bob }));
  const [hotRes, calmRes] = await Promise.all([Promise.all(expensive), Promise.all(calmReads)]);
  // each is cut off with cel_limit, or — once the token has hit the limit twice within a second — refused
  // at once with 429 rate_limited (the per-token CEL penalty)
  for (const r of hotRes) {
    assert.ok(
      (r.status === 400 && r.json.error === "cel_limit") ||
        (r.status === 429 && r.json.error === "rate_limited"),
      r.text,
    );
  }
  assert.ok(hotRes.filter((r) => r.json.error === "cel_limit").length >= 2);
  for (const r of calmRes) assert.equal(r.status, 200, r.text);
});
