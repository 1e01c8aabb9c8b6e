/**
 * @module bench/_load — a lean HTTP/1.1 load generator for the benchmark: one keep-alive TCP connection per
 * worker, requests written as raw bytes and responses parsed by hand (Content-Length or chunked). It costs
 * the client far less CPU than `fetch`, which matters because client and server share the machine's cores.
 * Also: /proc readers for a process's CPU time and RSS, and small statistics helpers.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

export type Res = { status: number; body: string; t0: number; t1: number; error?: string };

/** One keep-alive connection; requests on it are strictly sequential. */
export class Conn {
  #c: Deno.TcpConn;
  #host: string;
  #buf = new Uint8Array(64 * 1024);
  #pending = new Uint8Array(0);
  closed = false;

  private constructor(c: Deno.TcpConn, host: string) {
    this.#c = c;
    this.#host = host;
  }

  static async open(port: number, hostname = "127.0.0.1"): Promise<Conn> {
    const c = await Deno.connect({ hostname, port });
    c.setNoDelay(true);
    return new Conn(c, `${hostname}:${port}`);
  }

  /** Never throws: a failure is status 0 with `error`. */
  async request(method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<Res> {
    const t0 = performance.now();
    try {
      const payload = opts.body === undefined ? undefined : enc.encode(JSON.stringify(opts.body));
      let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\naccept: application/json\r\n`;
      if (opts.token) head += `authorization: Bearer ${opts.token}\r\n`;
      if (payload) head += `content-type: application/json\r\ncontent-length: ${payload.length}\r\n`;
      else if (method !== "GET") head += "content-length: 0\r\n";
      const h = enc.encode(head + "\r\n");
      let bytes = h;
      if (payload) {
        bytes = new Uint8Array(h.length + payload.length);
        bytes.set(h);
        bytes.set(payload, h.length);
      }
      await this.#writeAll(bytes);
      const { status, body } = await this.#readResponse();
      return { status, body, t0, t1: performance.now() };
    } catch (e) {
      this.close();
      return { status: 0, body: "", t0, t1: performance.now(), error: String((e as Error)?.message ?? e) };
    }
  }

  async #writeAll(b: Uint8Array) {
    let o = 0;
    while (o < b.length) o += await this.#c.write(b.subarray(o));
  }

  async #fill(): Promise<void> {
    const n = await this.#c.read(this.#buf);
    if (n === null) throw new Error("connection closed by the server");
    const next = new Uint8Array(this.#pending.length + n);
    next.set(this.#pending);
    next.set(this.#buf.subarray(0, n), this.#pending.length);
    this.#pending = next;
  }

  async #readResponse(): Promise<{ status: number; body: string }> {
    let end = -1;
    for (;;) {
      end = indexOfCrlfCrlf(this.#pending);
      if (end >= 0) break;
      await this.#fill();
    }
    const head = dec.decode(this.#pending.subarray(0, end));
    this.#pending = this.#pending.subarray(end + 4);
    const lines = head.split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    let length = -1;
    let chunked = false;
    let close = false;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      const c = l.indexOf(":");
      const k = l.slice(0, c).trim().toLowerCase();
      const v = l.slice(c + 1).trim().toLowerCase();
      if (k === "content-length") length = Number(v);
      else if (k === "transfer-encoding" && v.includes("chunked")) chunked = true;
      else if (k === "connection" && v === "close") close = true;
    }
    let body: Uint8Array;
    if (chunked) body = await this.#readChunked();
    else if (length >= 0) {
      while (this.#pending.length < length) await this.#fill();
      body = this.#pending.subarray(0, length);
      this.#pending = this.#pending.subarray(length);
    } else throw new Error("response without a length");
    const text = dec.decode(body);
    if (close) this.close();
    return { status, body: text };
  }

  async #readChunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (;;) {
      let nl = -1;
      for (;;) {
        nl = indexOfCrlf(this.#pending);
        if (nl >= 0) break;
        await this.#fill();
      }
      const size = parseInt(dec.decode(this.#pending.subarray(0, nl)), 16);
      this.#pending = this.#pending.subarray(nl + 2);
      while (this.#pending.length < size + 2) await this.#fill();
      if (size === 0) {
        this.#pending = this.#pending.subarray(2);
        break;
      }
      parts.push(this.#pending.slice(0, size));
      this.#pending = this.#pending.subarray(size + 2);
    }
    const n = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) out.set(p, o), o += p.length;
    return out;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#c.close();
    } catch { /* already closed */ }
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

function indexOfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}

/** A connection pool: `n` connections opened lazily, one per worker. */
export class Client {
  #port: number;
  #conns: Conn[] = [];
  constructor(port: number) {
    this.#port = port;
  }
  async conn(i: number): Promise<Conn> {
    let c = this.#conns[i];
    if (!c || c.closed) c = this.#conns[i] = await Conn.open(this.#port);
    return c;
  }
  async request(
    i: number,
    method: string,
    path: string,
    opts: { token?: string; body?: unknown } = {},
  ): Promise<Res> {
    const c = await this.conn(i);
    return c.request(method, path, opts);
  }
  close() {
    for (const c of this.#conns) c?.close();
    this.#conns = [];
  }
}

// ---------------------------------------------------------------- statistics

export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

// ---------------------------------------------------------------- closed loop over repeated windows

export type LoopResult = {
  /** medians over the windows */
  rps: number;
  p50: number;
  p99: number;
  windows: { rps: number; p50: number; p99: number }[];
  errors: number;
  errorSample?: string;
  ok: number;
  total: number;
  /** server and client CPU over the measured windows, %core (100 = one core busy) */
  cpu: number;
  clientCpu: number;
  /** the rest of the machine (other processes): host busy minus server minus client, %core */
  otherCpu: number;
};

/**
 * `conc` workers issue requests back to back with fn(worker, seq) for `warm` ms of warm-up and then `windows`
 * measuring windows of `windowMs` each. Per window: successful completions/s, and p50/p99 of the requests
 * that started in it. The figures are the medians over the windows. onResult sees every request.
 */
export async function closedLoop(o: {
  conc: number;
  warm: number;
  windows: number;
  windowMs: number;
  fn: (worker: number, seq: number) => Promise<Res>;
  onResult?: (r: Res, worker: number, seq: number) => void;
  pid?: number;
}): Promise<LoopResult> {
  const start = performance.now();
  const mStart = start + o.warm;
  const mEnd = mStart + o.windows * o.windowMs;
  const okCount = new Array(o.windows).fill(0);
  const lat: number[][] = Array.from({ length: o.windows }, () => []);
  let errors = 0;
  let errorSample: string | undefined;
  let ok = 0;
  let total = 0;
  let seq = 0;
  let cpu0: number | undefined;
  let own0: number | undefined;
  let host0: number | undefined;
  const cpuStart = setTimeout(
    () => (cpu0 = procCpuMs(o.pid), own0 = procCpuMs(Deno.pid), host0 = hostBusyMs()),
    o.warm,
  );
  await Promise.all(Array.from({ length: o.conc }, async (_, w) => {
    while (performance.now() < mEnd) {
      const s = seq++;
      const r = await o.fn(w, s);
      total++;
      const good = r.status >= 200 && r.status < 300;
      if (good) ok++;
      o.onResult?.(r, w, s);
      if (r.t0 >= mStart && r.t0 < mEnd) {
        lat[Math.floor((r.t0 - mStart) / o.windowMs)].push(r.t1 - r.t0);
        if (!good) {
          errors++;
          errorSample ??= `${r.status} ${r.error ?? r.body.slice(0, 200)}`;
        }
      }
      if (good && r.t1 >= mStart && r.t1 < mEnd) okCount[Math.floor((r.t1 - mStart) / o.windowMs)]++;
    }
  }));
  clearTimeout(cpuStart);
  const cpu1 = procCpuMs(o.pid);
  const own1 = procCpuMs(Deno.pid);
  const span = performance.now() - mStart;
  const cpu = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / span) * 100 : NaN;
  const clientCpu = own0 !== undefined && own1 !== undefined ? ((own1 - own0) / span) * 100 : NaN;
  const host1 = hostBusyMs();
  const otherCpu = host0 !== undefined && host1 !== undefined
    ? ((host1 - host0) / span) * 100 - cpu - clientCpu
    : NaN;
  const windows = okCount.map((n, i) => {
    const s = summary(lat[i]);
    return { rps: (n / o.windowMs) * 1000, p50: s.p50, p99: s.p99 };
  });
  return {
    rps: median(windows.map((w) => w.rps)),
    p50: median(windows.map((w) => w.p50)),
    p99: median(windows.map((w) => w.p99)),
    windows,
    errors,
    errorSample,
    ok,
    total,
    cpu,
    clientCpu,
    otherCpu,
  };
}

/** Runs fn over items with at most `conc` in flight. */
export async function pool<T, R>(
  items: T[],
  conc: number,
  fn: (item: T, worker: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(conc, items.length) }, async (_, w) => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], w);
    }
  }));
  return out;
}

// ---------------------------------------------------------------- /proc

const CLK_TCK = 100;

/** user + system CPU time of a process in ms (undefined without /proc or pid). */
export function procCpuMs(pid?: number): number | undefined {
  if (!pid) return undefined;
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** CPU time the whole machine spent busy (all cores, ms), from /proc/stat. */
export function hostBusyMs(): number | undefined {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - (f[4] || 0);
    return (busy * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in MiB. */
export function procRssMiB(pid?: number): number | undefined {
  if (!pid) return undefined;
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = s.match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
