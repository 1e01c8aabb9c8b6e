/**
 * @module middleware/metrics — counts every request by route pattern and status for `GET /metrics`, and
 * renders the Prometheus text format. Holds numbers only; what they mean is said in routes/ops.ts.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";

/** Request counters of one app; `routes` is bounded so hostile paths cannot grow it (unmatched → one label). */
export class RequestMetrics {
  readonly requests = new Map<string, number>();
  readonly durationSum = new Map<string, number>();
  inFlight = 0;

  count(method: string, route: string, status: number, ms: number): void {
    const k = `${method}\u0000${route}\u0000${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    const d = `${method}\u0000${route}`;
    this.durationSum.set(d, (this.durationSum.get(d) ?? 0) + ms / 1000);
  }
}

/** The route pattern that answered (`/rooms/:id/context`), never the raw path. */
export function routeLabel(c: Parameters<MiddlewareHandler>[0]): string {
  const p = routePath(c);
  return !p || p === "*" || p === "/*" ? "unmatched" : p;
}

/** Counts the request after it has been answered (errors included: onError has set c.res by then). */
export function countRequests(m: RequestMetrics): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    m.inFlight++;
    try {
      await next();
    } finally {
      m.inFlight--;
      m.count(c.req.method, routeLabel(c), c.res.status, performance.now() - t0);
    }
  };
}

/** One Prometheus text-format family. */
export class PromText {
  #lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Record<string, string | number>, value: number): this {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",");
    this.#lines.push(`${name}${l ? `{${l}}` : ""} ${Number.isFinite(value) ? value : 0}`);
    return this;
  }

  toString(): string {
    return this.#lines.join("\n") + "\n";
  }
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
