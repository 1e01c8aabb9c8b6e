/**
 * Issue 12, class 4 — hostile input refused at the door: nesting depth (64) on every JSON body and on every
 * value the server builds (templates, CEL results), finite numbers only, no `__proto__` keys, no control
 * characters in state keys (the NUL key that slipped past a create-only guard), valid `to` entries, and
 * own-property lookups only (params, templates, keys and ids named like Object.prototype members).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  atDepth,
  client,
  CONTROL_CHARS,
  fcOpts,
  http,
  INHERITED,
  jsonDepth,
  mcpCall,
  mcpCallText,
  mcpRaw,
  mcpResult,
  nested,
  nestedObj,
  NON_FINITE,
  notServerError,
  ok,
  refused,
  snapshot,
  startServer,
  tempDir,
} from "./_harness.ts";
import { LibsqlStore } from "../../store/libsql_store.ts";

const DEPTH = 64;
const JSON_HEADERS = { "content-type": "application/json" };

type Answer = { accepted: boolean; status: number; body: Record<string, unknown> | undefined; text: string };

/**
 * Every door that takes JSON from a client, as a body template with `@V@` where a client-chosen value goes.
 * `send` posts the filled template and says whether the server accepted it (an MCP tool error is a refusal).
 */
async function doors(base: string) {
  const c = client(base);
  const room = await c.createRoom("in");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "echo",
    params: { p: { type: "any" } },
    writes: [{ scope: "_shared", key: "echo", value: "${params.p}" }],
  });
  let n = 0;
  const raw = async (
    method: string,
    path: string,
    token: string | undefined,
    text: string,
  ): Promise<Answer> => {
    const r = await http(base, method, path, { token, raw: text, headers: JSON_HEADERS });
    return { accepted: r.status < 300, status: r.status, body: r.json, text: r.text };
  };
  const mcp = async (token: string | undefined, text: string): Promise<Answer> => {
    const r = await mcpRaw(base, token, text);
    const m = mcpResult(r);
    return {
      accepted: r.status === 200 && !m.isError,
      status: r.status,
      body: r.status === 200 ? m.body : r.json,
      text: r.text,
    };
  };
  const inv = (params: string) => `{"params":${params}}`;
  const list: { name: string; template: () => string; send: (text: string) => Promise<Answer> }[] = [
    {
      name: "POST /rooms meta",
      template: () => `{"id":"r${++n}","meta":@V@}`,
      send: (t) => raw("POST", "/rooms", undefined, t),
    },
    {
      name: "join meta",
      template: () => `{"id":"j${++n}","meta":@V@}`,
      send: (t) => raw("POST", "/rooms/in/agents", undefined, t),
    },
    {
      name: "join state",
      template: () => `{"id":"s${++n}","state":{"k":@V@}}`,
      send: (t) => raw("POST", "/rooms/in/agents", undefined, t),
    },
    {
      name: "PATCH agent meta",
      template: () => `{"meta":@V@}`,
      send: (t) => raw("PATCH", "/rooms/in/agents/alice", room.token, t),
    },
    {
      name: "_set_state value",
      template: () => inv(`{"key":"k${++n}","value":@V@}`),
      send: (t) => raw("POST", "/rooms/in/actions/_set_state/invoke", alice, t),
    },
    {
      name: "_set_state merge",
      template: () => inv(`{"key":"m${++n}","merge":{"x":@V@}}`),
      send: (t) => raw("POST", "/rooms/in/actions/_set_state/invoke", alice, t),
    },
    {
      name: "_batch_set_state",
      template: () => inv(`{"writes":[{"key":"b${++n}","value":@V@}]}`),
      send: (t) => raw("POST", "/rooms/in/actions/_batch_set_state/invoke", alice, t),
    },
    {
      name: "_send_message body",
      template: () => inv(`{"body":@V@}`),
      send: (t) => raw("POST", "/rooms/in/actions/_send_message/invoke", alice, t),
    },
    {
      name: "custom param",
      template: () => inv(`{"p":@V@}`),
      send: (t) => raw("POST", "/rooms/in/actions/echo/invoke", alice, t),
    },
    {
      name: "PUT /state",
      template: () => `{"key":"c${++n}","value":@V@}`,
      send: (t) => raw("PUT", "/rooms/in/state", alice, t),
    },
    {
      name: "POST /messages",
      template: () => `{"body":@V@}`,
      send: (t) => raw("POST", "/rooms/in/messages", alice, t),
    },
    {
      name: "import state value",
      template: () => {
        const snap = snapshot({
          id: `imp${++n}`,
          state: [{
            scope: "_shared",
            key: "k",
            value: "@V@",
            version: 1,
            updated_at: "2026-01-01T00:00:00.000Z",
            seq: 0,
          }],
        });
        return JSON.stringify(snap).replace('"@V@"', "@V@");
      },
      send: (t) => raw("POST", "/rooms/import", undefined, t),
    },
    {
      name: "MCP invoke_action",
      template: () =>
        mcpCallText("invoke_action", `{"action":"_set_state","params":{"key":"p${++n}","value":@V@}}`),
      send: (t) => mcp(alice, t),
    },
    {
      name: "MCP join_room meta",
      template: () => mcpCallText("join_room", `{"room":"in","id":"mj${++n}","meta":@V@}`),
      send: (t) => mcp(undefined, t),
    },
  ];
  return { c, room, alice, list };
}

