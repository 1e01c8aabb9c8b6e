/**
 * GET /openapi.json: a valid OpenAPI 3.1 document, listing exactly the routes the app serves, and true to
 * the server: every operation is called for real (the README walk-through and the routes around it), each
 * request checked against the document before it is sent, an unknown body field refused by the document and
 * the server alike, and each answer (success, error, SSE event) checked against its response schema.
 */
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { createApp } from "../../app.ts";
import { http, type Res, startServer } from "../_server.ts";
import { TAKE_TURN } from "../clients/_fixture.ts";

// deno-lint-ignore no-explicit-any -- the document is JSON, walked by the test
type Json = any;
const DOC_ID = "urn:agent-sync:openapi";
const METHODS = ["get", "post", "put", "patch", "delete"];

async function fetchDoc(base: string): Promise<{ doc: Json; res: Res }> {
  const res = await http(base, "GET", "/openapi.json");
  assert.equal(res.status, 200);
  return { doc: res.json, res };
}

/** `/rooms/{id}` → `/rooms/:id` (Hono's spelling). */
const honoPath = (p: string) => p.replace(/\{(\w+)\}/g, ":$1");
const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

function operations(doc: Json): { method: string; path: string; op: Json }[] {
  return Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] }))
  );
}

/** The document's schemas as one Ajv (JSON Schema 2020-12), so `$ref`s into components resolve. */
function schemas(doc: Json) {
  const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
  // the document's other top-level fields are not JSON Schema keywords: declare them, keep strict mode
  ajv.addVocabulary(["openapi", "jsonSchemaDialect", "info", "servers", "tags", "paths", "components"]);
  ajv.addSchema({ ...doc, $id: DOC_ID });
  const cache = new Map<string, ValidateFunction>();
  const at = (ptr: string) => {
    let v = cache.get(ptr);
    if (!v) cache.set(ptr, v = ajv.compile({ $ref: `${DOC_ID}#${ptr}` }));
    return v;
  };
  return {
    at,
    check(ptr: string, value: unknown, what: string) {
      const v = at(ptr);
      assert.ok(
        v(value),
        `${what} does not match ${ptr}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 600)}`,
      );
    },
    accepts: (ptr: string, value: unknown) => at(ptr)(value) === true,
  };
}

Deno.test("GET /openapi.json is a valid OpenAPI 3.1 document, served as application/json", async () => {
  await using s = await startServer();
  const { doc, res } = await fetchDoc(s.base);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/);
  assert.match(doc.openapi, /^3\.1\./);

  const result = await new Validator().validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));

  // every component is a JSON Schema 2020-12 Ajv compiles (the OpenAPI schema does not look inside them)
  const sc = schemas(doc);
  for (const name of Object.keys(doc.components.schemas)) sc.at(`/components/schemas/${pointer(name)}`);

  const ids = operations(doc).map((o) => o.op.operationId);
  assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  const schemes = doc.components.securitySchemes;
  assert.deepEqual(Object.keys(schemes).sort(), ["agentToken", "roomToken", "viewToken"]);
  for (const [name, prefix] of [["roomToken", "room_"], ["viewToken", "view_"], ["agentToken", "as_"]]) {
    assert.equal(schemes[name].scheme, "bearer");
    assert.ok(schemes[name].description.includes(prefix), `${name} describes ${prefix}… tokens`);
  }
  for (const { method, path, op } of operations(doc)) {
    assert.ok(Array.isArray(op.security), `${method} ${path} states its security`);
    for (const req of op.security) for (const k of Object.keys(req)) assert.ok(schemes[k], `${k} is defined`);
  }
});

Deno.test("GET /openapi.json states which tokens each route takes: none for create, join, GET room and docs", async () => {
  await using s = await startServer();
  const { doc } = await fetchDoc(s.base);
  const kinds = (path: string, method: string) =>
    (doc.paths[path][method].security as Json[]).map((r) => Object.keys(r)[0] ?? "none").sort();
  assert.deepEqual(kinds("/rooms", "post"), []);
  assert.deepEqual(kinds("/rooms/{id}", "get"), []);
  assert.deepEqual(kinds("/SKILL.md", "get"), []);
  assert.deepEqual(kinds("/openapi.json", "get"), []);
  // join needs none; the agent's own token or the room token re-joins
  assert.deepEqual(kinds("/rooms/{id}/agents", "post"), ["agentToken", "none", "roomToken"]);
  assert.deepEqual(kinds("/rooms/{id}/actions/{action}/invoke", "post"), ["agentToken", "roomToken"]);
  assert.deepEqual(kinds("/rooms/{id}/context", "get"), ["agentToken", "roomToken", "viewToken"]);
  assert.deepEqual(kinds("/rooms/{id}/agents/{agent}", "patch"), ["roomToken"]);
});

