/**
 * Privacy decisions without HTTP (reference/security.md): who reads which scope and audit row, who writes which scope
 * directly, and the caller's view of the state built from them.
 */
import assert from "node:assert/strict";
import { type Caller, canWriteScope } from "../../auth.ts";
import { DEFAULT_LIMITS } from "../../config.ts";
import { celState, jsonState, readCtx, visibleScopes } from "../../engine/context.ts";
import type { Engine } from "../../engine/engine.ts";
import { canReadAudit, canReadScope } from "../../engine/privacy.ts";
import { applyTx } from "../../engine/tx.ts";
import { applyWrite } from "../../engine/write_modes.ts";
import { ADMIN, agentRecord, memoryRoom, NOW } from "./_room.ts";

const VIEWER: Caller = { kind: "viewer", id: "viewer" };
const agent = (id: string, grants: string[] = [], viaRoomToken = false): Caller => ({
  kind: "agent",
  id,
  agent: agentRecord(id, "as_x", grants),
  viaRoomToken,
});
/** What readCtx needs of an engine. */
const eng = { now: () => NOW, limits: DEFAULT_LIMITS } as Engine;

Deno.test("canReadScope: tokens read everything; agents system scopes, their own and granted ones", () => {
  const alice = agent("alice", ["team"]);
  const table: [Caller, string, boolean][] = [
    [ADMIN, "bob", true],
    [ADMIN, "_audit", true],
    [VIEWER, "bob", true],
    [alice, "_shared", true],
    [alice, "alice", true],
    [alice, "team", true],
    [alice, "bob", false],
    [alice, "_audit", false],
    [agent("alice", [], true), "bob", false],
  ];
  for (const [caller, scope, ok] of table) {
    assert.equal(canReadScope(caller, scope), ok, `${caller.id} reading ${scope}`);
  }
});

Deno.test("canReadAudit: agents see only their own rows", () => {
  assert.equal(canReadAudit(agent("alice"), "alice"), true);
  assert.equal(canReadAudit(agent("alice"), "bob"), false);
  assert.equal(canReadAudit(ADMIN, "bob"), true);
  assert.equal(canReadAudit(VIEWER, "bob"), true);
});

Deno.test("canWriteScope: nobody writes _audit; the viewer nothing; agents their own and granted scopes", () => {
  const table: [Caller, string, boolean][] = [
    [ADMIN, "bob", true],
    [ADMIN, "_audit", false],
    [VIEWER, "_shared", false],
    [agent("alice"), "alice", true],
    [agent("alice"), "_shared", false],
    [agent("alice", ["_shared"]), "_shared", true],
    [agent("alice"), "bob", false],
    [agent("alice", [], true), "bob", true],
  ];
  for (const [caller, scope, ok] of table) {
    assert.equal(canWriteScope(caller, scope), ok, `${caller.id} writing ${scope}`);
  }
});

Deno.test("an agent's state shows system scopes and its own (as self), never another agent's", () => {
  const { room, as, tx } = memoryRoom();
  const t = tx(ADMIN);
  applyWrite(t, { key: "plan", value: "north" }, "alice", () => ({}), "params");
  applyWrite(t, { key: "plan", value: "south" }, "bob", () => ({}), "params");
  applyWrite(t, { key: "turn", value: 1 }, "_shared", () => ({}), "params");
  applyTx(t);
  const forAlice = readCtx(eng, room, as("alice"));
  assert.deepEqual(visibleScopes(forAlice).sort(), ["_shared", "alice"]);
  assert.deepEqual(jsonState(forAlice), { self: { plan: "north" }, _shared: { turn: 1 } });
  const cel = celState(forAlice);
  assert.ok(!("bob" in cel), "bob's scope is not in alice's CEL state");
  assert.equal(cel.self, cel.alice, "her own scope is also `self`");
  const forAdmin = jsonState(readCtx(eng, room, ADMIN));
  assert.deepEqual(Object.keys(forAdmin).sort(), ["_shared", "alice", "bob"]);
});