/** Every read of the room answers 200 for every identity (nothing stored can break them). */
async function readsHealthy(base: string, roomId: string, tokens: string[]) {
  const broken: string[] = [];
  for (const token of tokens) {
    for (
      const [what, go] of [
        ["/context", () => http(base, "GET", `/rooms/${roomId}/context`, { token })],
        ["/context compact", () => http(base, "GET", `/rooms/${roomId}/context?compact=true`, { token })],
        ["/poll", () => http(base, "GET", `/rooms/${roomId}/poll`, { token })],
        ["/state", () => http(base, "GET", `/rooms/${roomId}/state`, { token })],
        [
          "/eval",
          () => http(base, "POST", `/rooms/${roomId}/eval`, { token, body: { expr: "size(state) >= 0" } }),
        ],
        ["/messages", () => http(base, "GET", `/rooms/${roomId}/messages`, { token })],
      ] as const
    ) {
      const r = await go();
      if (r.status !== 200) {
        broken.push(`${what} (${token.slice(0, 5)}): ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
    const m = await mcpCall(base, token, "read_context", {});
    if (m.res.status !== 200 || m.isError) {
      broken.push(`MCP read_context (${token.slice(0, 5)}): ${m.res.text.slice(0, 120)}`);
    }
  }
  assert.deepEqual(broken, [], "every read stays 200 for every identity");
}

// ── depth ───────────────────────────────────────────────────────────────────────────────────────

Deno.test("3000-level nesting in one's own scope, a message body or room meta is refused at the door; every read stays 200", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("deep");
  const alice = await c.join(room.id, "alice", { state: { hp: 1 } });
  const raw = (path: string, token: string | undefined, text: string, method = "POST") =>
    http(s.base, method, path, { token, raw: text, headers: JSON_HEADERS });
  const limit = { field: "body", limit: DEPTH };
  refused(
    await raw(
      `/rooms/deep/actions/_set_state/invoke`,
      alice,
      `{"params":{"key":"bomb","value":${nested(3000)}}}`,
    ),
    400,
    "too_deep",
    limit,
  );
  refused(
    await raw(`/rooms/deep/actions/_send_message/invoke`, alice, `{"params":{"body":${nested(3000)}}}`),
    400,
    "too_deep",
    limit,
  );
  refused(await raw(`/rooms/deep/messages`, alice, `{"body":${nestedObj(3000)}}`), 400, "too_deep", limit);
  refused(
    await raw(`/rooms/deep/agents`, undefined, `{"id":"mallory","meta":${nested(3000)}}`),
    400,
    "too_deep",
    limit,
  );
  refused(
    await raw(`/rooms`, undefined, `{"id":"deepmeta","meta":${nested(10_000)}}`),
    400,
    "too_deep",
    limit,
  );
  assert.equal(
    (await http(s.base, "GET", `/rooms/deepmeta`)).status,
    404,
    "the refused room was not created",
  );
  const m = await mcpRaw(
    s.base,
    alice,
    mcpCallText("invoke_action", `{"action":"_set_state","params":{"key":"b","value":${nested(3000)}}}`),
  );
  assert.equal(m.status === 400 ? m.json.error : mcpResult(m).body?.error, "too_deep", m.text.slice(0, 300));
  const agents = (await http(s.base, "GET", `/rooms/deep/agents`, { token: room.token })).json as {
    id: string;
  }[];
  assert.deepEqual(agents.map((a) => a.id), ["alice"]);
  await readsHealthy(s.base, "deep", [room.token, room.view, alice]);
});

Deno.test("every JSON door accepts nesting depth 64 and refuses 65 with 400 too_deep {field: body, limit: 64}", async () => {
  await using s = await startServer();
  const { room, alice, list } = await doors(s.base);
  const wrong: string[] = [];
  for (const door of list) {
    for (const total of [DEPTH - 4, DEPTH, DEPTH + 1, DEPTH + 8]) {
      for (const make of [nested, nestedObj]) {
        const text = atDepth(door.template(), total, make);
        const a = await door.send(text);
        const want = total <= DEPTH;
        if (a.accepted !== want || (!want && (a.body?.error !== "too_deep" || a.body?.limit !== DEPTH))) {
          wrong.push(`${door.name} at depth ${jsonDepth(text)}: ${a.status} ${a.text.slice(0, 160)}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
  await readsHealthy(s.base, room.id, [room.token, room.view, alice]);
});

Deno.test("depth near the limit in any door (property): accepted exactly when depth ≤ 64", async () => {
  await using s = await startServer();
  const { list } = await doors(s.base);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...list),
      fc.integer({ min: DEPTH - 6, max: DEPTH + 6 }),
      fc.boolean(),
      async (door, total, arrays) => {
        const text = atDepth(door.template(), total, arrays ? nested : nestedObj);
        const a = await door.send(text);
        assert.equal(
          a.accepted,
          total <= DEPTH,
          `${door.name} at ${total}: ${a.status} ${a.text.slice(0, 200)}`,
        );
        if (!a.accepted) assert.equal(a.body?.error, "too_deep", a.text.slice(0, 200));
      },
    ),
    fcOpts(50),
  );
});