Deno.test("GET /openapi.json lists exactly the routes the app serves (method + path, both ways)", async () => {
  await using s = await startServer();
  const { doc } = await fetchDoc(s.base);
  // the app's own route table, the one Hono dispatches with; `ALL /*` is the middleware
  const served = createApp({ eng: s.eng }).routes.filter((r) => !(r.method === "ALL" && r.path === "/*"));
  const explicit = new Set(served.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`));
  const catchAll = new Set(served.filter((r) => r.method === "ALL").map((r) => r.path));
  const documented = operations(doc).map((o) => ({
    key: `${o.method.toUpperCase()} ${honoPath(o.path)}`,
    ...o,
  }));
  const keys = new Set(documented.map((d) => d.key));

  const missing = [...explicit].filter((k) => !keys.has(k));
  assert.deepEqual(missing, [], "served but not documented");
  const invented = documented.filter((d) => !explicit.has(d.key) && !catchAll.has(honoPath(d.path)));
  assert.deepEqual(invented.map((d) => d.key), [], "documented but not served");
  // a route for every other method (`ALL /mcp`) is documented by the methods it answers
  for (const path of catchAll) {
    const byCatchAll = documented.filter((d) => honoPath(d.path) === path && !explicit.has(d.key));
    assert.ok(byCatchAll.length > 0, `ALL ${path} is documented`);
  }
  assert.ok(explicit.size >= 40, `the comparison saw the app's routes (${explicit.size})`);
});

const KIND_OF_PREFIX: Record<string, string> = { room: "roomToken", view: "viewToken", as: "agentToken" };

type Call = {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  /** an error status expected instead of the documented success */
  status?: number;
};

/** Calls operations by operationId, checking request and answer against the document. */
function contract(base: string, doc: Json) {
  const sc = schemas(doc);
  const byId = new Map(operations(doc).map((o) => [o.op.operationId as string, o]));
  const called = new Set<string>();
  const probed = new Set<string>();

  function find(id: string) {
    const o = byId.get(id);
    assert.ok(o, `the document has an operation ${id}`);
    return { ...o, ptr: `/paths/${pointer(o.path)}/${o.method}` };
  }
  const url = (path: string, c: Call) => {
    const p = path.replace(/\{(\w+)\}/g, (_, k) => {
      assert.ok(c.params?.[k] !== undefined, `path parameter ${k}`);
      return encodeURIComponent(c.params![k]);
    });
    const qs = new URLSearchParams(c.query ?? {}).toString();
    return qs ? `${p}?${qs}` : p;
  };
  const bodyPtr = (ptr: string) => `${ptr}/requestBody/content/${pointer("application/json")}/schema`;
  const successOf = (op: Json) => Object.keys(op.responses).find((k) => /^\d+$/.test(k))!;

  function checkError(r: Res, what: string) {
    sc.check(`/components/responses/Error/content/${pointer("application/json")}/schema`, r.json, what);
    assert.equal(r.headers.get("x-error-code"), r.json.error, `${what}: X-Error-Code`);
  }

  async function send(id: string, c: Call): Promise<Res> {
    const { op, path, method, ptr } = find(id);
    const documentedQuery = new Set(
      (op.parameters ?? []).filter((p: Json) => p.in === "query").map((p: Json) => p.name),
    );
    for (const k of Object.keys(c.query ?? {})) {
      assert.ok(documentedQuery.has(k), `${id}: ?${k} is documented`);
    }
    if (c.body !== undefined) {
      assert.ok(op.requestBody, `${id} documents a request body`);
      sc.check(bodyPtr(ptr), c.body, `${id} request body`);
    }
    return await http(base, method.toUpperCase(), url(path, c), {
      token: c.token,
      body: c.body,
      headers: c.headers,
    });
  }

  return {
    /** The operation as documented: request valid, answer with the documented status and schema. */
    async call(id: string, c: Call = {}): Promise<Res> {
      const { op, ptr } = find(id);
      if (c.status === undefined) {
        // a call that succeeds uses a token kind the operation documents (`{}` or no requirement: none)
        const kinds = (op.security as Json[]).map((r) => Object.keys(r)[0] ?? "none");
        const kind = c.token ? KIND_OF_PREFIX[c.token.split("_")[0]] : "none";
        assert.ok(kinds.length === 0 ? kind === "none" : kinds.includes(kind), `${id} documents ${kind}`);
      }
      const r = await send(id, c);
      called.add(id);
      // the documented success, or another documented answer the call asked for (a 202)
      const ok = c.status !== undefined && op.responses[c.status] ? String(c.status) : successOf(op);
      const status = c.status ?? Number(ok);
      assert.equal(r.status, status, `${id}: ${r.status} ${r.text.slice(0, 300)}`);
      if (c.status !== undefined && c.status !== Number(ok)) {
        checkError(r, id);
        return r;
      }
      const [media] = Object.keys(op.responses[ok].content);
      assert.ok((r.headers.get("content-type") ?? "").startsWith(media), `${id} answers ${media}`);
      if (media === "application/json") {
        sc.check(`${ptr}/responses/${ok}/content/${pointer(media)}/schema`, r.json, `${id} response`);
      }
      return r;
    },
    /** The same request with an unknown body field: the document's schema and the server both refuse it. */
    async refusesUnknownField(id: string, c: Call & { body: Record<string, unknown> }) {
      const { ptr } = find(id);
      const body = { ...c.body, zz_unknown: 1 };
      assert.equal(sc.accepts(bodyPtr(ptr), body), false, `${id}: the schema refuses an unknown field`);
      const r = await http(base, find(id).method.toUpperCase(), url(find(id).path, c), {
        token: c.token,
        body,
      });
      assert.equal(r.status, 400, `${id} with an unknown field: ${r.status} ${r.text}`);
      assert.match(r.json.message, /zz_unknown/);
      checkError(r, `${id} with an unknown field`);
      probed.add(id);
    },
    /** Both at once: the common case for an operation with a body. */
    async strict(id: string, c: Call & { body: Record<string, unknown> }): Promise<Res> {
      await this.refusesUnknownField(id, c);
      return await this.call(id, c);
    },
    checkSchema: (ptr: string, value: unknown, what: string) => sc.check(ptr, value, what),
    called,
    probed,
    ids: () => [...byId.keys()],
    withBody: () => [...byId].filter(([, o]) => o.op.requestBody).map(([id]) => id),
  };
}

/** Reads an SSE stream up to its first event and stops. */
async function firstEvent(base: string, path: string, token: string): Promise<{ event: string; data: Json }> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the stream sent an event before it ended");
      buf += value;
      for (const frame of buf.split("\n\n").slice(0, -1)) {
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) return { event, data: JSON.parse(data) };
      }
    }
  } finally {
    await reader.cancel();
  }
}

