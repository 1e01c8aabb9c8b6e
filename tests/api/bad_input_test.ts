/**
 * The bad-input table (reference/api.md#limits, #errors): each client mistake gets its own 4xx code in the one error shape,
 * and nothing is written (state, messages, actions, views and agents are compared before and after; a
 * refused invocation still gets its audit row, reference/api.md#_send_message).
 */
import assert from "node:assert/strict";
import { client, http, type Res, startServer } from "../_server.ts";

type Case = {
  name: string;
  method?: string;
  path?: (room: string) => string;
  token?: "room" | "view" | "alice" | "none" | "bogus";
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  error: string;
};

const inv = (a: string) => (room: string) => `/rooms/${room}/actions/${a}/invoke`;
const LONG = "x".repeat(5000);
const LIST = `[${Array.from({ length: 200 }, (_, i) => i).join(",")}]`;
const RUNAWAY = `${LIST}.all(a, ${LIST}.all(b, ${LIST}.all(c, a + b + c >= 0)))`;

const CASES: Case[] = [
  { name: "malformed JSON", raw: '{"params": {"key": "a", ', status: 400, error: "invalid_json" },
  { name: "JSON null body", raw: "null", status: 400, error: "invalid_body" },
  { name: "JSON array body", raw: '[{"params": {}}]', status: 400, error: "invalid_body" },
  { name: "JSON string body", raw: '"hello"', status: 400, error: "invalid_body" },
  { name: "params is an array", body: { params: [1, 2] }, status: 400, error: "invalid_body" },
  { name: "params is a string", body: { params: "key=a" }, status: 400, error: "invalid_body" },
  {
    name: "unknown top-level field",
    body: { params: { key: "a", value: 1 }, colour: "red" },
    status: 400,
    error: "invalid_body",
  },
  {
    name: "unknown param of a builtin",
    body: { params: { key: "a", value: 1, colour: "red" } },
    status: 400,
    error: "invalid_params",
  },
  {
    name: "key of the wrong type",
    body: { params: { key: { a: 1 }, value: 1 } },
    status: 400,
    error: "invalid_params",
  },
  {
    name: "if_version not an integer",
    body: { params: { key: "a", value: 1, if_version: "1" } },
    status: 400,
    error: "invalid_params",
  },
  {
    name: "5000-character key",
    body: { params: { key: LONG, value: 1 } },
    status: 400,
    error: "invalid_body",
  },
  {
    name: "5000-character scope",
    body: { params: { scope: LONG, key: "a", value: 1 } },
    status: 400,
    error: "invalid_id",
  },
  {
    name: "5000-character action id",
    path: inv(LONG),
    body: { params: {} },
    status: 404,
    error: "action_not_found",
  },
  {
    name: "5000-character action id at registration",
    path: inv("_register_action"),
    body: { params: { id: LONG, writes: [] } },
    status: 400,
    error: "invalid_params",
  },
  {
    name: "bad CEL in if",
    body: { params: { key: "a", value: 1, if: "state.(" } },
    status: 400,
    error: "invalid_cel",
  },
  {
    name: "value too large",
    body: { params: { key: "a", value: "v".repeat(300_000) } },
    status: 400,
    error: "value_too_large",
  },
  {
    name: "oversize body",
    raw: JSON.stringify({ params: { key: "a", value: "v".repeat(1_100_000) } }),
    status: 413,
    error: "payload_too_large",
  },
  {
    name: "unknown room",
    path: () => `/rooms/nope/actions/_set_state/invoke`,
    body: { params: { key: "a", value: 1 } },
    status: 404,
    error: "room_not_found",
  },
  {
    name: "5000-character room id",
    path: () => `/rooms/${LONG}/actions/_set_state/invoke`,
    body: { params: { key: "a", value: 1 } },
    status: 404,
    error: "room_not_found",
  },
  {
    name: "missing token",
    token: "none",
    body: { params: { key: "a", value: 1 } },
    status: 401,
    error: "unauthorized",
  },
  {
    name: "unknown token",
    token: "bogus",
    body: { params: { key: "a", value: 1 } },
    status: 401,
    error: "invalid_token",
  },
  {
    name: "view token",
    token: "view",
    body: { params: { key: "a", value: 1 } },
    status: 403,
    error: "read_only_token",
  },
  {
    name: "body names another agent",
    body: { params: { key: "a", value: 1 }, agent: "bob" },
    status: 403,
    error: "identity_mismatch",
  },
  {
    name: "message from another agent",
    path: inv("_send_message"),
    body: { params: { body: "hi", from: "bob" } },
    status: 403,
    error: "identity_mismatch",
  },
  {
    name: "query names another agent",
    method: "GET",
    path: (room) => `/rooms/${room}/context?agent=bob`,
    status: 403,
    error: "identity_mismatch",
  },
  {
    name: "unknown query field",
    method: "GET",
    path: (room) => `/rooms/${room}/context?colour=red`,
    status: 400,
    error: "invalid_query",
  },
  {
    name: "negative messages_limit",
    method: "GET",
    path: (room) => `/rooms/${room}/context?messages_limit=-1`,
    status: 400,
    error: "invalid_query",
  },
  {
    name: "unknown route",
    method: "GET",
    path: (room) => `/rooms/${room}/nothing-here`,
    status: 404,
    error: "not_found",
  },
  {
    name: "eval without expr",
    method: "POST",
    path: (room) => `/rooms/${room}/eval`,
    body: {},
    status: 400,
    error: "invalid_body",
  },
  {
    name: "eval with bad CEL",
    method: "POST",
    path: (room) => `/rooms/${room}/eval`,
    body: { expr: "1 +" },
    status: 400,
    error: "invalid_cel",
  },
  {
    name: "eval of a runaway comprehension",
    method: "POST",
    path: (room) => `/rooms/${room}/eval`,
    body: { expr: RUNAWAY },
    status: 400,
    error: "cel_limit",
  },
  {
    // another token than the eval row's: two cut-offs in a second put a token in the CEL penalty (429)
    name: "if with a runaway comprehension",
    token: "room",
    body: { params: { key: "a", value: 1, if: RUNAWAY } },
    status: 400,
    error: "cel_limit",
  },
  {
    name: "CEL longer than 4 KiB",
    body: { params: { key: "a", value: 1, if: "true && ".repeat(600) + "true" } },
    status: 400,
    error: "cel_limit",
  },
  {
    name: "create room with a bad id",
    method: "POST",
    path: () => `/rooms`,
    token: "none",
    body: { id: "has space" },
    status: 400,
    error: "invalid_body",
  },
  {
    name: "join with a 5000-character id",
    method: "POST",
    path: (room) => `/rooms/${room}/agents`,
    token: "none",
    body: { id: LONG },
    status: 400,
    error: "invalid_body",
  },
  {
    name: "join with an unknown field",
    method: "POST",
    path: (room) => `/rooms/${room}/agents`,
    token: "none",
    body: { id: "carol", power: 9000 },
    status: 400,
    error: "invalid_body",
  },
  {
    name: "PATCH agent by an agent token",
    method: "PATCH",
    path: (room) => `/rooms/${room}/agents/alice`,
    body: { grants: ["_shared"] },
    status: 403,
    error: "forbidden",
  },
];

