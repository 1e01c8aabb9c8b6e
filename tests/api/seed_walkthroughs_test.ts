/**
 * The curl walk-throughs of seed 000 that use actions and views, each as one ordered test, sent the way the
 * seed sends them (compatibility routes included; `-d` without a Content-Type is form-encoded).
 */
import { CLAIM_TASK, POST_TASK, SEND_MESSAGE } from "../_seed_actions.ts";
import assert from "node:assert/strict";
import { client, http, startServer } from "../_server.ts";

/** A curl call: JSON body as text; `form` mimics `curl -d` without `-H "Content-Type: application/json"`. */
function curl(base: string) {
  return (method: string, path: string, token?: string, body?: unknown, form = false) =>
    http(base, method, path, {
      token,
      raw: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined
        ? {}
        : { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
    });
}

async function demo(opts: { fakeClock?: boolean } = {}) {
  const s = await startServer(opts);
  const run = curl(s.base);
  const created = await run("POST", "/rooms", undefined, { id: "demo" });
  assert.equal(created.status, 201);
  assert.match(created.json.token, /^room_/);
  const room: string = created.json.token;
  const join = async (id: string, name: string, role = "player") => {
    const r = await run("POST", "/rooms/demo/agents", undefined, { id, name, role });
    assert.equal(r.status, 201, r.text);
    return r.json.token as string;
  };
  return { s, run, room, join, c: client(s.base) };
}

Deno.test("seed: create, batch state, send_message action, read messages", async (t) => {
  const { s, run, room, join } = await demo();
  await using _s = s;
  let alice = "";
  await t.step("initial state with the room token", async () => {
    const r = await run("PUT", "/rooms/demo/state/batch", room, {
      writes: [{ scope: "_shared", key: "phase", value: "lobby" }, {
        scope: "_shared",
        key: "max_players",
        value: 4,
      }],
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.count, 2);
  });
  await t.step("register send_message", async () => {
    const r = await run("PUT", "/rooms/demo/actions", room, SEND_MESSAGE);
    assert.equal(r.status, 200, r.text);
  });
  await t.step("alice joins and sends a message via the action", async () => {
    alice = await join("alice", "Alice");
    const r = await run("POST", "/rooms/demo/actions/send_message/invoke", alice, {
      params: { body: "Hello everyone!" },
    });
    assert.equal(r.status, 200, r.text);
  });
  await t.step("read messages", async () => {
    const r = await run("GET", "/rooms/demo/state?scope=_messages", alice);
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 1);
    assert.equal(r.json[0].value.from, "alice");
    assert.equal(r.json[0].value.body, "Hello everyone!");
    assert.equal(r.json[0].value.kind, "chat");
  });
});

Deno.test("seed: post_task / claim_task", async (t) => {
  const { s, run, room, join } = await demo();
  await using _s = s;
  const alice = await join("alice", "Alice");
  const bob = await join("bob", "Bob");
  await t.step("register post_task and claim_task", async () => {
    for (
      const def of [
        POST_TASK,
        CLAIM_TASK,
      ]
    ) {
      const r = await run("PUT", "/rooms/demo/actions", room, def);
      assert.equal(r.status, 200, r.text);
    }
  });
  await t.step("alice posts a task (curl -d, form-encoded)", async () => {
    const r = await run("POST", "/rooms/demo/actions/post_task/invoke", alice, {
      params: { body: "analyze the dataset" },
    }, true);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.writes[0].key, "1");
  });
  await t.step("bob claims it", async () => {
    const r = await run("POST", "/rooms/demo/actions/claim_task/invoke", bob, { params: { key: "1" } }, true);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.writes[0].value.claimed_by, "bob");
  });
  await t.step("alice's claim of the same task is 409 precondition_failed, explained", async () => {
    const r = await run(
      "POST",
      "/rooms/demo/actions/claim_task/invoke",
      alice,
      { params: { key: "1" } },
      true,
    );
    assert.equal(r.status, 409);
    assert.equal(r.json.error, "precondition_failed");
    assert.equal(r.json.detail["state._tasks[params.key].claimed_by"], "bob");
    const task = await run("GET", "/rooms/demo/state?scope=_tasks&key=1", alice);
    assert.equal(task.json.value.claimed_by, "bob");
    assert.equal(task.json.value.body, "analyze the dataset");
  });
});

