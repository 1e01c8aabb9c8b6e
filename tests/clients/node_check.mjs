// The built npm package (agent-sync-client, imported by name through its package.json "exports") under
// Node against a live server at $BASE: join, a replayed idempotent invoke, invoke-and-wait across two
// agents, one SSE event, a typed error. Prints one JSON line of findings; tests/clients/node_test.ts
// checks them and the room.
// (a dynamic import by name: Deno's type check of tests/ cannot resolve a package only Node has)
const PACKAGE = "agent-sync-client";
const { Client, SyncError } = await import(PACKAGE);

const anon = new Client({ baseUrl: process.env.BASE });
const room = await anon.createRoom({ id: "node-room" });
const admin = anon.withToken(room.token);
await admin.invoke(room, "_register_action", {
  id: "bump",
  writes: [{ scope: "_shared", key: "counter", increment: true }],
});
const alice = anon.withToken((await anon.join(room, "alice")).token);
const bob = anon.withToken((await anon.join(room, "bob", { role: "watcher" })).token);

const first = await alice.invoke(room, "bump", {}, { idempotencyKey: "node-key-1" });
const again = await alice.invoke(room, "bump", {}, { idempotencyKey: "node-key-1" });

const feedAbort = new AbortController();
const feed = bob.events(room, { after: again.cursor, signal: feedAbort.signal });
const waking = bob.invoke(room, "bump", {}, {
  wait: { condition: "state._shared.counter >= 3", timeout: 10000 },
});
for (;;) {
  const counter = (await bob.state(room, { scope: "_shared", key: "counter" })).value;
  if (counter === 2) break;
  await new Promise((r) => setTimeout(r, 10));
}
await alice.invoke(room, "bump");
const woke = await waking;
const event = (await feed.next()).value;
feedAbort.abort();
await feed.return();

let error;
try {
  await anon.withToken("as_wrong").context(room);
} catch (e) {
  error = { isSyncError: e instanceof SyncError, code: e.code, status: e.status, message: e.message };
}

console.log(JSON.stringify({
  node: process.version,
  replayed: first.cursor === again.cursor && again.writes[0].value === 1,
  triggered: woke.wait.triggered,
  counter: (await admin.state(room, { scope: "_shared", key: "counter" })).value,
  event,
  error,
}));
