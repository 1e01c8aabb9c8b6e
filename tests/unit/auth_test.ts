/**
 * Tokens without HTTP: what each kind of token identifies in a room, that rotation retires the old token
 * at once, and the `agent` claim rules (`actAs`).
 */
import assert from "node:assert/strict";
import {
  actAs,
  bearer,
  hashToken,
  identify,
  mintToken,
  requireAdmin,
  requireWriter,
  sameHash,
} from "../../auth.ts";
import { applyTx } from "../../engine/tx.ts";
import { ApiError } from "../../errors.ts";
import { ADMIN, agentRecord, memoryRoom } from "./_room.ts";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e.code;
  }
  return "no error";
};

Deno.test("mintToken: kind prefix and 192 random bits; hashes compare in constant time", () => {
  assert.match(mintToken("room"), /^room_[0-9a-f]{48}$/);
  assert.match(mintToken("view"), /^view_[0-9a-f]{48}$/);
  assert.match(mintToken("agent"), /^as_[0-9a-f]{48}$/);
  assert.notEqual(mintToken("room"), mintToken("room"));
  const h = hashToken("as_1");
  assert.equal(sameHash(h, hashToken("as_1")), true);
  assert.equal(sameHash(h, hashToken("as_2")), false);
  assert.equal(sameHash(h, h.slice(1)), false);
  assert.equal(bearer("Bearer  tok "), "tok");
  assert.equal(bearer("Basic tok"), undefined);
});

Deno.test("identify: the room, view and agent tokens; no token is nobody; any other token is 401", () => {
  const { room, tokens } = memoryRoom();
  assert.deepEqual(identify(room, tokens.room), ADMIN);
  assert.deepEqual(identify(room, tokens.view), { kind: "viewer", id: "viewer" });
  const alice = identify(room, tokens.agents.alice)!;
  assert.equal(alice.kind, "agent");
  assert.equal(alice.id, "alice");
  assert.equal(identify(room, undefined), undefined);
  for (const wrong of [mintToken("room"), mintToken("agent"), "as_" + tokens.room.slice(5), "garbage"]) {
    assert.equal(code(() => identify(room, wrong)), "invalid_token", wrong);
  }
});

Deno.test("rotating an agent's token retires the old one at once", () => {
  const { room, tokens, tx } = memoryRoom();
  const fresh = mintToken("agent");
  const t = tx(ADMIN);
  t.agents.set("alice", agentRecord("alice", fresh));
  applyTx(t);
  assert.equal(code(() => identify(room, tokens.agents.alice)), "invalid_token");
  assert.equal(identify(room, fresh)?.id, "alice");
  assert.equal(identify(room, tokens.agents.bob)?.id, "bob", "other agents are untouched");
});

Deno.test("rotating the view token retires the old one", () => {
  const { room, tokens } = memoryRoom();
  const fresh = mintToken("view");
  room.view_token_hash = hashToken(fresh);
  assert.equal(code(() => identify(room, tokens.view)), "invalid_token");
  assert.equal(identify(room, fresh)?.kind, "viewer");
});

Deno.test("actAs: an agent names only itself; the room token may act as any agent; the viewer as none", () => {
  const { room, as } = memoryRoom();
  const alice = as("alice");
  assert.equal(actAs(room, alice, "alice"), alice);
  assert.equal(actAs(room, alice, undefined), alice);
  assert.equal(code(() => actAs(room, alice, "bob")), "identity_mismatch");
  const asBob = actAs(room, ADMIN, "bob");
  assert.equal(asBob.kind === "agent" && asBob.viaRoomToken, true);
  assert.equal(code(() => actAs(room, ADMIN, "zed")), "agent_not_found");
  assert.equal(code(() => actAs(room, { kind: "viewer", id: "viewer" }, "bob")), "identity_mismatch");
  assert.equal(code(() => requireWriter({ kind: "viewer", id: "viewer" })), "read_only_token");
  assert.equal(code(() => requireAdmin(alice)), "forbidden");
  assert.equal(code(() => requireAdmin(undefined)), "unauthorized");
});