Deno.test("seed: alice-status view over private state", async (t) => {
  const { s, run, join } = await demo();
  await using _s = s;
  const alice = await join("alice", "Alice");
  const bob = await join("bob", "Bob");
  await t.step("alice writes her private scope", async () => {
    assert.equal(
      (await run("PUT", "/rooms/demo/state", alice, { scope: "alice", key: "health", value: 100 }, true))
        .status,
      200,
    );
    const r = await run("PUT", "/rooms/demo/state", alice, {
      scope: "alice",
      key: "secret_plan",
      value: "attack from the north",
    }, true);
    assert.equal(r.status, 200);
  });
  await t.step("alice registers alice-status → healthy", async () => {
    const r = await run("PUT", "/rooms/demo/views", alice, {
      id: "alice-status",
      scope: "alice",
      expr: 'state["alice"].health > 50 ? "healthy" : "wounded"',
      description: "Alice public health status",
    }, true);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.value, "healthy");
  });
  await t.step("bob sees the view but not alice's raw state", async () => {
    const views = await run("GET", "/rooms/demo/views", bob);
    const v = views.json.find((x: { id: string }) => x.id === "alice-status");
    assert.deepEqual([v.value, v.description, v.scope], ["healthy", "Alice public health status", "alice"]);
    assert.ok(!views.text.includes("attack from the north"));
    const denied = await run("GET", "/rooms/demo/state?scope=alice", bob);
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error, "scope_denied");
  });
  await t.step("the view follows alice's state", async () => {
    await run("PUT", "/rooms/demo/state", alice, { scope: "alice", key: "health", value: 20 });
    assert.equal((await run("GET", "/rooms/demo/views/alice-status", bob)).json.value, "wounded");
  });
});

