/**
 * A loopback TCP proxy the client tests control: it forwards bytes both ways, records what clients sent,
 * cuts every open connection on demand (a dropped SSE stream) and can swallow the answer to a request
 * (a response lost after the server applied it).
 */

export type Proxy = {
  base: string;
  /** connections accepted so far */
  readonly accepted: number;
  /** the bytes each connection's client sent, as text, in accept order */
  sent(): string[];
  /** the bytes forwarded to each connection's client, as text, in accept order */
  received(): string[];
  /** close every open connection, both sides */
  cutAll(): void;
  /** the next `n` requests whose bytes contain `marker` reach the server, but their answers are dropped */
  dropAnswer(marker: string, n?: number): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

type Pair = {
  client: Deno.Conn;
  server: Deno.Conn;
  sent: string;
  received: string;
  drop: boolean;
  closed: boolean;
};

export function startProxy(target: string): Proxy {
  const url = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<Pair>();
  const log: Pair[] = [];
  const tasks = new Set<Promise<void>>();
  const drops: { marker: string; n: number }[] = [];
  let accepted = 0;
  const decoder = new TextDecoder();

  const end = (p: Pair) => {
    if (p.closed) return;
    p.closed = true;
    pairs.delete(p);
    for (const c of [p.client, p.server]) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  };

  const pump = async (p: Pair, from: Deno.Conn, to: Deno.Conn, upstream: boolean) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        if (upstream) {
          const text = decoder.decode(chunk);
          if (p.sent.length < 65536) p.sent += text;
          const d = drops.find((d) => d.n > 0 && text.includes(d.marker));
          if (d) d.n--, p.drop = true;
        } else if (p.drop) {
          // the server has answered: lose the answer and the connection, as a crashed network would
          break;
        } else if (p.received.length < 65536) p.received += decoder.decode(chunk);
        await to.write(chunk);
      }
    } catch { /* the other side went away */ }
    end(p);
  };

  const track = (t: Promise<void>) => {
    tasks.add(t);
    t.finally(() => tasks.delete(t));
  };

  track(
    (async () => {
      for await (const client of listener) {
        accepted++;
        let server: Deno.Conn;
        try {
          server = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
        } catch {
          client.close();
          continue;
        }
        const p: Pair = { client, server, sent: "", received: "", drop: false, closed: false };
        pairs.add(p);
        log.push(p);
        track(pump(p, client, server, true));
        track(pump(p, server, client, false));
      }
    })().catch(() => {}),
  );

  const close = async () => {
    try {
      listener.close();
    } catch { /* closed */ }
    for (const p of [...pairs]) end(p);
    while (tasks.size) await Promise.all([...tasks]);
  };
  return {
    base: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get accepted() {
      return accepted;
    },
    sent: () => log.map((p) => p.sent),
    received: () => log.map((p) => p.received),
    cutAll: () => [...pairs].forEach(end),
    dropAnswer: (marker, n = 1) => void drops.push({ marker, n }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
