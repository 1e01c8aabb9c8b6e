/**
 * Group commit without a database: everything submitted in one turn is one batch, writers are answered
 * before listeners wake, a failed batch fails every source it held, and one turn creates an id once.
 */
import assert from "node:assert/strict";
import { type CommitHooks, Committer } from "../../store/committer.ts";
import { until } from "../_setup.ts";
import { type CommitBatch, CommitError, type RoomStore, type RoomWrite } from "../../store/room_store.ts";

/** A store that records batches and fails the next one on request. */
class RecordingStore implements RoomStore {
  batches: CommitBatch[] = [];
  failNext?: CommitError;
  commit(batch: CommitBatch) {
    this.batches.push(batch);
    const e = this.failNext;
    this.failNext = undefined;
    if (e) return Promise.reject(e);
    return Promise.resolve({
      created: new Set((batch.create ?? []).map((r) => r.id)),
      dropped: new Set(batch.drop ?? []),
      statements: 1,
    });
  }
  outbox = {} as RoomStore["outbox"]; // never reached: the committer does not deliver
  loadRoom = () => Promise.resolve(undefined);
  readAudit = () => Promise.resolve([]);
  readReply = () => Promise.resolve(undefined);
  roomsForToken = () => Promise.resolve([]);
  roomHeads = () => Promise.resolve(new Map());
  beatPeer = () => Promise.resolve({ joined: 1, peers: [] });
  readSeen = () => Promise.resolve([]);
  livePeers = () => Promise.resolve([]);
  leavePeer = () => Promise.resolve();
  history = {} as RoomStore["history"];
  ping = () => Promise.resolve();
  close() {}
}

type Source = { id: string; pending: boolean; live: boolean };

function setup() {
  const store = new RecordingStore();
  const events: string[] = [];
  const hooks: CommitHooks<Source> = {
    live: (s) => s.live,
    take(s): RoomWrite | undefined {
      if (!s.pending) return undefined;
      s.pending = false;
      return { room_id: s.id, seq: { from: 0, to: 1 }, put: {} };
    },
    committed: (s) => events.push(`committed ${s.id}`),
    woken: (s) => events.push(`woken ${s.id}`),
    failed: (s) => events.push(`failed ${s.id}`),
  };
  return { store, events, committer: new Committer<Source>(store, hooks) };
}

Deno.test("submits of one turn become one batch; writers are answered before listeners wake", async () => {
  const { store, events, committer } = setup();
  const a = { id: "a", pending: true, live: true };
  const b = { id: "b", pending: true, live: true };
  const done = Promise.all([committer.submit(a), committer.submit(b), committer.submit(a)]).then(() =>
    events.push("answered")
  );
  await done;
  assert.equal(store.batches.length, 1);
  assert.deepEqual(store.batches[0].writes.map((w) => w.room_id), ["a", "b"]);
  await until(() => events.includes("woken b"), { what: "the listeners to wake" });
  assert.deepEqual(events, ["committed a", "committed b", "answered", "woken a", "woken b"]);
  assert.equal(committer.stats.batches, 1);
});

Deno.test("a failed batch fails every source it held and rejects every writer with the CommitError", async () => {
  const { store, events, committer } = setup();
  store.failNext = new CommitError("another process changed the room first", "stale");
  const a = { id: "a", pending: true, live: true };
  const b = { id: "b", pending: true, live: true };
  const results = await Promise.allSettled([committer.submit(a), committer.submit(b)]);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.ok(r.reason instanceof CommitError && r.reason.stale);
  }
  assert.deepEqual(events, ["failed a", "failed b"]);
  assert.equal(committer.stats.failures, 1);
});

Deno.test("a source that left memory fails as stale without being written", async () => {
  const { store, committer } = setup();
  const gone = { id: "gone", pending: true, live: false };
  await assert.rejects(() => committer.submit(gone), (e) => e instanceof CommitError && e.stale);
  assert.equal(store.batches.length, 0);
});

Deno.test("rooms created in one turn share the batch; the same id twice is created once", async () => {
  const { store, committer } = setup();
  const row = (id: string) => ({ id, meta: {}, created_at: "", token_hash: id, view_token_hash: id, seq: 0 });
  const [x, dup, y] = await Promise.all([
    committer.create(row("x")),
    committer.create(row("x")),
    committer.create(row("y")),
  ]);
  assert.deepEqual([x, dup, y], [true, false, true]);
  assert.equal(store.batches.length, 1);
  assert.deepEqual(store.batches[0].create?.map((r) => r.id), ["x", "y"]);
});

Deno.test("drain() right after a submit returns once the batch is written (no spin on the scheduled batch)", async () => {
  // a livelock would starve this process's timers too, so the scenario runs in a child the test can kill
  const committer = new URL("../../store/committer.ts", import.meta.url).href;
  const script = `
    import { Committer } from ${JSON.stringify(committer)};
    const written = [];
    const store = { commit: (b) => (written.push(b), Promise.resolve({ created: new Set(), dropped: new Set(), statements: 1 })) };
    const src = { pending: true };
    const take = (s) => s.pending ? (s.pending = false, { room_id: "a", seq: { from: 0, to: 1 }, put: {} }) : undefined;
    const c = new Committer(store, { live: () => true, take, committed() {}, woken() {}, failed() {} });
    const answered = c.submit(src);
    await c.drain();
    await answered;
    console.log(written.length);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output();
  clearTimeout(kill);
  assert.equal(out.code, 0, `drain() did not return: ${new TextDecoder().decode(out.stderr)}`);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "1");
});
