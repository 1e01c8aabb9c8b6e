/**
 * @module main — start-up only: config → database → engine → app → Deno.serve, and graceful shutdown
 * (stop accepting, answer waiters 503, flush the last commits, close the database).
 */
import { loadConfig } from "./config.ts";
import { openDb } from "./store/db.ts";
import { Engine } from "./engine/engine.ts";
import { createApp } from "./app.ts";
import { systemClock } from "./timers.ts";

const config = loadConfig();
const db = await openDb(config.dbUrl, config.dbAuthToken);
const eng = new Engine({ db, limits: config.limits, clock: systemClock, peerPollMs: config.peerPollMs });
eng.startPeerWatch();
const app = createApp({ eng, logRequests: config.logRequests });

const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) =>
    console.log(`agent-sync listening on http://${hostname}:${port} (db ${config.dbUrl})`),
}, app.fetch);

const SHUTDOWN_GRACE_MS = 10_000;
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
  await eng.committer.drain(); // writes submitted by requests that were still running during the first drain
  db.close();
  Deno.exit(0);
}
for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => shutdown(s));
