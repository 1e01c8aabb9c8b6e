/**
 * A work queue that hands stuck work back, built only from actions and leases — the actions registered are
 * the ones reference/examples.md documents, read from it:
 * producers post tasks, workers claim them with a leased write, a worker that stops calling loses its claim
 * after the ttl and the task returns with `attempts + 1` (on_expire templates), after `max_attempts` it moves
 * to `_dead`, and a late write of the dead worker is refused by `if_epoch`. Then 64 workers race for 10
 * tasks: each task is held by one worker at a time, none is lost, none is done twice.
 */
import assert from "node:assert/strict";
import { client, type Res, startServer } from "../_server.ts";
import { until } from "../_setup.ts";

/** The queue's actions, exactly as reference/examples.md documents them (the JSON block after its marker). */
async function queueActions(): Promise<Record<string, unknown>[]> {
  const doc = await Deno.readTextFile(new URL("../../reference/examples.md", import.meta.url));
  const m = /<!-- work-queue-actions[^>]*-->\s*```json\n([\s\S]*?)\n```/.exec(doc);
  assert.ok(m, "examples.md has the work queue's actions");
  return JSON.parse(m[1]);
}

const ACTIONS = await queueActions();
/** the claim's ttl, as documented */
const TTL =
  (ACTIONS.find((a) => a.id === "claim")!.writes as { lease: { ttl_ms: number } }[])[0].lease.ttl_ms;

async function queueRoom(o: { fakeClock?: boolean; workers: number }) {
  const s = await startServer({ fakeClock: o.fakeClock });
  const c = client(s.base);
  const room = await c.createRoom();
  await c.ok(room.id, room.token, "_set_state", { key: "max_attempts", value: 2 });
  for (const a of ACTIONS) await c.ok(room.id, room.token, "_register_action", a);
  const producer = await c.join(room.id, "producer");
  const workers: string[] = [];
  for (let i = 1; i <= o.workers; i++) workers.push(await c.join(room.id, `w${i}`));
  const state = async () => (await c.context(room.id, room.token, "?only=state,leases"));
  return { s, c, room, producer, workers, state };
}

Deno.test("work queue: a dead worker's task comes back with attempts + 1, then goes to _dead", async (t) => {
  const { s, c, room, producer, workers: [w1, w2, w3], state } = await queueRoom({
    fakeClock: true,
    workers: 3,
  });
  await using _ = s;
  for (const id of ["t1", "t2"]) await c.ok(room.id, producer, "post_task", { id, payload: { n: id } });
  let epoch1 = 0;

  await t.step("w1 claims t1; w2's claim of the same task is 409 lease_held", async () => {
    const r = await c.invoke(room.id, w1, "claim", { id: "t1" });
    assert.equal(r.status, 200, r.text);
    epoch1 = r.json.writes[0].lease.epoch;
    const other = await c.invoke(room.id, w2, "claim", { id: "t1" });
    assert.equal(other.status, 409);
    assert.equal(other.json.error, "lease_held");
    assert.equal(other.json.holder, "w1");
  });

  await t.step("w1 dies mid-task: after the ttl, t1 is back in the queue with attempts 1", async () => {
    s.clock.advance(TTL);
    const st = await state();
    assert.deepEqual(st.state._tasks.t1, { payload: { n: "t1" }, attempts: 1 });
    assert.equal(st.leases?._tasks?.t1, undefined);
  });

  await t.step(
    "w2 takes it (a new epoch); the dead worker's late result is refused by if_epoch",
    async () => {
      const r = await c.invoke(room.id, w2, "claim", { id: "t1" });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.writes[0].lease.epoch, epoch1 + 1);
      const late = await c.invoke(room.id, w1, "complete", { id: "t1", epoch: epoch1, result: "stale" });
      assert.equal(late.status, 409, late.text);
      assert.equal(late.json.error, "lease_lost");
      assert.equal(late.json.current.holder, "w2");
      assert.equal((await state()).state._results, undefined, "nothing of the late result was written");
    },
  );

  await t.step("w2 dies too: t1 reached max_attempts and moves to _dead", async () => {
    s.clock.advance(TTL);
    const st = await state();
    assert.equal(st.state._tasks.t1, undefined);
    assert.deepEqual(st.state._dead.t1, { payload: { n: "t1" }, attempts: 2, last_worker: "w2" });
  });

  await t.step(
    "w3 claims t2 and keeps it while thinking: an open /wait counts as a sign of life",
    async () => {
      const r = await c.invoke(room.id, w3, "claim", { id: "t2" });
      const epoch = r.json.writes[0].lease.epoch;
      const before = s.eng.metrics.waiters;
      const thinking = c.http("GET", `/rooms/${room.id}/wait?condition=false&timeout=300`, { token: w3 });
      await until(() => s.eng.metrics.waiters > before, { what: "w3 to wait" });
      s.clock.advance(10 * TTL);
      assert.equal((await state()).leases._tasks.t2.holder, "w3");
      await thinking;
      const done = await c.invoke(room.id, w3, "complete", { id: "t2", epoch, result: 42 });
      assert.equal(done.status, 200, done.text);
      const st = await state();
      assert.deepEqual(st.state._results.t2, { result: 42, by: "w3" });
      assert.equal(st.state._tasks.t2, undefined);
    },
  );
});

Deno.test("work queue: 64 workers race for 10 tasks; each is held by one at a time, none lost or done twice", async () => {
  const { s, c, room, producer, workers, state } = await queueRoom({ workers: 64 });
  await using _ = s;
  const TASKS = 10;
  for (let i = 0; i < TASKS; i++) await c.ok(room.id, producer, "post_task", { id: `t${i}`, payload: i });
  const claims: { id: string; worker: string; epoch: number }[] = [];
  const refusals = new Map<string, number>();
  const count = (r: Res) => refusals.set(r.json?.error, (refusals.get(r.json?.error) ?? 0) + 1);
  await Promise.all(workers.map(async (token, w) => {
    for (;;) {
      const st = await c.context(room.id, token, "?only=state,leases");
      const free = Object.keys(st.state._tasks ?? {}).filter((id) => !st.leases?._tasks?.[id]);
      if (!Object.keys(st.state._tasks ?? {}).length) return;
      if (!free.length) continue;
      const id = free[(w * 7) % free.length];
      const r = await c.invoke(room.id, token, "claim", { id });
      if (r.status !== 200) {
        count(r);
        continue;
      }
      const epoch = r.json.writes[0].lease.epoch;
      claims.push({ id, worker: `w${w + 1}`, epoch });
      const done = await c.invoke(room.id, token, "complete", { id, epoch, result: `w${w + 1}` });
      assert.equal(done.status, 200, done.text);
    }
  }));
  const st = await state();
  assert.deepEqual(st.state._tasks ?? {}, {}, "the queue is empty");
  assert.equal(Object.keys(st.state._results).length, TASKS, "every task has a result");
  assert.equal(
    claims.length,
    TASKS,
    `one successful claim per task (refused: ${JSON.stringify([...refusals])})`,
  );
  assert.deepEqual(new Set(claims.map((x) => x.id)).size, TASKS, "no task claimed twice");
  for (const x of claims) assert.equal(st.state._results[x.id].by, x.worker, `${x.id} done by its holder`);
  assert.ok(
    [...refusals.keys()].every((e) => e === "lease_held" || e === "precondition_failed"),
    [...refusals.keys()].join(),
  );
});