const VIEW_MUTATIONS: [string, (room: string) => string, unknown][] = [
  ["POST", inv("_set_state"), { params: { key: "a", value: 1 } }],
  ["POST", inv("_batch_set_state"), { params: { writes: [{ key: "a", value: 1 }] } }],
  ["POST", inv("_delete_state"), { params: { key: "a" } }],
  ["POST", inv("_send_message"), { params: { body: "hi" } }],
  ["POST", inv("_register_action"), { params: { id: "x", writes: [] } }],
  ["POST", inv("_delete_action"), { params: { id: "x" } }],
  ["POST", inv("_register_view"), { params: { id: "v", expr: "1" } }],
  ["POST", inv("_delete_view"), { params: { id: "v" } }],
  ["POST", inv("_heartbeat"), { params: {} }],
  ["POST", inv("_renew_timer"), { params: { key: "a" } }],
  ["POST", inv("_claim_message"), { params: { seq: 1 } }],
  ["POST", inv("_register_webhook"), {
    params: { id: "w", url: "https://hooks.example.com/", secret: "x".repeat(16) },
  }],
  ["POST", inv("_delete_webhook"), { params: { id: "w" } }],
  ["POST", inv("help"), { params: {} }],
  ["POST", inv("custom"), { params: {} }],
  ["POST", (r) => `/rooms/${r}/rotate-view-token`, {}],
  ["PATCH", (r) => `/rooms/${r}/agents/alice`, { role: "x" }],
  ["PUT", (r) => `/rooms/${r}/state`, { scope: "_shared", key: "a", value: 1 }],
  ["PUT", (r) => `/rooms/${r}/state/batch`, { writes: [{ scope: "_shared", key: "a", value: 1 }] }],
  ["DELETE", (r) => `/rooms/${r}/state`, { scope: "_shared", key: "a" }],
  ["PUT", (r) => `/rooms/${r}/actions`, { id: "y", writes: [] }],
  ["DELETE", (r) => `/rooms/${r}/actions/custom`, undefined],
  ["PUT", (r) => `/rooms/${r}/views`, { id: "v2", expr: "1" }],
  ["DELETE", (r) => `/rooms/${r}/views/shown`, undefined],
  ["POST", (r) => `/rooms/${r}/messages`, { body: "hi" }],
  ["POST", (r) => `/rooms/${r}/messages/1/claim`, {}],
  ["POST", (r) => `/rooms/${r}/agents/alice/heartbeat`, {}],
];

