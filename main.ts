/**
 * @module main — start-up only: config → store → engine → app → Deno.serve, and graceful shutdown
 * (stop accepting, answer waiters 503, flush the last commits, close the store).
 */
import { loadConfig, SHUTDOWN_GRACE_MS } from "./config.ts";
import { LibsqlStore } from "./store/libsql_store.ts";
import { Engine } from "./engine/engine.ts";
import { createApp } from "./app.ts";
import { systemClock } from "./timers.ts";

const config = loadConfig();
const store = await LibsqlStore.open(config.dbUrl, config.dbAuthToken);
const eng = new Engine({
  store,
  limits: config.limits,
  clock: systemClock,
  peers: config.peers,
  peerPollMs: config.peerPollMs,
});
// another process on this database must know of this one before it serves anything
await eng.rooms.startPeers((n) =>
  console.log(`waiting for ${n} other process${n > 1 ? "es" : ""} on this database to see this one`)
);
eng.startDelivery();
const app = createApp({ eng, logRequests: config.logRequests, http: config.http });

const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) =>
    console.log(`agent-sync listening on http://${hostname}:${port} (db ${config.dbUrl})`),
}, app.fetch);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  const closed = eng.close();
  // in-flight requests finish; a client that never completes its request does not hold the exit forever
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([server.shutdown(), new Promise((r) => grace = setTimeout(r, SHUTDOWN_GRACE_MS))]);
  clearTimeout(grace);
  await closed;
  await eng.rooms.drain(); // writes submitted by requests that were still running during the first drain
  store.close();
  Deno.exit(0);
}
for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => shutdown(s));
