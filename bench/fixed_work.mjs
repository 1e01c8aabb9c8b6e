// bench/fixed_work.mjs — a fixed amount of work, to compare two checkouts by whole-process CPU:
//   /usr/bin/time -v node bench/fixed_work.mjs CHECKOUT [N=5000] [CONC=16] [plain|webhook]
// starts `deno task start` in CHECKOUT (temp database, random loopback port, abuse limits off), makes N
// invocations of the bench's `bump` action over CONC agents, checks the counter, stops the server. Only
// routes every version of the API has (webhook mode: one webhook to a receiver in this process). Node only.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [dir, nArg = "5000", concArg = "16", mode = "plain"] = process.argv.slice(2);
const N = Number(nArg), CONC = Number(concArg);
const port = 20000 + Math.floor(Math.random() * 20000);
const tmp = mkdtempSync(join(tmpdir(), "fixed-load-"));
const srv = spawn("deno", ["task", "start"], {
  cwd: dir,
  env: {
    ...process.env,
    PORT: String(port),
    SYNC_DB_URL: `file:${tmp}/db.sqlite`,
    SYNC_WEBHOOK_ALLOW_PRIVATE: "1",
    SYNC_WEBHOOK_MAX_PENDING: "1000000",
    SYNC_RATE_LIMIT_PER_SEC: "0",
    SYNC_ROOM_MESSAGES_PER_SEC: "0",
  },
  stdio: ["ignore", "ignore", "inherit"],
  detached: true,
});
const base = `http://127.0.0.1:${port}`;
const call = async (method, path, token, body) => {
  const r = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300 && r.status !== 202) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
};
const stop = () => {
  try {
    process.kill(-srv.pid, "SIGTERM");
  } catch { /* gone */ }
};
process.on("uncaughtException", (e) => {
  console.error(e);
  stop();
  process.exit(1);
});
for (let i = 0;; i++) {
  try {
    if ((await fetch(base + "/healthz")).ok) break;
  } catch { /* not yet */ }
  if (i > 300) throw new Error("server did not start");
  await new Promise((r) => setTimeout(r, 50));
}
let received = 0;
let receiver;
const room = await call("POST", "/rooms", null, {});
const inv = (tok, action, params) =>
  call("POST", `/rooms/${room.id}/actions/${action}/invoke`, tok, { params });
await inv(room.token, "_set_state", { scope: "_shared", key: "phase", value: "run" });
await inv(room.token, "_set_state", { scope: "_shared", key: "counter", value: 0 });
if (mode === "webhook") {
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  await inv(room.token, "_register_webhook", {
    id: "w",
    url: `http://127.0.0.1:${receiver.address().port}/hook`,
    secret: "0123456789abcdef0123",
  });
}
const agents = [];
for (let i = 0; i < CONC; i++) {
  agents.push((await call("POST", `/rooms/${room.id}/agents`, room.token, { id: `a${i}` })).token);
}
await inv(room.token, "_register_action", {
  id: "bump",
  params: { note: { type: "string" } },
  if: 'state._shared.phase == "run"',
  writes: [
    { scope: "_shared", key: "counter", increment: true, value: 1 },
    { scope: "_messages", append: true, value: { from: "${self}", kind: "bench", body: "${params.note}" } },
  ],
});
let next = 0;
const t0 = performance.now();
await Promise.all(agents.map(async (tok) => {
  while (next < N) {
    const i = next++;
    await inv(tok, "bump", { note: `n${i}` });
  }
}));
const ms = performance.now() - t0;
const counter =
  (await call("POST", `/rooms/${room.id}/eval`, room.token, { expr: "state._shared.counter" })).value;
if (counter !== N) throw new Error(`counter ${counter}, expected ${N}`);
if (mode === "webhook") {
  for (let i = 0; received < N && i < 2000; i++) await new Promise((r) => setTimeout(r, 20));
}
console.log(
  JSON.stringify({ n: N, conc: CONC, mode, counter, received, inv_per_s: Math.round(N / ms * 1000) }),
);
stop();
await new Promise((r) => srv.on("exit", r));
receiver?.close();
rmSync(tmp, { recursive: true, force: true });
