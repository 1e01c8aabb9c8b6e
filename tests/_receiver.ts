/**
 * Test fixture: a webhook receiver on a free loopback port that records every delivery (headers, the exact
 * body, when it arrived) and answers with the status `respond` picks; released with `await using`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export type Received = {
  headers: Headers;
  /** the exact body text */
  body: string;
  // deno-lint-ignore no-explicit-any -- the delivery's JSON, as sent
  json: any;
  /** performance.now() when it arrived, and when its answer was sent */
  at: number;
  answered?: number;
};

export type Receiver = {
  url: string;
  port: number;
  got: Received[];
  /** the deliveries answered 2xx, by their `X-Sync-Delivery` id (first arrival) */
  accepted(): Received[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

/**
 * `respond` gets each delivery and how many arrived before it; its status (or the promise of one: a slow
 * receiver) is the answer (default 200).
 */
export function startReceiver(
  respond: (d: Received, n: number) => number | Promise<number> = () => 200,
): Receiver {
  const got: Received[] = [];
  const statuses: number[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const body = await req.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch { /* recorded as it came */ }
    const d: Received = { headers: req.headers, body, json, at: performance.now() };
    const i = got.push(d) - 1;
    const status = await respond(d, i);
    statuses[i] = status;
    d.answered = performance.now();
    return new Response(status === 204 ? null : "ok", { status });
  });
  const close = async () => void await server.shutdown();
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    port: server.addr.port,
    got,
    accepted() {
      const seen = new Set<string>();
      return got.filter((d, i) => {
        const id = d.headers.get("x-sync-delivery") ?? "";
        if (!(statuses[i] >= 200 && statuses[i] <= 299) || seen.has(id)) return false;
        seen.add(id);
        return true;
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Whether `X-Sync-Signature` is the HMAC-SHA256 of the exact body with `secret` (as a receiver checks it). */
export function signatureValid(d: Received, secret: string): boolean {
  const want = `sha256=${createHmac("sha256", secret).update(d.body).digest("hex")}`;
  const got = d.headers.get("x-sync-signature") ?? "";
  return got.length === want.length &&
    timingSafeEqual(new TextEncoder().encode(got), new TextEncoder().encode(want));
}