Deno.test("values the server builds (templates, CEL results) deeper than 64 are refused naming the write", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("built");
  let wrap: unknown = "${params.p}";
  for (let i = 0; i < 10; i++) wrap = { a: wrap };
  await c.ok(room.id, room.token, "_register_action", {
    id: "wrap",
    params: { p: { type: "any" } },
    writes: [{ scope: "_shared", key: "wrapped", value: wrap }],
  });
  await c.ok(room.id, room.token, "_register_action", {
    id: "cel_wrap",
    writes: [{ scope: "_shared", key: "celled", expr: true, value: "[[[[[[[[[[state._shared.d]]]]]]]]]]" }],
  });
  await c.ok(room.id, room.token, "_set_state", {
    scope: "_shared",
    key: "d",
    value: JSON.parse(nested(58)),
  });
  const body = `{"params":{"p":${nested(58)}}}`;
  assert.ok(jsonDepth(body) <= DEPTH);
  const t = await http(s.base, "POST", `/rooms/built/actions/wrap/invoke`, {
    token: room.token,
    raw: body,
    headers: JSON_HEADERS,
  });
  const e = await c.invoke(room.id, room.token, "cel_wrap");
  for (const [what, r] of [["template", t], ["CEL expr", e]] as const) {
    assert.equal(r.status, 400, `${what}: ${r.text.slice(0, 300)}`);
    assert.ok(["too_deep", "invalid_body"].includes(r.json.error), `${what}: ${r.text.slice(0, 300)}`);
    assert.match(String(r.json.field), /writes\[0\]/, `${what}: the field names the write`);
  }
  const shared = (await http(s.base, "GET", `/rooms/built/state?scope=_shared`, { token: room.token }))
    .json as { key: string }[];
  assert.deepEqual(shared.map((x) => x.key), ["d"], "nothing was written");
  // shallower results still go through
  const fine = await http(s.base, "POST", `/rooms/built/actions/wrap/invoke`, {
    token: room.token,
    raw: `{"params":{"p":${nested(40)}}}`,
    headers: JSON_HEADERS,
  });
  ok(fine, "a template result of depth 51");
});

// ── numbers ─────────────────────────────────────────────────────────────────────────────────────

Deno.test("a number that is not finite after parsing (1e400, -1e999, …) is 400 invalid_body naming the field, at every door", async () => {
  await using s = await startServer();
  const { c, room, alice, list } = await doors(s.base);
  const extra = [
    {
      name: "_set_state increment",
      template: () => `{"params":{"key":"inc","increment":@V@}}`,
      send: async (t: string) => {
        const r = await http(s.base, "POST", `/rooms/in/actions/_set_state/invoke`, {
          token: alice,
          raw: t,
          headers: JSON_HEADERS,
        });
        return { accepted: r.status < 300, status: r.status, body: r.json, text: r.text };
      },
    },
    {
      name: "timer ms",
      template: () => `{"params":{"key":"tm","value":1,"timer":{"ms":@V@,"effect":"delete"}}}`,
      send: async (t: string) => {
        const r = await http(s.base, "POST", `/rooms/in/actions/_set_state/invoke`, {
          token: alice,
          raw: t,
          headers: JSON_HEADERS,
        });
        return { accepted: r.status < 300, status: r.status, body: r.json, text: r.text };
      },
    },
  ];
  const all = [...list, ...extra];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...all),
      fc.constantFrom(...NON_FINITE),
      fc.constantFrom("bare", "array", "object"),
      async (door, num, where) => {
        const bare = door.name === "_set_state increment" || door.name === "timer ms";
        const v = bare || where === "bare" ? num : where === "array" ? `[1,${num}]` : `{"x":${num}}`;
        const a = await door.send(door.template().replace("@V@", v));
        assert.equal(a.status, 400, `${door.name} with ${v}: ${a.text.slice(0, 200)}`);
        assert.equal(a.body?.error, "invalid_body", `${door.name} with ${v}: ${a.text.slice(0, 200)}`);
        assert.equal(
          typeof a.body?.field,
          "string",
          `${door.name}: field names where: ${a.text.slice(0, 200)}`,
        );
      },
    ),
    fcOpts(60),
  );
  const rooms = await http(s.base, "GET", `/rooms/r1`);
  assert.notEqual(rooms.status, 201);
  await readsHealthy(s.base, room.id, [room.token, alice]);
  void c;
});

