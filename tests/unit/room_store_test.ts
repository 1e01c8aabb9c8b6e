/**
 * The RoomStore contract, run against every backend (a second backend adds one line to BACKENDS): rooms
 * written through the registry's rows load back the same, a batch is all or nothing under the seq
 * compare-and-set, creation skips taken ids, a restore refuses them, a drop removes every row.
 */
import assert from "node:assert/strict";
import { roomFromRows, roomRow, takeWrite } from "../../engine/registry_rows.ts";
import { applyTx } from "../../engine/tx.ts";
import { applyWrite } from "../../engine/write_modes.ts";
import { LibsqlStore } from "../../store/libsql_store.ts";
import { CommitError, type RoomStore } from "../../store/room_store.ts";
import { ADMIN, memoryRoom, NOW } from "./_room.ts";

const BACKENDS: { name: string; open(dir: string): Promise<RoomStore> }[] = [
  { name: "libsql file", open: (dir) => LibsqlStore.open(`file:${dir}/store.db`) },
];

async function withStore(open: (dir: string) => Promise<RoomStore>, fn: (store: RoomStore) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-store-" });
  const store = await open(dir);
  try {
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A room in memory with a little of everything, as an invocation would leave it. */
function busyRoom(id: string) {
  const m = memoryRoom(["alice", "bob"], id);
  const t = m.tx(ADMIN);
  applyWrite(t, { key: "turn", value: 3, timer: { ms: 60_000 } }, "_shared", () => ({}), "params");
  applyWrite(t, { key: "plan", value: { go: "north" } }, "alice", () => ({}), "params");
  t.newMessages.push({
    seq: 1,
    from: "alice",
    kind: "chat",
    body: "hi",
    to: "bob",
    reply_to: null,
    claimed_by: null,
    claimed_at: null,
    ts: new Date(NOW).toISOString(),
  });
  t.proposals.set("prop-1", {
    id: "prop-1",
    action: "deploy",
    params: { version: "v2" },
    proposer: "alice",
    count: 2,
    from: "agents[approver].role == 'reviewer'",
    proposer_counts: false,
    registrar: "admin",
    scope: "_shared",
    approvals: [{ by: "bob", at: t.iso }],
    status: "pending",
    created_at: t.iso,
    expires_at: null,
    decided_at: null,
  });
  t.webhooks.set("hook", {
    id: "hook",
    url: "https://hooks.example.com/x",
    secret: "0123456789abcdef",
    events: { scopes: ["_shared"] },
    created_at: t.iso,
    disabled: null,
  });
  t.audit = {
    ts: t.iso,
    agent: "admin",
    action: "_set_state",
    builtin: true,
    params: {},
    ok: true,
    status: 200,
    error: null,
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  applyTx(t);
  return m.room;
}

for (const b of BACKENDS) {
  Deno.test(`${b.name}: a restored room loads back with the same rows`, () =>
    withStore(b.open, async (store) => {
      const room = busyRoom("r1");
      await store.commit({ restore: roomRow(room, 0), writes: [takeWrite(room)!] });
      const loaded = roomFromRows((await store.loadRoom("r1"))!);
      assert.equal(loaded.seq, room.seq);
      assert.equal(loaded.rt.persistedSeq, room.seq);
      assert.deepEqual([...loaded.agents.keys()], ["alice", "bob"]);
      for (const [scope, key] of [["_shared", "turn"], ["alice", "plan"]]) {
        const { cel: _a, bytes: _b, ...want } = room.getEntry(scope, key)!;
        const { cel: _c, bytes, ...got } = loaded.getEntry(scope, key)!;
        assert.deepEqual(got, want, `${scope}.${key}`);
        assert.equal(bytes, JSON.stringify(want.value).length);
      }
      assert.deepEqual(loaded.messages, room.messages.map((m) => ({ ...m, extra: null })));
      assert.deepEqual(loaded.directedSeqs.get("bob"), [1], "the unread indexes are rebuilt");
      assert.equal(loaded.auditSeq, 1);
      assert.equal(loaded.entryCount, 2);
      assert.deepEqual([...loaded.proposals.values()], [...room.proposals.values()]);
      assert.deepEqual(
        [...loaded.webhooks.values()],
        [...room.webhooks.values()],
        "webhooks, secret and seq",
      );
      const [audit] = await store.readAudit("r1", { limit: 10 });
      assert.equal(audit.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
      assert.equal(await store.loadRoom("nope"), undefined);
      // a proposal gone from memory (dropped as an old decided one) is removed from storage
      loaded.proposals.delete("prop-1");
      loaded.rt.dirty.proposal("prop-1");
      await store.commit({ writes: [takeWrite(loaded)!] });
      assert.deepEqual((await store.loadRoom("r1"))!.proposals, []);
    }));

  Deno.test(`${b.name}: a batch whose seq compare-and-set fails for one room writes nothing at all`, () =>
    withStore(b.open, async (store) => {
      const a = busyRoom("a");
      const z = busyRoom("z");
      await store.commit({ create: [roomRow(a, 0), roomRow(z, 0)], writes: [] });
      const wa = takeWrite(a)!;
      const wz = { ...takeWrite(z)!, seq: { from: 7, to: z.seq } }; // storage holds 0, not 7
      await assert.rejects(
        () => store.commit({ writes: [wa, wz] }),
        (e) => e instanceof CommitError && e.stale,
      );
      const loaded = await store.loadRoom("a");
      assert.equal(loaded?.room.seq, 0, "room a did not move either");
      assert.deepEqual(loaded?.state, [], "and none of its rows were written");
      await store.commit({ writes: [wa] });
      assert.equal((await store.loadRoom("a"))?.room.seq, a.seq, "alone, a commits");
      assert.deepEqual(
        await store.roomHeads(["a", "z", "nope"]),
        new Map([["a", { seq: a.seq, token_hash: a.token_hash }], ["z", {
          seq: 0,
          token_hash: z.token_hash,
        }]]),
      );
    }));

  Deno.test(`${b.name}: create skips a taken id, restore refuses it, drop removes every row`, () =>
    withStore(b.open, async (store) => {
      const room = busyRoom("taken");
      await store.commit({ restore: roomRow(room, 0), writes: [takeWrite(room)!] });
      const again = await store.commit({
        create: [roomRow(busyRoom("taken"), 0), roomRow(busyRoom("new"), 0)],
        writes: [],
      });
      assert.deepEqual([...again.created], ["new"]);
      const twin = busyRoom("taken");
      await assert.rejects(
        () => store.commit({ restore: roomRow(twin, 0), writes: [takeWrite(twin)!] }),
        (e) => e instanceof CommitError && e.reason === "exists",
      );
      assert.equal(
        (await store.loadRoom("taken"))?.room.token_hash,
        room.token_hash,
        "the first room is intact",
      );
      const dropped = await store.commit({ drop: ["taken", "never"], writes: [] });
      assert.deepEqual([...dropped.dropped], ["taken"]);
      assert.equal(await store.loadRoom("taken"), undefined);
      assert.deepEqual(await store.readAudit("taken", { limit: 10 }), []);
      // nothing of it is left behind: a new room with its id starts without its proposals
      const fresh = memoryRoom(["alice"], "taken").room;
      await store.commit({
        restore: roomRow(fresh, 0),
        writes: [takeWrite(fresh) ?? { room_id: "taken", put: {} }],
      });
      assert.deepEqual((await store.loadRoom("taken"))?.proposals, []);
    }));

  Deno.test(`${b.name}: peers are numbered as they arrive, see each other at their beats, and age out`, () =>
    withStore(b.open, async (store) => {
      const a = await store.beatPeer("a", "pa", 1000, 0, 0, 900);
      assert.deepEqual(a, { joined: 1, peers: [] });
      const bee = await store.beatPeer("b", "pb", 1100, 0, 0, 900);
      assert.equal(bee.joined, 2);
      assert.deepEqual(
        bee.peers,
        [{ id: "a", joined: 1, seen: 1, beat_at: 1000, proc: "pa", up_since: 900 }],
        "a has not seen b yet; b learns since when the service runs",
      );
      const again = await store.beatPeer("a", "pa", 2000, 0, 0, 900);
      assert.equal(again.joined, 1, "a beat keeps the number");
      assert.deepEqual(again.peers, [{
        id: "b",
        joined: 2,
        seen: 2,
        beat_at: 1100,
        proc: "pb",
        up_since: 900,
      }]);
      assert.deepEqual(await store.livePeers("b", 0), [{
        id: "a",
        joined: 1,
        seen: 2,
        beat_at: 2000,
        proc: "pa",
        up_since: 900,
      }]);
      assert.deepEqual(await store.livePeers("b", 2001), [], "a row not beaten since is not alive");
      // b's next beat removes a, long gone; a returning later is a new arrival
      await store.beatPeer("b", "pb", 9000, 8000, 5000);
      assert.deepEqual(await store.livePeers("b", 0), []);
      assert.equal((await store.beatPeer("a", "pa", 9100, 8000, 5000)).joined, 3);
      await store.leavePeer("a");
      assert.deepEqual(await store.livePeers("b", 0), []);
    }));
}
