/**
 * The engine's transaction without HTTP: a Tx stages, reads its own staged writes first and touches the room
 * only in applyTx, which applies everything of one invocation at once; a refusal drops the Tx whole.
 */
import assert from "node:assert/strict";
import { BUILTINS } from "../../engine/builtins.ts";
import { entryId } from "../../engine/model.ts";
import { applyTx } from "../../engine/tx.ts";
import { applyWrite } from "../../engine/write_modes.ts";
import { ApiError } from "../../errors.ts";
import { ADMIN, memoryRoom } from "./_room.ts";

const noCtx = () => ({});

Deno.test("Tx reads its staged writes first and leaves the room untouched until applyTx", () => {
  const { room, tx } = memoryRoom();
  const t = tx(ADMIN);
  applyWrite(t, { key: "turn", value: 1 }, "_shared", noCtx, "params");
  assert.equal(t.get("_shared", "turn")?.value, 1, "the Tx sees its own write");
  assert.equal(room.getEntry("_shared", "turn"), undefined, "the room does not, yet");
  applyWrite(t, { key: "turn", increment: true }, "_shared", noCtx, "params");
  assert.equal(t.get("_shared", "turn")?.value, 2, "a later write builds on the staged one");
  assert.equal(t.get("_shared", "turn")?.version, 2);
  t.delete("_shared", "turn");
  assert.equal(t.get("_shared", "turn"), undefined, "a staged delete hides the entry");
});

Deno.test("applyTx applies one invocation at once: one seq, stamped entries, one change record, all dirty", () => {
  const { room, tx } = memoryRoom();
  const seqBefore = room.seq;
  const bytesBefore = room.storedBytes; // the agents' meta
  const t = tx(ADMIN);
  applyWrite(t, { key: "a", value: "x" }, "_shared", noCtx, "params");
  applyWrite(t, { key: "b", value: { n: 1 } }, "_shared", noCtx, "params");
  const seq = applyTx(t);
  assert.equal(seq, seqBefore + 1, "one commit, one seq");
  assert.equal(room.seq, seq);
  for (const key of ["a", "b"]) {
    assert.equal(room.getEntry("_shared", key)?.seq, seq, `${key} carries the seq`);
  }
  const rec = room.rt.log.at(-1)!;
  assert.equal(rec.seq, seq);
  assert.deepEqual(rec.changes.map((c) => c.key), ["a", "b"]);
  assert.deepEqual(
    [...room.rt.dirty.entries!].sort(),
    [entryId("_shared", "a"), entryId("_shared", "b")],
    "both rows wait for the next flush",
  );
  assert.equal(room.entryCount, 2);
  assert.equal(room.storedBytes - bytesBefore, JSON.stringify("x").length + JSON.stringify({ n: 1 }).length);
});

Deno.test("applyTx records a delete with the version that was removed and gives back its bytes", () => {
  const { room, tx } = memoryRoom();
  const bytesBefore = room.storedBytes; // the agents' meta
  const w = tx(ADMIN);
  applyWrite(w, { key: "k", value: "abc" }, "_shared", noCtx, "params");
  applyWrite(w, { key: "k", value: "abcd" }, "_shared", noCtx, "params");
  applyTx(w);
  const d = tx(ADMIN);
  d.delete("_shared", "k");
  applyTx(d);
  assert.equal(room.getEntry("_shared", "k"), undefined);
  assert.deepEqual(room.rt.log.at(-1)!.changes, [{ scope: "_shared", key: "k", version: 2, deleted: true }]);
  assert.equal(room.entryCount, 0);
  assert.equal(room.storedBytes, bytesBefore);
});

Deno.test("a refused batch is dropped whole: nothing of its earlier writes reaches the room", () => {
  const { room, as, tx } = memoryRoom();
  const alice = as("alice");
  const t = tx(alice);
  const seqBefore = room.seq;
  assert.throws(
    () =>
      BUILTINS._batch_set_state.run(t, {
        writes: [{ key: "mine", value: 1 }, { scope: "bob", key: "theirs", value: 2 }],
      }, { ctx: noCtx, guide: noCtx }),
    (e) => e instanceof ApiError && e.code === "scope_denied",
  );
  assert.equal(t.get("alice", "mine")?.value, 1, "the first write was staged in the Tx…");
  assert.equal(room.getEntry("alice", "mine"), undefined, "…and never applied");
  assert.equal(room.seq, seqBefore, "no commit");
});

Deno.test("an entry written to a tick target counts a logical tick once per commit", () => {
  const { room, tx } = memoryRoom();
  const t = tx(ADMIN);
  t.newTicks.add("_shared.clock");
  applyTx(t);
  assert.equal(room.tick("_shared.clock"), 0, "registering a target starts it at 0");
  for (let i = 1; i <= 3; i++) {
    const w = tx(ADMIN);
    applyWrite(w, { key: "clock", value: i }, "_shared", noCtx, "params");
    applyWrite(w, { key: "clock", value: i * 10 }, "_shared", noCtx, "params");
    applyTx(w);
    assert.equal(room.tick("_shared.clock"), i);
  }
});