async function fixture() {
  // every case runs in one room, two of them runaway expressions: the room's CEL time per second would leave
  // the snapshot's view uncomputed for a moment (a view value, not a write), so it is off here
  const s = await startServer({ limits: { roomCelMsPerSec: 0 } });
  const c = client(s.base);
  const r = await c.createRoom("bad");
  const alice = await c.join(r.id, "alice");
  await c.join(r.id, "bob");
  await c.ok(r.id, r.token, "_set_state", { key: "a", value: "original" });
  await c.ok(r.id, r.token, "_register_action", {
    id: "custom",
    writes: [{ scope: "_shared", key: "a", value: "custom" }],
  });
  await c.ok(r.id, r.token, "_register_view", { id: "shown", expr: "state._shared.a" });
  await c.ok(r.id, r.token, "_send_message", { body: "first" });
  const snapshot = async () => {
    const p = (await c.http("GET", `/rooms/${r.id}/poll`, { token: r.token })).json;
    return JSON.stringify({
      state: p.state,
      messages: p.messages,
      actions: p.actions,
      views: p.views,
      agents: p.agents.map((a: Record<string, unknown>) => ({
        ...a,
        last_heartbeat: null,
        last_seen: null,
        status: null,
      })),
    });
  };
  const tokens = {
    room: r.token,
    view: r.view,
    alice,
    none: undefined,
    bogus: "as_0000000000000000deadbeef",
  };
  return { s, c, r, alice, snapshot, tokens };
}

function assertError(res: Res, status: number, error: string, what: string) {
  assert.equal(
    res.status,
    status,
    `${what}: expected ${status} ${error}, got ${res.status} ${res.text.slice(0, 300)}`,
  );
  assert.equal(res.json?.error, error, `${what}: ${res.text.slice(0, 300)}`);
  assert.equal(typeof res.json.message, "string", `${what}: message`);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.equal(res.headers.get("x-error-code"), error, `${what}: X-Error-Code repeats the code`);
  assert.ok(res.text.endsWith("}\n"), `${what}: the JSON ends with a newline`);
}

Deno.test("bad input: every mistake is a specific 4xx and nothing is written", async (t) => {
  const { s, r, snapshot, tokens } = await fixture();
  await using _s = s;
  const before = await snapshot();
  for (const k of CASES) {
    await t.step(k.name, async () => {
      const res = await http(s.base, k.method ?? "POST", (k.path ?? inv("_set_state"))(r.id), {
        token: tokens[k.token ?? "alice"],
        body: k.body,
        raw: k.raw,
        headers: k.raw !== undefined ? { "content-type": "application/json", ...k.headers } : k.headers,
      });
      assertError(res, k.status, k.error, k.name);
      assert.equal(await snapshot(), before, `${k.name} changed the room`);
    });
  }
});

Deno.test("bad input: the view token is refused on every mutation with 403 read_only_token", async (t) => {
  const { s, r, snapshot, tokens } = await fixture();
  await using _s = s;
  const before = await snapshot();
  for (const [method, path, body] of VIEW_MUTATIONS) {
    await t.step(`${method} ${path("ROOM")}`, async () => {
      const res = await http(s.base, method, path(r.id), { token: tokens.view, body });
      assertError(res, 403, "read_only_token", `${method} ${path(r.id)}`);
    });
  }
  const join = await http(s.base, "POST", `/rooms/${r.id}/agents`, {
    token: tokens.view,
    body: { id: "mallory" },
  });
  assertError(join, 403, "read_only_token", "join with the view token");
  assert.equal(await snapshot(), before);
});

Deno.test("bad input: a refused invocation is audited without touching state", async () => {
  const { s, c, r, alice, snapshot } = await fixture();
  await using _s = s;
  const before = await snapshot();
  const res = await c.invoke(r.id, alice, "_set_state", { scope: "_shared", key: "a", value: "mine" });
  assertError(res, 403, "scope_denied", "scope_denied");
  assert.equal(await snapshot(), before);
  const audit = (await c.http("GET", `/rooms/${r.id}/state?scope=_audit`, { token: alice })).json;
  const last = audit.at(-1).value;
  assert.equal(last.ok, false);
  assert.equal(last.status, 403);
  assert.equal(last.error, "scope_denied");
});

Deno.test("curl -d without a content type (form-encoded header, JSON body) works", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const form = { "content-type": "application/x-www-form-urlencoded" };
  const created = await c.http("POST", "/rooms", { raw: '{"id": "curl"}', headers: form });
  assert.equal(created.status, 201, created.text);
  const joined = await c.http("POST", "/rooms/curl/agents", { raw: '{"id": "alice"}', headers: form });
  assert.equal(joined.status, 201);
  const res = await c.http("POST", "/rooms/curl/actions/_set_state/invoke", {
    token: joined.json.token,
    raw: '{"params": {"key": "hp", "value": 100}}',
    headers: form,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.writes[0].value, 100);
  const none = await c.http("POST", "/rooms/curl/actions/_set_state/invoke", {
    token: joined.json.token,
    raw: '{"params": {"key": "mp", "value": 5}}',
  });
  assert.equal(none.status, 200, none.text);
});
