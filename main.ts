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
const app = createApp({ eng });

const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) => console.log(`agent-sync listening on http://${hostname}:${port} (db ${config.dbUrl})`),
}, app.fetch);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  const closed = eng.close();
  await server.shutdown();
  await closed;
  db.close();
  Deno.exit(0);
}
for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => shutdown(s));