Deno.test("an increment or CEL result past the double range is refused (400 invalid_body) and writes nothing", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("range");
  await c.ok(room.id, room.token, "_set_state", { scope: "_shared", key: "big", increment: 1.7e308 });
  refused(
    await c.invoke(room.id, room.token, "_set_state", { scope: "_shared", key: "big", increment: 1.7e308 }),
    400,
    "invalid_body",
  );
  const big = await http(s.base, "GET", `/rooms/range/state?scope=_shared&key=big`, { token: room.token });
  assert.equal(big.json.value, 1.7e308);
  assert.equal(big.json.version, 1);
  await c.ok(room.id, room.token, "_register_action", {
    id: "inc_tmpl",
    params: { d: { type: "number" } },
    writes: [{ scope: "_shared", key: "big", increment: "${params.d}" }],
  });
  refused(await c.invoke(room.id, room.token, "inc_tmpl", { d: 1e308 }), 400, "invalid_body");
  for (const [i, expr] of ["1.7e308 * 10.0", "1.0 / 0.0", "-1.0 / 0.0", "0.0 / 0.0"].entries()) {
    await c.ok(room.id, room.token, "_register_action", {
      id: `cel${i}`,
      writes: [{ scope: "_shared", key: `c${i}`, expr: true, value: expr }],
    });
    const r = await c.invoke(room.id, room.token, `cel${i}`);
    refused(r, 400, "invalid_body");
    assert.match(String(r.json.field), /writes\[0\]/);
  }
  const keys =
    ((await http(s.base, "GET", `/rooms/range/state?scope=_shared`, { token: room.token })).json as {
      key: string;
    }[])
      .map((e) => e.key);
  assert.deepEqual(keys, ["big"]);
});

// ── __proto__ ───────────────────────────────────────────────────────────────────────────────────

Deno.test("object keys named __proto__ are refused (400 invalid_body) wherever JSON comes in", async () => {
  await using s = await startServer();
  const { room, alice, list } = await doors(s.base);
  const wrong: string[] = [];
  for (const door of list) {
    for (const v of [`{"__proto__":{"polluted":1}}`, `[{"a":{"__proto__":[]}}]`]) {
      const a = await door.send(door.template().replace("@V@", v));
      if (a.accepted || a.body?.error !== "invalid_body" || typeof a.body?.field !== "string") {
        wrong.push(`${door.name} ${v}: ${a.status} ${a.text.slice(0, 160)}`);
      }
    }
  }
  const joinKey = await http(s.base, "POST", `/rooms/in/agents`, {
    raw: `{"id":"protojoin","state":{"__proto__":1}}`,
    headers: JSON_HEADERS,
  });
  if (joinKey.status !== 400) wrong.push(`join state key __proto__: ${joinKey.status}`);
  assert.deepEqual(wrong, []);
  await readsHealthy(s.base, room.id, [room.token, alice]);
});

// ── state keys ──────────────────────────────────────────────────────────────────────────────────