const MY_TURN = "state._shared.player == self";

Deno.test("every documented operation answers as documented: requests, answers, errors and SSE against the schemas", async () => {
  await using s = await startServer();
  const { doc } = await fetchDoc(s.base);
  const c = contract(s.base, doc);

  // ── the README walk-through ──
  const created = await c.strict("createRoom", { body: { meta: { title: "demo" } } });
  const room = created.json.id as string;
  const ROOM = created.json.token as string;
  let VIEW = created.json.view_token as string;
  const p = { id: room };
  await c.call("getRoom", { params: p });
  await c.call("listRooms", { token: ROOM });
  const alice =
    (await c.strict("joinAgent", { params: p, body: { id: "alice", role: "player" } })).json.token;
  const bob = (await c.call("joinAgent", {
    params: p,
    body: { id: "bob", role: "player", state: { plan: "castle early" } },
  })).json.token;
  const invoke = (action: string, body: Record<string, unknown>, token: string, status?: number) =>
    c.call("invoke", { params: { id: room, action }, body, token, status });
  await c.refusesUnknownField("invoke", {
    params: { id: room, action: "_set_state" },
    body: { params: {} },
    token: ROOM,
  });
  await invoke("_batch_set_state", {
    params: {
      writes: [{ scope: "_shared", key: "turn", value: 1 }, {
        scope: "_shared",
        key: "player",
        value: "alice",
      }],
    },
  }, ROOM);
  await invoke("_register_action", { params: TAKE_TURN }, ROOM);
  // out of turn: 409 precondition_failed with its typed details
  const refused = await invoke("take_turn", { params: { move: "e5", next: "alice" } }, bob, 409);
  assert.equal(refused.json.error, "precondition_failed");
  assert.equal(refused.json.evaluated, false);

  const cursor =
    (await c.call("getContext", { params: p, query: { only: "state" }, token: bob })).json.cursor;
  await invoke("take_turn", { params: { move: "e4", next: "bob" } }, alice);
  const woke = await c.call("wait", {
    params: p,
    query: { condition: MY_TURN, after: String(cursor), include: "state" },
    token: bob,
  });
  assert.equal(woke.json.triggered, true);
  // the one-call loop: bob moves and waits; alice waits for her turn, then moves
  const bobLoop = invoke("take_turn", {
    params: { move: "e5", next: "alice" },
    wait: { condition: MY_TURN, timeout: 25000 },
  }, bob);
  await c.call("wait", { params: p, query: { condition: MY_TURN }, token: alice });
  await invoke("take_turn", { params: { move: "Nf3", next: "bob" } }, alice);
  assert.equal((await bobLoop).json.wait.triggered, true);
  await invoke("_send_message", { params: { body: "your move", to: "bob" } }, alice);
  await c.call("getContext", { params: p, query: { only: "state,messages" }, token: bob });
  await c.call("getState", { params: p, query: { scope: "bob" }, token: alice, status: 403 });
  await c.call("getState", { params: p, query: { scope: "bob", key: "plan" }, token: VIEW });
  await invoke("_set_state", { params: { key: "x", value: 1 } }, VIEW, 403);
  await c.call("wait", { params: p, query: { condition: "false", timeout: "10" }, token: alice });
  await c.call("wait", { params: p, query: {}, token: alice, status: 400 });

  // ── the other reads ──
  await c.call("getContext", { params: p, token: ROOM });
  await c.call("getState", { params: p, token: ROOM });
  await c.strict("evalCel", { params: p, body: { expr: "state._shared.turn" }, token: bob });
  await c.call("poll", { params: p, token: ROOM });
  await c.call("listActions", { params: p, token: alice });
  await c.call("getAction", { params: { id: room, action: "take_turn" }, token: alice });
  await c.call("listAgents", { params: p, token: alice });
  await c.strict("patchRoom", { params: p, body: { liveness_ms: 120_000 }, token: ROOM });
  await c.call("patchRoom", { params: p, body: { liveness_ms: null }, token: ROOM });
  await c.strict("patchRoom", { params: p, body: { history: { commits: 500 } }, token: ROOM });

  // ── history: the timeline, a key's versions, the room at a commit ──
  const page = await c.call("getHistory", { params: p, query: { limit: "5" }, token: alice });
  const then = page.json.commits[page.json.commits.length - 1].seq;
  await c.call("getHistory", {
    params: p,
    query: { scope: "_shared", key: "turn", order: "asc" },
    token: VIEW,
  });
  await c.call("getKeyVersions", { params: p, query: { scope: "_shared", key: "turn" }, token: bob });
  await c.call("getKeyVersions", { params: p, query: { scope: "_shared" }, token: bob, status: 400 });
  await c.call("getContext", { params: p, query: { at: String(then), agent: "bob" }, token: ROOM });
  await c.strict("evalCel", { params: p, body: { expr: "state._shared.turn", at: then }, token: bob });
  await c.strict("patchAgent", {
    params: { id: room, agent: "bob" },
    body: { grants: ["_tasks"] },
    token: ROOM,
  });
  const change = await firstEvent(s.base, `/rooms/${room}/events?after=0`, alice);
  c.checkSchema(
    `/components/schemas/${change.event === "change" ? "FeedChange" : "FeedReset"}`,
    change.data,
    "event",
  );
  assert.equal(change.event, "change");
  c.called.add("events");

  // ── an action that waits for approval: 202 with its proposal, then decided ──
  await invoke("_register_action", {
    params: {
      id: "ship",
      writes: [{ scope: "_shared", key: "shipped", value: true }],
      approval: { count: 1, from: "approver == 'admin'" },
    },
  }, ROOM);
  const proposed = await invoke("ship", { params: {} }, alice, 202);
  const pid = proposed.json.proposal.id as string;
  await c.call("listProposals", { params: p, query: { status: "pending" }, token: alice });
  await c.call("getProposal", { params: { id: room, proposal: pid }, token: VIEW });
  await c.call("getProposal", { params: { id: room, proposal: pid }, token: bob, status: 404 });
  const approved = await invoke("_approve", { params: { proposal: pid } }, ROOM);
  assert.equal(approved.json.proposal.status, "executed");

  // ── the compatibility routes ──
  const compat = { params: p, token: ROOM };
  await c.strict("putState", { ...compat, body: { scope: "_shared", key: "note", value: "hi" } });
  await c.call("putState", { ...compat, body: { scope: "_view", key: "sum", expr: "1 + 1" } });
  await c.strict("putStateBatch", {
    ...compat,
    body: { writes: [{ scope: "_shared", key: "a", value: 1 }] },
  });
  await c.strict("deleteState", { ...compat, body: { scope: "_shared", key: "a" } });
  await c.strict("putView", { ...compat, body: { id: "turn", expr: "state._shared.turn" } });
  await c.strict("postView", { ...compat, body: { id: "player", expr: "state._shared.player" } });
  await c.call("listViews", { params: p, token: alice });
  await c.call("getView", { params: { id: room, view: "turn" }, token: alice });
  await c.call("deleteView", { params: { id: room, view: "player" }, token: ROOM });
  const task = { body: "review the plan", kind: "task" };
  const posted = await c.strict("postMessage", { params: p, body: task, token: alice });
  await c.call("listMessages", { params: p, query: { kind: "task" }, token: bob });
  const claim = { params: { id: room, seq: String(posted.json.seq) }, body: {}, token: bob };
  await c.refusesUnknownField("claimMessage", claim);
  await c.call("claimMessage", claim);
  await c.call("claimMessage", { ...claim, token: alice, status: 409 });
  await c.strict("heartbeat", {
    params: { id: room, agent: "alice" },
    body: { status: "busy" },
    token: alice,
  });
  await c.strict("putAction", { ...compat, body: { id: "noop", writes: [] } });
  await c.call("deleteAction", { params: { id: room, action: "noop" }, token: ROOM });

  // ── webhooks (the events match no commit here: nothing is sent) ──
  await invoke("_register_webhook", {
    params: {
      id: "hook",
      url: "https://hooks.example.com/x",
      secret: "openapi-0123456789",
      events: { actions: ["x"] },
    },
  }, ROOM);
  await c.call("listWebhooks", { params: p, token: ROOM });
  await c.call("listDeliveries", { params: { ...p, webhook: "hook" }, query: { limit: "10" }, token: ROOM });
  await c.call("listDeliveries", { params: { ...p, webhook: "nope" }, token: ROOM, status: 404 });

  // ── tokens, export, import, delete ──
  VIEW = (await c.call("rotateViewToken", { params: p, token: ROOM })).json.view_token;
  await c.call("getContext", { params: p, token: VIEW });
  const snapshot = (await c.call("exportRoom", { params: p, token: ROOM })).json;
  const imported = await c.strict("importRoom", { body: snapshot });
  await c.call("deleteRoom", { params: { id: imported.json.id }, token: imported.json.token });
  await c.call("getRoom", { params: { id: imported.json.id }, status: 404 });

  // ── MCP, docs, operations ──
  const mcp = {
    body: {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "openapi-test", version: "1" },
      },
    },
    headers: { accept: "application/json, text/event-stream" },
  };
  assert.equal((await c.call("mcp", { ...mcp, token: alice })).json.id, 1);
  const opened = await c.call("mcp", mcp); // without a token: a session
  const session = opened.headers.get("mcp-session-id");
  assert.ok(session, "a session id");
  await c.call("getMcp", { status: 405 });
  await c.call("deleteMcp", { headers: { "mcp-session-id": session } });
  await c.call("deleteMcp", { headers: { "mcp-session-id": session }, status: 404 });
  await c.call("wellKnown", { params: { document: "oauth-protected-resource" } });
  await c.call("wellKnownMcp", { params: { document: "oauth-authorization-server" } });
  await c.call("home");
  await c.call("skill");
  await c.call("reference", { params: { file: "api.md" } });
  await c.call("guide", { params: { file: "getting-started.md" } });
  await c.call("dashboardAsset", { params: { version: "any", file: "landing.js" } });
  await c.call("openapi");
  await c.call("health");
  await c.call("metrics");

  assert.deepEqual(c.ids().filter((id) => !c.called.has(id)), [], "every operation was called");
  // JSON-RPC messages are open objects: the MCP SDK reads them, not our schemas
  const strictBodies = c.withBody().filter((id) => id !== "mcp");
  assert.deepEqual(
    strictBodies.filter((id) => !c.probed.has(id)),
    [],
    "every strict body refused an unknown field",
  );
});
