/**
 * @module bench/game — the three-agent turn game of issue 9, played over HTTP twice: with separate calls
 * (wait → take_turn → pass_turn) and with one call per turn (invoke `play` with `wait`, include=changes).
 * Measures calls and response bytes per turn (status line and headers included), hand-off latency, and
 * duplicate or missed wake-ups. Run alone: `deno run -A bench/game.ts [--base URL] [--turns N]`.
 */

export type GameMode = "separate" | "one_call";
export type GameOptions = { turns?: number; agents?: number; timeoutMs?: number };

export type GameResult = {
  mode: GameMode;
  turns: number;
  /** who played each turn, in turn order (index 0 = turn 1). */
  played: string[];
  /** calls made to play the turns (the waits that woke a player, its invocations). */
  turnCalls: number;
  /** calls outside the turns: the first sync of each agent, the waits answered by the game's end. */
  extraCalls: number;
  /** response bytes of the calls that played turn k (index k-1). */
  turnBytes: number[];
  extraBytes: number;
  /** ms from the passing call (separate: pass_turn's response received; one_call: play sent) to the next player's wake. */
  handoffs: number[];
  /** ms from the passing request being sent to the next player's wake (the same as handoffs for one_call). */
  handoffsFromSend: number[];
  duplicateWakeups: number;
  missedWakeups: number;
  rotationErrors: number;
};

type Reply = { status: number; json: Record<string, unknown>; bytes: number; at: number };

const encoder = new TextEncoder();

/** One request; bytes counts what the server sent: status line, headers and body. */
async function call(
  base: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const buf = new Uint8Array(await res.arrayBuffer());
  const at = performance.now();
  let head = `HTTP/1.1 ${res.status} ${res.statusText}\r\n`;
  res.headers.forEach((v, k) => head += `${k}: ${v}\r\n`);
  head += "\r\n";
  const text = new TextDecoder().decode(buf);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: status says what happened */ }
  return { status: res.status, json, bytes: encoder.encode(head).length + buf.length, at };
}