Deno.test("a NUL in a key cannot overwrite the key before it: the create-only claim of `job` stays alice's", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("nul");
  const alice = await c.join(room.id, "alice");
  const bob = await c.join(room.id, "bob");
  await c.ok(room.id, room.token, "_register_action", {
    id: "claim",
    params: { k: { type: "string", required: true } },
    if: "!(params.k in state._tasks)",
    writes: [{ scope: "_tasks", key: "${params.k}", value: "${self}", if_version: 0 }],
  });
  await c.ok(room.id, room.token, "_set_state", { scope: "_tasks", key: "seed", value: "x" });
  ok(await c.invoke(room.id, alice, "claim", { k: "job" }));
  refused(await c.invoke(room.id, bob, "claim", { k: "job" }), 409, "precondition_failed");
  const r = await c.invoke(room.id, bob, "claim", { k: "job\u0000x" });
  refused(r, 400, "invalid_body");
  const job = await http(s.base, "GET", `/rooms/nul/state?scope=_tasks&key=job`, { token: room.token });
  assert.equal(job.json.value, "alice");
  assert.equal(job.json.version, 1);
  const ctx = await c.context(room.id, bob, "?only=state._tasks");
  assert.deepEqual(ctx.state._tasks, { seed: "x", job: "alice" });
});

Deno.test("control characters (U+0000–U+001F, U+007F) anywhere in a key are refused through every write path", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("ctrl");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "put",
    params: { k: { type: "string" } },
    writes: [{ scope: "_shared", key: "${params.k}", value: 1 }],
  });
  let n = 0;
  const paths: Record<
    string,
    (key: string) => Promise<{ status: number; error?: unknown; field?: unknown; text: string }>
  > = {
    "_set_state": async (key) => {
      const r = await c.invoke(room.id, alice, "_set_state", { key, value: 1 });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "_batch_set_state": async (key) => {
      const r = await c.invoke(room.id, alice, "_batch_set_state", {
        writes: [{ key: "fine", value: 1 }, { key, value: 1 }],
      });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "join state": async (key) => {
      const r = await http(s.base, "POST", `/rooms/ctrl/agents`, {
        body: { id: `j${++n}`, state: { [key]: 1 } },
      });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "template ${params.k}": async (key) => {
      const r = await c.invoke(room.id, alice, "put", { k: key });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "PUT /state": async (key) => {
      const r = await http(s.base, "PUT", `/rooms/ctrl/state`, { token: alice, body: { key, value: 1 } });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "PUT /state/batch": async (key) => {
      const r = await http(s.base, "PUT", `/rooms/ctrl/state/batch`, {
        token: alice,
        body: { writes: [{ key, value: 1 }] },
      });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "import": async (key) => {
      const r = await http(s.base, "POST", "/rooms/import", {
        body: snapshot({
          id: `ci${++n}`,
          state: [{
            scope: "_shared",
            key,
            value: 1,
            version: 1,
            updated_at: "2026-01-01T00:00:00.000Z",
            seq: 0,
          }],
        }),
      });
      return { status: r.status, error: r.json?.error, field: r.json?.field, text: r.text };
    },
    "MCP invoke_action": async (key) => {
      const r = await mcpCall(s.base, alice, "invoke_action", {
        action: "_set_state",
        params: { key, value: 1 },
      });
      return {
        status: r.isError ? 400 : r.res.status,
        error: r.body?.error,
        field: r.body?.field,
        text: r.res.text,
      };
    },
  };
  const part = fc.array(fc.constantFrom(..."abcXYZ019._-"), { maxLength: 6 }).map((a) => a.join(""));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...Object.keys(paths)),
      part,
      fc.constantFrom(...CONTROL_CHARS),
      part,
      async (path, pre, ctl, post) => {
        const key = pre + ctl + post;
        const r = await paths[path](key);
        assert.equal(r.status, 400, `${path} key ${JSON.stringify(key)}: ${r.text.slice(0, 200)}`);
        assert.equal(r.error, "invalid_body", `${path} key ${JSON.stringify(key)}: ${r.text.slice(0, 200)}`);
        assert.equal(typeof r.field, "string");
      },
    ),
    fcOpts(60),
  );
  const rows = (await http(s.base, "GET", `/rooms/ctrl/state`, { token: room.token })).json as {
    key: string;
  }[];
  assert.deepEqual(
    rows.filter((e) => [...e.key].some((ch) => CONTROL_CHARS.includes(ch))),
    [],
    "no key with a control character was stored",
  );
  const agents = (await http(s.base, "GET", `/rooms/ctrl/agents`, { token: room.token })).json as {
    id: string;
  }[];
  assert.deepEqual(agents.map((a) => a.id), ["alice"], "no refused join created an agent");
});

Deno.test("ids with control characters stay refused (rooms, agents, actions, views, scopes); keys of 1–256 characters", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("ids");
  const cases = [
    () => http(s.base, "POST", "/rooms", { body: { id: "r\u0000x" } }),
    () => http(s.base, "POST", "/rooms/ids/agents", { body: { id: "a\u001fb" } }),
    () => c.invoke(room.id, room.token, "_register_action", { id: "act\u007f", writes: [] }),
    () => c.invoke(room.id, room.token, "_register_view", { id: "v\u0000", expr: "1" }),
    () => c.invoke(room.id, room.token, "_set_state", { scope: "_s\u0001", key: "k", value: 1 }),
    () => c.invoke(room.id, room.token, "_set_state", { scope: "_shared", key: "", value: 1 }),
    () => c.invoke(room.id, room.token, "_set_state", { scope: "_shared", key: "k".repeat(257), value: 1 }),
  ];
  for (const [i, go] of cases.entries()) {
    const r = await go();
    assert.equal(r.status, 400, `case ${i}: ${r.text.slice(0, 200)}`);
    notServerError(r);
  }
  ok(await c.invoke(room.id, room.token, "_set_state", { scope: "_shared", key: "k".repeat(256), value: 1 }));
});

