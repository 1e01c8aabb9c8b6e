/**
 * @module bench/python_loop — `deno run -A bench/python_loop.ts [--python PATH]… [--n 100]`: the median
 * latency of the README Python loop's POST (issue 14.8) against a real server process on loopback, per
 * python given (default: the one the tests use), with bench/python_loop.py's clients. Prints one line each.
 */
import { findPython } from "../tests/_requirements.ts";
import { client } from "../tests/_server.ts";
import { spawnServer } from "../tests/robust/_proc.ts";

const args = Deno.args;
const flag = (name: string) => args.flatMap((a, i) => a === name && args[i + 1] ? [args[i + 1]] : []);
const N = Number(flag("--n")[0] ?? 100);
const pythons = flag("--python");
if (!pythons.length) pythons.push((await findPython()) ?? "python3");

const LABELS: Record<string, string> = {
  readme_before: "httpx.Client as the README had it (no TCP_NODELAY)",
  readme: "httpx.Client as the README has it (TCP_NODELAY response hook)",
  expect_100_continue: "httpx.Client + Expect: 100-continue (the server answers 100 at once)",
  httpx_post_per_call: "httpx.post per call (a new client and connection each time, seed 000's loop)",
  http_client: "http.client, one keep-alive connection",
};

const dir = await Deno.makeTempDir({ prefix: "bench-python-loop-" });
try {
  await using server = await spawnServer(`${dir}/sync.db`);
  const c = client(server.base);
  const room = await c.createRoom();
  const alice = await c.join(room.id, "alice");
  await c.ok(room.id, room.token, "_set_state", { key: "player", value: "alice" });
  await c.ok(room.id, room.token, "_register_action", {
    id: "take_turn",
    params: { move: { type: "string", required: true }, next: { type: "string", required: true } },
    if: "state._shared.player == self",
    writes: [
      { scope: "_shared", key: "last_move", value: { by: "${self}", move: "${params.move}" } },
      { scope: "_shared", key: "turn", increment: true },
      { scope: "_shared", key: "player", value: "${params.next}" },
    ],
  });

  console.log(`# median of ${N} POST …/actions/take_turn/invoke per client, server ${server.base}`);
  for (const python of pythons) {
    const out = await new Deno.Command(python, {
      args: [new URL("python_loop.py", import.meta.url).pathname],
      env: {
        BASE: server.base,
        ROOM: room.id,
        TOKEN: alice,
        ME: "alice",
        N: String(N),
        README: new URL("../README.md", import.meta.url).pathname,
        NO_PROXY: "*",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`${python} failed:\n${new TextDecoder().decode(out.stderr)}`);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    console.log(`# ${r.python}: httpx ${r.httpx}, httpcore ${r.httpcore}`);
    for (const [k, ms] of Object.entries(r.median_ms as Record<string, number>)) {
      console.log(`python_post_p50_${k}: ${ms} ms  # ${LABELS[k] ?? k}`);
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
