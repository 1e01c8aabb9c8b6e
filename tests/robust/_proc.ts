/**
 * Test fixtures for robustness tests: the real server (`main.ts`) as a subprocess on a loopback port it
 * picks itself, on a database file the test chooses, plus the crash-safety scenario shared by the CI test
 * and `deno task soak`.
 */
import assert from "node:assert/strict";
import { createClient } from "@libsql/client";
import { client, http } from "../_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export type ServerProc = {
  base: string;
  pid: number;
  output(): string;
  /** Sends a signal and waits for the process to end; resolves with its exit status. */
  kill(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  status: Promise<Deno.CommandStatus>;
  [Symbol.asyncDispose](): Promise<void>;
};

export async function spawnServer(dbPath: string, env: Record<string, string> = {}): Promise<ServerProc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { PORT: "0", HOST: "127.0.0.1", SYNC_DB_URL: `file:${dbPath}`, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let onLine: (() => void) | undefined;
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      onLine?.();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => (await pumps, s));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`server did not start in 30 s:\n${out}`)), 30_000);
    const done = (r: string | Error) => {
      clearTimeout(timer);
      onLine = undefined;
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    onLine = () => {
      const m = /listening on http:\/\/([\d.]+):(\d+)/.exec(out);
      if (m) done(`http://127.0.0.1:${m[2]}`);
    };
    status.then((s) => done(new Error(`server exited (${s.code}) before listening:\n${out}`)));
  });
  let ended = false;
  status.then(() => ended = true);
  const kill = async (signal: Deno.Signal = "SIGTERM") => {
    if (!ended) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    }
    return await status;
  };
  return {
    base,
    pid: child.pid,
    output: () => out,
    kill,
    status,
    [Symbol.asyncDispose]: async () => void await kill("SIGKILL"),
  };
}

export async function integrityCheck(dbPath: string): Promise<string> {
  const db = createClient({ url: `file:${dbPath}` });
  try {
    const r = await db.execute("PRAGMA integrity_check");
    return String(r.rows[0][0]);
  } finally {
    db.close();
  }
}

/** The room the crash scenario drives: a `bump` action that increments, appends a message and sets a key. */
export async function setUpBumpRoom(base: string, agents: number) {
  const c = client(base);
  const room = await c.createRoom();
  await c.ok(room.id, room.token, "_register_action", {
    id: "bump",
    params: { n: { type: "integer", required: true } },
    writes: [
      { scope: "_shared", key: "counter", increment: 1 },
      { scope: "_messages", append: true, value: { kind: "bump", body: "${params.n}" } },
      { scope: "${self}", key: "last", value: "${params.n}" },
    ],
  });
  const tokens: Record<string, string> = {};
  for (let i = 0; i < agents; i++) tokens[`a${i}`] = await c.join(room.id, `a${i}`);
  return { room, tokens };
}

/**
 * Two servers on one fresh database file, started together (their migrations race on it); `close` kills
 * both and removes the file.
 */
export async function spawnPair(prefix: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix });
  const dbPath = `${dir}/sync.db`;
  const [a, b] = await Promise.all([spawnServer(dbPath, env), spawnServer(dbPath, env)]);
  const close = async () => {
    await Promise.all([a.kill("SIGKILL"), b.kill("SIGKILL")]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { a, b, dbPath, close };
}

export type Ack = { agent: string; n: number };

/**
 * Every agent invokes `bump` with n = 1, 2, … (continuing from `startAt`) until `stop` is set; the
 * acknowledged (200) invocations are returned. Connection errors after a kill are expected.
 */
export async function driveBumps(
  base: string,
  roomId: string,
  tokens: Record<string, string>,
  startAt: Record<string, number>,
  stop: { now: boolean },
  maxPerAgent = Infinity,
): Promise<Ack[]> {
  const acks: Ack[] = [];
  await Promise.all(
    Object.entries(tokens).map(async ([agent, token]) => {
      for (let n = startAt[agent] + 1; !stop.now && n - startAt[agent] <= maxPerAgent; n++) {
        try {
          const r = await http(base, "POST", `/rooms/${roomId}/actions/bump/invoke`, {
            token,
            body: { params: { n } },
          });
          if (r.status === 200) acks.push({ agent, n });
          else throw new Error(`bump answered ${r.status} ${r.text}`);
        } catch (e) {
          if (e instanceof Error && /bump answered/.test(e.message)) throw e;
          return; // the server is gone
        }
      }
    }),
  );
  return acks;
}

/**
 * Checks a restarted server's view of the room against everything acknowledged: each ack has its audit row,
 * the counter equals the committed bumps (and its version), messages and audit are numbered without gaps,
 * each agent's `last` is its last committed bump. Returns the highest committed n per agent.
 */
export async function verifyBumpRoom(base: string, roomId: string, roomToken: string, acks: Ack[]) {
  const r = await http(base, "GET", `/rooms/${roomId}/export`, { token: roomToken });
  assert.equal(r.status, 200, r.text);
  const snap = r.json;
  const bumps =
    (snap.audit as { seq: number; agent: string; action: string; ok: boolean; params: { n: number } }[])
      .filter((a) => a.action === "bump");
  assert.ok(bumps.every((a) => a.ok), "no refused bump");
  const seen = new Set(bumps.map((a) => `${a.agent}:${a.params.n}`));
  for (const a of acks) assert.ok(seen.has(`${a.agent}:${a.n}`), `acknowledged bump ${a.agent}:${a.n} lost`);
  assert.equal(seen.size, bumps.length, "a bump was committed twice");
  (snap.audit as { seq: number }[]).forEach((a, i) => assert.equal(a.seq, i + 1, "audit seq without gaps"));
  const counter = (snap.state as { scope: string; key: string; value: number; version: number }[])
    .find((e) => e.scope === "_shared" && e.key === "counter");
  assert.equal(counter?.value ?? 0, bumps.length, "counter equals committed bumps");
  assert.equal(counter?.version ?? 0, bumps.length, "counter version equals committed bumps");
  const msgs = (snap.messages as { seq: number; kind: string }[]).filter((m) => m.kind === "bump");
  assert.equal(msgs.length, bumps.length, "one message per committed bump");
  (snap.messages as { seq: number }[]).forEach((m, i) =>
    assert.equal(m.seq, i + 1, "message seq without gaps")
  );
  const lastN: Record<string, number> = {};
  for (const b of bumps) lastN[b.agent] = b.params.n;
  for (const [agent, n] of Object.entries(lastN)) {
    const e = (snap.state as { scope: string; key: string; value: unknown }[]).find((x) =>
      x.scope === agent && x.key === "last"
    );
    assert.equal(e?.value, n, `${agent}.last is its last committed bump`);
    // each agent's bumps are sequential: committed n's are exactly 1..last
    assert.equal(bumps.filter((b) => b.agent === agent).length, n, `${agent} has no missing bump`);
  }
  return { lastN, bumps: bumps.length, auditRows: snap.audit.length };
}
