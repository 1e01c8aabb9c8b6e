/**
 * Multi-process detection (issue 12, class 7) with two registries on one database file, as two processes
 * would have them: alone, a process never asks storage whether a room moved; a second one waits until the
 * first has seen it, after which both check; when it leaves, the checks stop again.
 */
import assert from "node:assert/strict";
import { RoomRegistry } from "../../engine/registry.ts";
import { Room } from "../../engine/room.ts";
import { LibsqlStore } from "../../store/libsql_store.ts";
import { systemClock } from "../../timers.ts";
import { until } from "../_setup.ts";

/** A store on `db` that counts its freshness reads (`roomHeads`). */
async function countingStore(db: string) {
  const store = await LibsqlStore.open(`file:${db}`);
  const counted = Object.create(store) as LibsqlStore & { seqReads: number };
  counted.seqReads = 0;
  counted.roomHeads = (ids: string[]) => {
    counted.seqReads++;
    return store.roomHeads(ids);
  };
  return counted;
}

function room(id: string): Room {
  return new Room({
    id,
    meta: {},
    created_at: new Date().toISOString(),
    token_hash: "t",
    view_token_hash: "v",
    seq: 0,
  });
}

Deno.test("a process alone reads no room seqs; a second one waits to be seen, then both check; alone again after it leaves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-peers-" });
  const a = await countingStore(`${dir}/sync.db`);
  const b = await countingStore(`${dir}/sync.db`);
  const ra = new RoomRegistry({ store: a, clock: systemClock, peers: "detect", peerPollMs: 20 });
  const rb = new RoomRegistry({ store: b, clock: systemClock, peers: "detect", peerPollMs: 20 });
  try {
    let waitedFor = 0;
    await ra.startPeers((n) => waitedFor = n);
    assert.equal(waitedFor, 0, "the first process waits for nobody");
    assert.equal(ra.shared, false);
    await ra.create(room("r"));
    for (let i = 0; i < 20; i++) await ra.fresh("r");
    assert.equal(a.seqReads, 0, "no statement per request while alone");

    await rb.startPeers((n) => waitedFor = n);
    assert.equal(waitedFor, 1, "the second process waited for the first");
    assert.equal(rb.shared, true);
    await until(() => ra.shared, { what: "the first process to count the second" });
    const before = a.seqReads;
    await ra.fresh("r");
    assert.ok(a.seqReads > before, "with a peer alive, a room is checked against storage before use");

    await rb.close();
    await until(() => !ra.shared, { what: "the first process to see the second gone", timeoutMs: 5000 });
    const alone = a.seqReads;
    for (let i = 0; i < 20; i++) await ra.fresh("r");
    assert.equal(a.seqReads, alone, "alone again: no checks");
  } finally {
    await ra.close();
    await rb.close();
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SYNC_PEER_POLL_MS=0 (single) never touches the peers table; a remote database is always shared", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-sync-peers-" });
  const a = await countingStore(`${dir}/sync.db`);
  const single = new RoomRegistry({ store: a, clock: systemClock, peers: "single" });
  const remote = new RoomRegistry({ store: a, clock: systemClock, peers: "shared" });
  try {
    await single.startPeers();
    assert.equal(single.shared, false);
    assert.deepEqual(await a.livePeers("nobody", 0), [], "no row was written");
    assert.equal(remote.shared, true, "shared before it even starts");
  } finally {
    await single.close();
    await remote.close();
    a.close();
    await Deno.remove(dir, { recursive: true });
  }
});
