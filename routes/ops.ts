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
import { celStats } from "../cel.ts";
import { deleteRoom, exportRoom, importRoom } from "../engine/room_admin.ts";
import { PromText, type RequestMetrics } from "../middleware/metrics.ts";
import { ImportBody } from "../wire.ts";
import { type AppEnv, type Ctx, opOf, parseBody, readJson, send } from "./http.ts";

export function opsRoutes(metrics: RequestMetrics) {
  return new Hono<AppEnv>()
    .get("/healthz", async (c) => {
      await c.get("eng").health();
      return send(c, { ok: true });
    })
    .get("/metrics", (c) => {
      return new Response(renderMetrics(c, metrics), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    })
    .get(
      "/rooms/:id/export",
      async (c) => send(c, await exportRoom(c.get("eng"), c.req.param("id"), opOf(c))),
    )
    .post("/rooms/import", async (c) => {
      const eng = c.get("eng");
      const raw = await readJson(c, { max: Math.max(eng.limits.maxImportBytes, eng.limits.maxBodyBytes) });
      return send(c, await importRoom(eng, parseBody(ImportBody, raw)), 201);
    })
    .delete("/rooms/:id", async (c) => send(c, await deleteRoom(c.get("eng"), c.req.param("id"), opOf(c))));
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
  for (const [outcome, n] of eng.metrics.invocations) {
    p.sample("agent_sync_invocations_total", { outcome }, n);
  }
  p.family("agent_sync_cel_evaluations_total", "counter", "CEL evaluations run.")
    .sample("agent_sync_cel_evaluations_total", {}, celStats.evaluations);
  p.family("agent_sync_cel_seconds_total", "counter", "Measured CEL evaluation time.")
    .sample("agent_sync_cel_seconds_total", {}, round(celStats.seconds));
  p.family(
    "agent_sync_cel_limited_total",
    "counter",
    "CEL evaluations refused or stopped, by limit: expression (time, steps, size), budget (request, views, waiters), room (its CEL time per second).",
  );
  for (const [limit, n] of Object.entries(celStats.limited)) {
    p.sample("agent_sync_cel_limited_total", { limit }, n);
  }
  p.family("agent_sync_waiters", "gauge", "Requests blocked in /wait (and invoke-and-wait).")
    .sample("agent_sync_waiters", {}, eng.metrics.waiters);
  p.family("agent_sync_feeds", "gauge", "Change feeds (/events) open now.")
    .sample("agent_sync_feeds", {}, eng.metrics.feeds);
  p.family("agent_sync_rooms_in_memory", "gauge", "Rooms held in memory by this process.")
    .sample("agent_sync_rooms_in_memory", {}, eng.rooms.size);
  const st = eng.rooms.commitStats;
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