Deno.test("message `to` entries must be valid agent ids (400) through every way of sending", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("to");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "tell",
    params: { to: { type: "any" } },
    writes: [{ scope: "_messages", append: true, value: { body: "hi", to: "${params.to}" } }],
  });
  const bad = ["bo\u0000b", "", "x".repeat(129), ["bob", "a b"], ["ok", 7], "_shared"];
  const wrong: string[] = [];
  for (const to of bad) {
    for (
      const [what, go] of [
        ["_send_message", () => c.invoke(room.id, alice, "_send_message", { body: "x", to })],
        [
          "POST /messages",
          () => http(s.base, "POST", `/rooms/to/messages`, { token: alice, body: { body: "x", to } }),
        ],
        ["custom append", () => c.invoke(room.id, alice, "tell", { to })],
      ] as const
    ) {
      const r = await go();
      if (r.status !== 400 || r.json.error !== "invalid_body") {
        wrong.push(`${what} to=${JSON.stringify(to)}: ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  ok(await c.invoke(room.id, alice, "_send_message", { body: "fine", to: ["bob", "carol.2"] }));
  const log = (await http(s.base, "GET", `/rooms/to/messages`, { token: room.token })).json as unknown[];
  assert.equal(log.length, 1, "only the valid message was stored");
});

// ── own properties only ─────────────────────────────────────────────────────────────────────────

Deno.test("unknown params named like Object.prototype members are 400 invalid_params (REST and MCP)", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("proto");
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_register_action", {
    id: "noop",
    params: { n: { type: "integer" } },
    writes: [{ scope: "_shared", key: "n", increment: 1 }],
  });
  const wrong: string[] = [];
  for (const name of INHERITED) {
    const raw = `{"params":{${JSON.stringify(name)}:1}}`;
    const r = await http(s.base, "POST", `/rooms/proto/actions/noop/invoke`, {
      token: alice,
      raw,
      headers: JSON_HEADERS,
    });
    const codes = name === "__proto__" ? ["invalid_params", "invalid_body"] : ["invalid_params"];
    if (r.status !== 400 || !codes.includes(r.json.error)) {
      wrong.push(`REST ${name}: ${r.status} ${r.text.slice(0, 120)}`);
    } else if (r.json.error === "invalid_params" && !JSON.stringify(r.json.params ?? "").includes(name)) {
      wrong.push(`REST ${name}: the refusal does not name the param: ${r.text.slice(0, 160)}`);
    }
    const m = await mcpRaw(
      s.base,
      alice,
      mcpCallText("invoke_action", `{"action":"noop","params":{${JSON.stringify(name)}:1}}`),
    );
    const err = m.status === 400 ? m.json.error : mcpResult(m).body?.error;
    if (!codes.includes(String(err))) wrong.push(`MCP ${name}: ${m.status} ${m.text.slice(0, 160)}`);
  }
  assert.deepEqual(wrong, []);
  const n = await http(s.base, "GET", `/rooms/proto/state?scope=_shared&key=n`, { token: room.token });
  assert.equal(n.status, 404, "no refused invocation ran");
});

Deno.test("params and template paths named like Object.prototype members substitute as missing, never 500", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("tmpl");
  const wrong: string[] = [];
  for (const name of INHERITED.filter((x) => x !== "__proto__")) {
    const id = `t_${name}`;
    await c.ok(room.id, room.token, "_register_action", {
      id,
      params: { [name]: { type: "any" }, o: { type: "object" } },
      writes: [
        { scope: "_shared", key: `${id}_declared`, value: `\${params.${name}}` },
        { scope: "_shared", key: `${id}_exact`, value: `\${params.o.${name}}` },
        { scope: "_shared", key: `${id}_inline`, value: `v=\${params.o.${name}}` },
        { scope: "_shared", key: `${id}_key`, value: { [`k\${params.o.${name}}`]: 1 } },
      ],
    });
    const r = await c.invoke(room.id, room.token, id, { o: {} });
    if (r.status !== 200) {
      wrong.push(`${id}: ${r.status} ${r.text.slice(0, 160)}`);
      continue;
    }
    const v = r.json.writes.map((w: { value: unknown }) => w.value);
    if (JSON.stringify(v) !== JSON.stringify([null, null, "v=", { k: 1 }])) {
      wrong.push(`${id}: ${JSON.stringify(v)}`);
    }
    const given = await c.invoke(room.id, room.token, id, { [name]: "mine", o: { [name]: "own" } });
    const gv = given.json?.writes?.map((w: { value: unknown }) => w.value);
    if (JSON.stringify(gv) !== JSON.stringify(["mine", "own", "v=own", { kown: 1 }])) {
      wrong.push(`${id} with own values: ${given.status} ${JSON.stringify(gv ?? given.text.slice(0, 120))}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("keys and ids named like Object.prototype members are ordinary names (or refused), never inherited", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const wrong: string[] = [];
  const check = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong.push(`${what}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
  };
  for (const [i, name] of INHERITED.entries()) {
    // one room per name, so one broken name cannot hide another
    const room = await c.createRoom(`names${i}`);
    const bob = await c.join(room.id, "bob");
    const ev = async (token: string, expr: string) => {
      const r = await http(s.base, "POST", `/rooms/${room.id}/eval`, { token, body: { expr } });
      return r.json?.error ? `error: ${r.json.error}` : r.json?.value;
    };
    const q = JSON.stringify(name);
    // nothing of that name exists yet: the CEL maps have no such member
    check(
      `${name} in state._shared (unset)`,
      await ev(bob, `has(state._shared) ? ${q} in state._shared : false`),
      false,
    );
    check(`${name} in views (unset)`, await ev(bob, `${q} in views`), false);
    check(`${name} in actions (unset)`, await ev(bob, `${q} in actions`), false);
    check(`${name} in agents (unset)`, await ev(bob, `${q} in agents`), false);
    // a state key: stored and read back the same everywhere
    const w = await c.invoke(room.id, room.token, "_set_state", {
      scope: "_shared",
      key: name,
      value: { v: name },
    });
    notServerError(w, `key ${name}`);
    if (w.status === 200) {
      const row = await http(
        s.base,
        "GET",
        `/rooms/${room.id}/state?scope=_shared&key=${encodeURIComponent(name)}`,
        { token: bob },
      );
      check(`/state key ${name}`, row.json?.value, { v: name });
      const ctx = await c.context(room.id, bob, "?only=state._shared");
      check(
        `/context key ${name}`,
        Object.hasOwn(ctx.state._shared, name) ? ctx.state._shared[name] : "absent",
        { v: name },
      );
      check(`CEL key ${name}`, await ev(bob, `state._shared[${q}].v`), name);
    }
    // an action, a view and an agent of that name
    const a = await c.invoke(room.id, room.token, "_register_action", {
      id: name,
      writes: [{ scope: "_shared", key: "hit", value: name }],
    });
    notServerError(a, `action ${name}`);
    if (a.status === 200) {
      const inv = await c.invoke(room.id, bob, name);
      check(`invoke ${name}`, inv.json?.writes?.[0]?.value, name);
      check(`CEL actions.${name}`, await ev(bob, `actions[${q}].available`), true);
      const listed = (await c.context(room.id, bob, "?only=actions")).actions;
      check(`/context actions ${name}`, Object.hasOwn(listed, name), true);
    }
    const v = await c.invoke(room.id, room.token, "_register_view", { id: name, expr: "7" });
    notServerError(v, `view ${name}`);
    if (v.status === 200) {
      const views = (await c.context(room.id, bob, "?only=views")).views;
      check(`/context views ${name}`, Object.hasOwn(views, name) ? views[name] : "absent", 7);
      check(`CEL views.${name}`, await ev(bob, `views[${q}]`), 7);
    }
    const j = await http(s.base, "POST", `/rooms/${room.id}/agents`, {
      body: { id: name, state: { hp: 3 } },
    });
    notServerError(j, `agent ${name}`);
    if (j.status === 201) {
      const agents = (await c.context(room.id, bob, "?only=agents")).agents;
      check(`/context agents ${name}`, Object.hasOwn(agents, name), true);
      check(`CEL agents.${name}`, await ev(bob, `agents[${q}].status`), "active");
      check(`${name}'s own scope`, await ev(j.json.token, "state.self.hp"), 3);
      check(`bob does not see ${name}'s scope`, await ev(bob, `${q} in state`), false);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("Idempotency-Keys named like Object.prototype members run once, then replay", async () => {
  await using s = await startServer();
  const c = client(s.base);
  const room = await c.createRoom("idem");
  const alice = await c.join(room.id, "alice");
  for (const [i, name] of INHERITED.entries()) {
    const call = () =>
      http(s.base, "POST", `/rooms/idem/actions/_set_state/invoke`, {
        token: alice,
        headers: { "idempotency-key": name },
        body: { params: { key: "n", increment: 1 } },
      });
    const first = await call();
    assert.equal(first.status, 200, `${name}: ${first.text}`);
    assert.equal(first.json.writes[0].value, i + 1, `${name} ran`);
    const again = await call();
    assert.equal(again.status, 200);
    assert.equal(again.json.cursor, first.json.cursor, `${name} replayed`);
  }
});

// ── values stored before these limits ───────────────────────────────────────────────────────────

Deno.test("values an older server stored (3,000 and 100,000 levels deep) break no read for anyone, and nothing deeper is built on them", async () => {
  await using tmp = await tempDir();
  const c0 = { room: { id: "old", token: "", view: "" }, alice: "" };
  {
    await using s = await startServer({ dbPath: tmp.db });
    const c = client(s.base);
    c0.room = await c.createRoom("old");
    c0.alice = await c.join("old", "alice", { state: { bomb: [1] } });
    await c.ok("old", c0.room.token, "_set_state", { scope: "_shared", key: "deep", value: 1 });
    await c.ok("old", c0.alice, "_send_message", { body: "x" });
    await c.ok("old", c0.room.token, "_register_view", { id: "v", expr: "state._shared.deep" });
  }
  // what an older server let in, written straight into its database
  const store = await LibsqlStore.open(`file:${tmp.db}`);
  try {
    const sql = [
      ["UPDATE state SET value = ? WHERE room_id = 'old' AND key = 'bomb'", nested(3000)],
      ["UPDATE state SET value = ? WHERE room_id = 'old' AND key = 'deep'", nested(100_000)],
      ["UPDATE messages SET body = ? WHERE room_id = 'old'", nestedObj(3000)],
      ["UPDATE agents SET meta = ? WHERE room_id = 'old'", nested(3000)],
      ["UPDATE rooms SET meta = ? WHERE id = 'old'", nestedObj(3000)],
    ];
    for (const [q, v] of sql) await store.client.execute({ sql: q, args: [v] });
  } finally {
    store.close();
  }
  // each read below converts a 100,000-level value for CEL and back: together they cost more than the
  // room's CEL time per second (a CEL budget, reference/security.md), which is not what this asserts
  await using s = await startServer({ dbPath: tmp.db, limits: { roomCelMsPerSec: 0 } });
  const { room, alice } = c0;
  await readsHealthy(s.base, "old", [room.token, room.view, alice]);
  const more: string[] = [];
  for (const token of [room.token, room.view, alice]) {
    for (
      const [what, go] of [
        ["/views", () => http(s.base, "GET", `/rooms/old/views`, { token })],
        ["/agents", () => http(s.base, "GET", `/rooms/old/agents`, { token })],
        ["/rooms/old", () => http(s.base, "GET", `/rooms/old`)],
        [
          "/wait",
          () =>
            http(s.base, "GET", `/rooms/old/wait?condition=has(state._shared.deep)&timeout=1000`, { token }),
        ],
        [
          "/eval deep equality",
          () =>
            http(s.base, "POST", `/rooms/old/eval`, {
              token,
              body: { expr: "state._shared.deep == state._shared.deep" },
            }),
        ],
        [
          "MCP eval_cel",
          () => mcpCall(s.base, token, "eval_cel", { expr: "state._shared.deep" }).then((m) => m.res),
        ],
      ] as const
    ) {
      const r = await go();
      if (r.status !== 200) more.push(`${what} (${token.slice(0, 5)}): ${r.status} ${r.text.slice(0, 120)}`);
    }
  }
  const exp = await http(s.base, "GET", `/rooms/old/export`, { token: room.token });
  if (exp.status !== 200) more.push(`export: ${exp.status} ${exp.text.slice(0, 120)}`);
  assert.deepEqual(more, []);
  // building on such a value is checked like any other write: deeper than the limit is refused
  refused(
    await client(s.base).invoke("old", alice, "_set_state", { key: "bomb", append: true, value: 1 }),
    400,
    "too_deep",
    { field: "params.value", limit: DEPTH },
  );
  ok(
    await client(s.base).invoke("old", alice, "_set_state", { key: "bomb", value: 1 }),
    "replacing it is fine",
  );
});