Deno.test("seed: take_turn / advance_turn with the turn counter, grants, game-status", async (t) => {
  const { s, run, room, join } = await demo();
  await using _s = s;
  const alice = await join("alice", "Alice");
  const bob = await join("bob", "Bob");
  await run("PUT", "/rooms/demo/state/batch", room, {
    writes: [
      { scope: "_shared", key: "phase", value: "playing" },
      { scope: "_shared", key: "current_player", value: "alice" },
      { scope: "_shared", key: "turn", value: 0 },
    ],
  });
  await t.step("register take_turn and advance_turn", async () => {
    const take = await run("PUT", "/rooms/demo/actions", room, {
      id: "take_turn",
      description: "Execute your turn",
      params: { move: { type: "string", enum: ["attack", "defend", "heal"] } },
      if: 'state._shared.current_player == self && state._shared.phase == "playing"',
      writes: [
        {
          scope: "_messages",
          append: true,
          value: { from: "${self}", kind: "move", body: "${params.move}" },
        },
        { scope: "_shared", key: "last_move", value: "${params.move}" },
        { scope: "_shared", key: "turn", increment: true, value: 1 },
      ],
    }, true);
    assert.equal(take.status, 200, take.text);
    const adv = await run("PUT", "/rooms/demo/actions", room, {
      id: "advance_turn",
      description: "Advance to next player (room admin only)",
      params: { next_player: { type: "string" } },
      writes: [{ scope: "_shared", key: "current_player", value: "${params.next_player}" }],
    }, true);
    assert.equal(adv.status, 200, adv.text);
  });
  await t.step("alice takes her turn; bob's turn is refused", async () => {
    const w = await run(
      "GET",
      "/rooms/demo/wait?condition=state._shared.current_player==self&include=state,actions",
      alice,
    );
    assert.equal(w.status, 200);
    assert.equal(w.json.triggered, true);
    const r = await run("POST", "/rooms/demo/actions/take_turn/invoke", alice, {
      params: { move: "attack" },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.writes.map((x: { key: string; value: unknown }) => [x.key, x.value]).slice(1), [
      ["last_move", "attack"],
      ["turn", 1],
    ]);
    const no = await run("POST", "/rooms/demo/actions/take_turn/invoke", bob, { params: { move: "heal" } });
    assert.equal(no.status, 409);
    assert.equal(no.json.error, "precondition_failed");
    const bad = await run("POST", "/rooms/demo/actions/take_turn/invoke", alice, {
      params: { move: "dance" },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "invalid_params");
  });
  await t.step("advance_turn to bob; bob plays; the counter is 2, the log holds both moves", async () => {
    assert.equal(
      (await run("POST", "/rooms/demo/actions/advance_turn/invoke", room, { params: { next_player: "bob" } }))
        .status,
      200,
    );
    const r = await run("POST", "/rooms/demo/actions/take_turn/invoke", bob, { params: { move: "heal" } });
    assert.equal(r.status, 200, r.text);
    const ctx = await run("GET", "/rooms/demo/context", alice);
    assert.equal(ctx.json.state._shared.turn, 2);
    assert.equal(ctx.json.state._shared.last_move, "heal");
    const moves = ctx.json.messages.recent.filter((m: { kind: string }) => m.kind === "move");
    assert.deepEqual(moves.map((m: { from: string; body: string }) => [m.from, m.body]), [
      ["alice", "attack"],
      ["bob", "heal"],
    ]);
  });
  await t.step("game-status view shows the turn in progress", async () => {
    await run("POST", "/rooms/demo/actions/advance_turn/invoke", room, { params: { next_player: "alice" } });
    await run("POST", "/rooms/demo/actions/take_turn/invoke", alice, { params: { move: "defend" } });
    const v = await run("PUT", "/rooms/demo/views", room, {
      id: "game-status",
      scope: "_shared",
      expr:
        'state._shared.phase == "playing" ? "Game in progress (turn " + string(state._shared.turn) + ")" : "Game over"',
      description: "Current game status",
    });
    assert.equal(v.status, 200, v.text);
    const r = await run("GET", "/rooms/demo/views/game-status", alice);
    assert.equal(r.json.id, "game-status");
    assert.equal(r.json.value, "Game in progress (turn 3)");
    const ev = await run("POST", "/rooms/demo/eval", alice, { expr: 'views["game-status"]' });
    assert.equal(ev.json.value, "Game in progress (turn 3)");
  });
  await t.step("grant bob _shared; his direct write ends the game", async () => {
    const before = await run("PUT", "/rooms/demo/state", bob, {
      scope: "_shared",
      key: "phase",
      value: "endgame",
    });
    assert.equal(before.status, 403);
    const p = await run("PATCH", "/rooms/demo/agents/bob", room, {
      grants: ["_shared", "_messages"],
      role: "admin",
    });
    assert.equal(p.status, 200, p.text);
    const w = await run("PUT", "/rooms/demo/state", bob, {
      scope: "_shared",
      key: "phase",
      value: "endgame",
    });
    assert.equal(w.status, 200, w.text);
    assert.equal((await run("GET", "/rooms/demo/views/game-status", alice)).json.value, "Game over");
    const w2 = await run("GET", '/rooms/demo/wait?condition=views["game-status"]=="Game over"', alice);
    assert.equal(w2.json.triggered, true);
  });
});

Deno.test("seed: special_attack cooldown (injected clock)", async (t) => {
  const { s, run, room, join } = await demo({ fakeClock: true });
  await using _s = s;
  const alice = await join("alice", "Alice");
  await run("PUT", "/rooms/demo/state", room, { scope: "_shared", key: "phase", value: "playing" });
  await run("PUT", "/rooms/demo/actions", room, {
    id: "special_attack",
    description: "Powerful attack with 10s cooldown",
    if: 'state._shared.phase == "playing"',
    on_invoke: { timer: { ms: 10000, effect: "enable" } },
    writes: [{
      scope: "_messages",
      append: true,
      value: { from: "${self}", kind: "action", body: "special_attack" },
    }],
  });
  const invoke = () => run("POST", "/rooms/demo/actions/special_attack/invoke", alice, { params: {} });
  await t.step("first use works", async () => {
    assert.equal((await invoke()).status, 200);
  });
  await t.step("within 10 s: 409 action_cooldown with available_at; hidden from /context", async () => {
    s.clock.advance(9_999);
    const r = await invoke();
    assert.equal(r.status, 409);
    assert.equal(r.json.error, "action_cooldown");
    assert.equal(r.json.available_at, new Date(s.clock.now() + 1).toISOString());
    const ctx = await run("GET", "/rooms/demo/context", alice);
    assert.equal(ctx.json.actions.special_attack, undefined);
    const listed = (await run("GET", "/rooms/demo/actions/special_attack", alice)).json;
    assert.equal(listed.available, false);
    assert.equal(listed.cooldown.available_at, r.json.available_at);
  });
  await t.step("after 10 s it is invocable again, and the cooldown restarts", async () => {
    s.clock.advance(1);
    const ctx = await run("GET", "/rooms/demo/context", alice);
    assert.equal(ctx.json.actions.special_attack.available, true);
    assert.equal((await invoke()).status, 200);
    assert.equal((await invoke()).status, 409);
    const msgs = (await run("GET", "/rooms/demo/state?scope=_messages", alice)).json;
    assert.equal(
      msgs.filter((m: { value: { body: string } }) => m.value.body === "special_attack").length,
      2,
    );
  });
});

Deno.test("seed: final_boss_location hidden until endgame", async (t) => {
  const { s, run, room, join } = await demo();
  await using _s = s;
  const alice = await join("alice", "Alice");
  await run("PUT", "/rooms/demo/state", room, { scope: "_shared", key: "phase", value: "playing" });
  await t.step("the entry is written with an enabled expression", async () => {
    const r = await run("PUT", "/rooms/demo/state", room, {
      scope: "_shared",
      key: "final_boss_location",
      value: { x: 100, y: 200 },
      enabled: 'state._shared.phase == "endgame"',
    });
    assert.equal(r.status, 200, r.text);
  });
  await t.step("hidden while playing: context, state and CEL", async () => {
    const ctx = await run("GET", "/rooms/demo/context", alice);
    assert.equal(ctx.json.state._shared.final_boss_location, undefined);
    const rows = (await run("GET", "/rooms/demo/state?scope=_shared", alice)).json;
    assert.ok(!rows.some((x: { key: string }) => x.key === "final_boss_location"));
    const ev = await run("POST", "/rooms/demo/eval", alice, {
      expr: "has(state._shared.final_boss_location)",
    });
    assert.equal(ev.json.value, false);
  });
  await t.step("visible once the phase is endgame", async () => {
    await run("PUT", "/rooms/demo/state", room, { scope: "_shared", key: "phase", value: "endgame" });
    const ctx = await run("GET", "/rooms/demo/context", alice);
    assert.deepEqual(ctx.json.state._shared.final_boss_location, { x: 100, y: 200 });
    const ev = await run("POST", "/rooms/demo/eval", alice, { expr: "state._shared.final_boss_location.x" });
    assert.equal(ev.json.value, 100);
  });
});
