/**
 * @module routes/ops — operating the server.
 *
 *   GET    /healthz              200 {ok:true} when the database answers `SELECT 1`, else 503
 *   GET    /metrics              Prometheus text: requests, invocations, waiters, commits, rooms
 *   GET    /rooms/:id/export     room token: JSON snapshot of the room, audit included
 *   POST   /rooms/import         snapshot (+ optional id) → a new room with new tokens
 *   DELETE /rooms/:id            room token: the room and all its rows
 */
import { Hono } from "hono";
import { ApiError } from "../errors.ts";
import { deleteRoom, exportRoom, importRoom } from "../engine/export.ts";
import { invocationOutcomes } from "../engine/invoke.ts";
import { activeWaiters } from "../waiters.ts";
import { PromText, type RequestMetrics } from "../middleware/metrics.ts";
import { type AppEnv, type Ctx, roomAndCaller, send } from "./http.ts";

const HEALTH_TIMEOUT_MS = 2000;
/** Snapshots are bigger than ordinary requests; still bounded. */
const IMPORT_MIN_BYTES = 32 * 1024 * 1024;

export function opsRoutes(metrics: RequestMetrics) {
  return new Hono<AppEnv>()
    .get("/healthz", async (c) => {
      const eng = c.get("eng");
      if (eng.closing) throw new ApiError("shutting_down", "the server is shutting down");
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          eng.db.execute("SELECT 1"),
          new Promise((_, reject) =>
            timer = setTimeout(() => reject(new Error("timed out")), HEALTH_TIMEOUT_MS)
          ),
        ]);
      } catch (e) {
        throw new ApiError("db_unavailable", `the database does not answer: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
      return send(c, { ok: true });
    })
    .get("/metrics", (c) => {
      return new Response(renderMetrics(c, metrics), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    })
    .get("/rooms/:id/export", async (c) => {
      const { room, caller } = await roomAndCaller(c);
      return send(c, await exportRoom(c.get("eng"), room, caller));
    })
    .post("/rooms/import", async (c) => {
      const eng = c.get("eng");
      return send(
        c,
        await importRoom(eng, await readSnapshot(c, Math.max(IMPORT_MIN_BYTES, eng.limits.maxBodyBytes))),
        201,
      );
    })
    .delete("/rooms/:id", async (c) => {
      const { room, caller } = await roomAndCaller(c);
      return send(c, await deleteRoom(c.get("eng"), room, caller));
    });
}

async function readSnapshot(c: Ctx, max: number): Promise<unknown> {
  if (Number(c.req.header("content-length") ?? "0") > max) {
    throw new ApiError("payload_too_large", `the snapshot exceeds ${max} bytes`, { limit: max });
  }
  const text = (await c.req.text()).trim();
  if (text.length > max) {
    throw new ApiError("payload_too_large", `the snapshot exceeds ${max} bytes`, { limit: max });
  }
  if (!text) throw new ApiError("invalid_json", "the request body is empty; send an exported room snapshot");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError("invalid_json", `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

function renderMetrics(c: Ctx, m: RequestMetrics): string {
  const eng = c.get("eng");
  const p = new PromText();
  p.family("agent_sync_http_requests_total", "counter", "HTTP requests by method, route pattern and status.");
  for (const [k, n] of m.requests) {
    const [method, route, status] = k.split("\u0000");
    p.sample("agent_sync_http_requests_total", { method, route, status }, n);
  }
  p.family(
    "agent_sync_http_request_seconds_sum",
    "counter",
    "Total time spent answering, by method and route.",
  );
  for (const [k, s] of m.durationSum) {
    const [method, route] = k.split("\u0000");
    p.sample("agent_sync_http_request_seconds_sum", { method, route }, round(s));
  }
  p.family("agent_sync_http_requests_in_flight", "gauge", "Requests being answered now (waiters included).")
    .sample("agent_sync_http_requests_in_flight", {}, m.inFlight);
  p.family(
    "agent_sync_invocations_total",
    "counter",
    "Action invocations by outcome (ok, dry_run or the error code).",
  );
  for (const [outcome, n] of invocationOutcomes(eng)) {
    p.sample("agent_sync_invocations_total", { outcome }, n);
  }
  p.family("agent_sync_waiters", "gauge", "Requests blocked in /wait (and invoke-and-wait).")
    .sample("agent_sync_waiters", {}, activeWaiters());
  p.family("agent_sync_rooms_in_memory", "gauge", "Rooms held in memory by this process.")
    .sample("agent_sync_rooms_in_memory", {}, eng.rooms.size);
  const st = eng.committer.stats;
  p.family("agent_sync_commit_batches_total", "counter", "Group-commit batches written.")
    .sample("agent_sync_commit_batches_total", {}, st.batches);
  p.family("agent_sync_commit_statements_total", "counter", "SQL statements in committed batches.")
    .sample("agent_sync_commit_statements_total", {}, st.statements);
  p.family(
    "agent_sync_commit_failures_total",
    "counter",
    "Batches that failed (stale room or storage error).",
  )
    .sample("agent_sync_commit_failures_total", {}, st.failures);
  const h = st.histogram;
  p.family("agent_sync_commit_seconds", "histogram", "Group-commit latency.");
  h.bounds.forEach((b, i) => p.sample("agent_sync_commit_seconds_bucket", { le: b / 1000 }, h.counts[i]));
  p.sample("agent_sync_commit_seconds_bucket", { le: "+Inf" }, st.batches);
  p.sample("agent_sync_commit_seconds_sum", {}, round(h.sum / 1000));
  p.sample("agent_sync_commit_seconds_count", {}, st.batches);
  return p.toString();
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