async function must(p: Promise<Reply>, what: string): Promise<Reply> {
  const r = await p;
  if (r.status !== 200 && r.status !== 201) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.json)}`);
  return r;
}

type Setup = { room: string; admin: string; ids: string[]; tokens: string[] };

const MY_TURN_OR_OVER =
  "state._shared.current_player == self || state._shared.turn >= state._shared.max_turns";

async function setupRoom(base: string, mode: GameMode, turns: number, agents: number): Promise<Setup> {
  const created = await must(call(base, "POST", "/rooms", "", {}), "create room");
  const room = created.json.id as string;
  const admin = created.json.token as string;
  const ids = Array.from({ length: agents }, (_, i) => `p${i + 1}`);
  const tokens: string[] = [];
  for (const id of ids) {
    const j = await must(call(base, "POST", `/rooms/${room}/agents`, "", { id, name: id }), `join ${id}`);
    tokens.push(j.json.token as string);
  }
  const next = Object.fromEntries(ids.map((id, i) => [id, ids[(i + 1) % ids.length]]));
  const invoke = (action: string, params: unknown) =>
    must(call(base, "POST", `/rooms/${room}/actions/${action}/invoke`, admin, { params }), action);
  for (
    const [key, value] of Object.entries({
      next,
      current_player: ids[0],
      turn: 0,
      max_turns: turns,
      taken: false,
    })
  ) {
    await invoke("_set_state", { scope: "_shared", key, value });
  }
  const mine = "state._shared.current_player == self && state._shared.turn < state._shared.max_turns";
  const passTo = { scope: "_shared", key: "current_player", expr: true, value: "state._shared.next[self]" };
  const countTurn = { scope: "_shared", key: "turn", increment: 1 };
  if (mode === "separate") {
    await invoke("_register_action", {
      id: "take_turn",
      if: `${mine} && !state._shared.taken`,
      writes: [{ scope: "_shared", key: "taken", value: true }, countTurn],
    });
    await invoke("_register_action", {
      id: "pass_turn",
      if: "state._shared.current_player == self && state._shared.taken",
      writes: [passTo, { scope: "_shared", key: "taken", value: false }],
    });
  } else {
    await invoke("_register_action", {
      id: "play",
      description: "take the turn and pass it",
      if: mine,
      writes: [passTo, countTurn],
    });
  }
  return { room, admin, ids, tokens };
}

/** Plays one game; every agent is an independent async loop talking HTTP. */
export async function playGame(base: string, mode: GameMode, opts: GameOptions = {}): Promise<GameResult> {
  const turns = opts.turns ?? 30;
  const agents = opts.agents ?? 3;
  const timeout = opts.timeoutMs ?? 10_000;
  const s = await setupRoom(base, mode, turns, agents);
  const res: GameResult = {
    mode,
    turns,
    played: [],
    turnCalls: 0,
    extraCalls: 0,
    turnBytes: Array(turns).fill(0),
    extraBytes: 0,
    handoffs: [],
    handoffsFromSend: [],
    duplicateWakeups: 0,
    missedWakeups: 0,
    rotationErrors: 0,
  };
  /** per turn k: when the pass that ended it was acknowledged (or sent), and when the next player woke. */
  const passedAt = new Map<number, number>();
  const sentAt = new Map<number, number>();
  const wokeAt = new Map<number, number>();
  const spend = (turn: number | undefined, r: Reply) => {
    if (turn === undefined || turn < 1 || turn > turns) (res.extraCalls++, res.extraBytes += r.bytes);
    else (res.turnCalls++, res.turnBytes[turn - 1] += r.bytes);
  };
  const loop = mode === "separate" ? separateLoop : oneCallLoop;
  await Promise.all(
    s.ids.map((id, i) =>
      loop({ base, s, id, token: s.tokens[i], turns, timeout, res, passedAt, sentAt, wokeAt, spend })
    ),
  );
  for (const [k, at] of wokeAt) {
    const passed = passedAt.get(k);
    if (passed !== undefined) res.handoffs.push(at - passed);
    const sent = sentAt.get(k);
    if (sent !== undefined) res.handoffsFromSend.push(at - sent);
  }
  for (let k = 1; k <= turns; k++) if (res.played[k - 1] !== s.ids[(k - 1) % agents]) res.rotationErrors++;
  return res;
}

type LoopArgs = {
  base: string;
  s: Setup;
  id: string;
  token: string;
  turns: number;
  timeout: number;
  res: GameResult;
  passedAt: Map<number, number>;
  sentAt: Map<number, number>;
  wokeAt: Map<number, number>;
  spend: (turn: number | undefined, r: Reply) => void;
};

type Shared = { current_player: string; turn: number; max_turns: number; taken?: boolean };

/** wait (default include) → take_turn → pass_turn. */
async function separateLoop(a: LoopArgs): Promise<void> {
  const { base, s, res } = a;
  const path = (action: string) => `/rooms/${s.room}/actions/${action}/invoke`;
  const cond = encodeURIComponent(MY_TURN_OR_OVER);
  let lastPlayed = 0;
  for (;;) {
    const w = await call(
      base,
      "GET",
      `/rooms/${s.room}/wait?condition=${cond}&timeout=${a.timeout}`,
      a.token,
    );
    if (w.status !== 200 || !w.json.triggered) {
      res.missedWakeups++;
      a.spend(undefined, w);
      return;
    }
    const st = (w.json.context as { state: { _shared: Shared } }).state._shared;
    if (st.turn >= st.max_turns) return a.spend(undefined, w);
    const k = st.turn + 1;
    a.spend(k, w);
    if (st.current_player !== a.id || k <= lastPlayed) {
      res.duplicateWakeups++;
      continue;
    }
    if (st.turn > 0) a.wokeAt.set(st.turn, w.at);
    const take = await must(call(base, "POST", path("take_turn"), a.token, { params: {} }), "take_turn");
    a.spend(k, take);
    res.played[k - 1] = a.id;
    lastPlayed = k;
    a.sentAt.set(k, performance.now());
    const pass = await must(call(base, "POST", path("pass_turn"), a.token, { params: {} }), "pass_turn");
    a.spend(k, pass);
    a.passedAt.set(k, pass.at);
  }
}

/** One call per turn: invoke `play` with `wait: {condition: my turn again, include: "changes"}`. */
async function oneCallLoop(a: LoopArgs): Promise<void> {
  const { base, s, res } = a;
  const cond = encodeURIComponent(MY_TURN_OR_OVER);
  // the first sync: a full read of the game state (returns at once for the first player)
  const first = await call(
    base,
    "GET",
    `/rooms/${s.room}/wait?condition=${cond}&include=state._shared&timeout=${a.timeout}`,
    a.token,
  );
  a.spend(undefined, first);
  if (first.status !== 200 || !first.json.triggered) return void res.missedWakeups++;
  const mirror = { ...(first.json.state as { _shared: Shared })._shared } as Shared & Record<string, unknown>;
  if (mirror.turn > 0 && mirror.turn < mirror.max_turns) a.wokeAt.set(mirror.turn, first.at);
  const apply = (rows: unknown) => {
    for (const r of (rows ?? []) as { scope: string; key: string; value?: unknown; deleted?: boolean }[]) {
      if (r.scope !== "_shared") continue;
      if (r.deleted) delete mirror[r.key];
      else mirror[r.key] = r.value;
    }
  };
  let lastPlayed = 0;
  while (mirror.turn < mirror.max_turns) {
    const k = mirror.turn + 1;
    if (mirror.current_player !== a.id || k <= lastPlayed) {
      res.duplicateWakeups++;
      return;
    }
    const last = k >= mirror.max_turns;
    const body = last
      ? { params: {} }
      : { params: {}, wait: { condition: MY_TURN_OR_OVER, include: "changes", timeout: a.timeout } };
    a.passedAt.set(k, performance.now());
    a.sentAt.set(k, a.passedAt.get(k)!);
    const r = await must(call(base, "POST", `/rooms/${s.room}/actions/play/invoke`, a.token, body), "play");
    a.spend(k, r);
    res.played[k - 1] = a.id;
    lastPlayed = k;
    apply(r.json.writes);
    if (last) return;
    const w = r.json.wait as { triggered: boolean; changes?: unknown };
    if (!w.triggered) return void res.missedWakeups++;
    apply(w.changes);
    if (mirror.turn < mirror.max_turns) a.wokeAt.set(mirror.turn, r.at);
  }
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Both games, as flat figures for the benchmark table (keys `game_<mode>_<figure>`). */
export async function runGame(base: string, opts: GameOptions = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const mode of ["separate", "one_call"] as const) {
    const r = await playGame(base, mode, opts);
    const third = Math.max(1, Math.floor(r.turns / 3));
    const agents = opts.agents ?? 3;
    const f = (name: string, v: number) => out[`game_${mode}_${name}`] = round(v);
    f("turns", r.played.filter(Boolean).length);
    f("calls_per_turn", r.turnCalls / r.turns);
    f("extra_calls", r.extraCalls);
    f("bytes_per_turn", mean(r.turnBytes));
    f("bytes_per_turn_first_third", mean(r.turnBytes.slice(0, third)));
    // the last turn of the one-call game carries no wait: compare the third before the final round
    f("bytes_per_turn_last_third", mean(r.turnBytes.slice(r.turns - third - agents, r.turns - agents)));
    f("bytes_per_turn_max", Math.max(...r.turnBytes));
    f("extra_bytes", r.extraBytes);
    f("handoff_p50_ms", percentile(r.handoffs, 50));
    f("handoff_p99_ms", percentile(r.handoffs, 99));
    f("handoff_from_send_p50_ms", percentile(r.handoffsFromSend, 50));
    f("handoff_from_send_p99_ms", percentile(r.handoffsFromSend, 99));
    f("handoffs", r.handoffs.length);
    f("duplicate_wakeups", r.duplicateWakeups);
    f("missed_wakeups", r.missedWakeups);
    f("rotation_errors", r.rotationErrors);
  }
  return out;
}

async function startLocal(): Promise<{ base: string; close: () => Promise<void> }> {
  const { startServer } = await import("../tests/_server.ts");
  const s = await startServer();
  return { base: s.base, close: () => s.close() };
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const local = arg("base") ? undefined : await startLocal();
  const base = arg("base") ?? local!.base;
  try {
    const figures = await runGame(base, { turns: Number(arg("turns") ?? 30) });
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    await local?.close();
  }
}
