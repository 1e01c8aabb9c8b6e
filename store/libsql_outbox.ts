/**
 * @module store/libsql_outbox — the `OutboxStore` on libSQL: the statements of the delivery loop over
 * `webhooks` and `webhook_outbox` (schema.ts migration 7). A claim is one UPDATE … RETURNING, so two
 * processes on one database cannot both hold a row. SQL only: no rules.
 */
import type { Client } from "@libsql/client";
import type {
  Claim,
  DeliveredMark,
  DeliveryRow,
  DueWebhook,
  FailedAttempt,
  OutboxStore,
  WebhookStatusRow,
} from "./outbox_store.ts";

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

/**
 * Each enabled webhook with the seq of its oldest pending row (the only one that may be attempted: deliveries
 * go in seq order), found through the primary key per webhook — materialized, so the planner does not turn
 * it into a scan of every outbox row with a subquery each.
 */
const HEADS = (where: string) =>
  `WITH h AS MATERIALIZED (
     SELECT w.room_id, w.id AS webhook_id,
       (SELECT p.seq FROM webhook_outbox p WHERE p.room_id = w.room_id AND p.webhook_id = w.id
          AND p.state = 'pending' ORDER BY p.seq LIMIT 1) AS head
     FROM webhooks w WHERE ${where})
   SELECT o.* FROM h JOIN webhook_outbox o ON o.room_id = h.room_id AND o.webhook_id = h.webhook_id
     AND o.seq = h.head`;

export class LibsqlOutbox implements OutboxStore {
  constructor(readonly client: Client) {}

  async due(now: number, me: string, limit: number): Promise<DueWebhook[]> {
    const r = await this.client.execute({
      sql: `${HEADS("w.disabled_at IS NULL")}
            WHERE o.next_at <= ?1 AND (o.claimed_by IS NULL OR o.claimed_by = ?2 OR o.claim_until < ?1)
            LIMIT ?3`,
      args: [now, me, limit],
    });
    return r.rows.map((x) => ({ room_id: String(x.room_id), webhook_id: String(x.webhook_id) }));
  }

  async claim(
    roomId: string,
    webhookId: string,
    me: string,
    now: number,
    until: number,
    limit: { rows: number; bytes: number },
  ): Promise<Claim> {
    const [claimed, hook, head] = await this.client.batch([
      {
        sql: `UPDATE webhook_outbox SET claimed_by = ?3, claim_until = ?5
              WHERE room_id = ?1 AND webhook_id = ?2 AND state = 'pending'
                AND seq IN (SELECT seq FROM (
                              SELECT seq, len, SUM(len) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS run
                              FROM (SELECT seq, length(body) AS len FROM webhook_outbox
                                    WHERE room_id = ?1 AND webhook_id = ?2 AND state = 'pending'
                                    ORDER BY seq LIMIT ?6))
                            WHERE run - len <= ?7)
                AND EXISTS (SELECT 1 FROM webhooks WHERE room_id = ?1 AND id = ?2 AND disabled_at IS NULL)
                AND EXISTS (SELECT 1 FROM (SELECT next_at, claimed_by, claim_until FROM webhook_outbox
                              WHERE room_id = ?1 AND webhook_id = ?2 AND state = 'pending' ORDER BY seq LIMIT 1) h
                            WHERE h.next_at <= ?4 AND (h.claimed_by IS NULL OR h.claimed_by = ?3 OR h.claim_until < ?4))
              RETURNING seq, delivery_id, body, json_extract(body, '$.traceparent') AS traceparent, attempts,
                failures, failing_since`,
        args: [roomId, webhookId, me, now, until, limit.rows, limit.bytes],
      },
      {
        sql: "SELECT url, secret, seq FROM webhooks WHERE room_id = ? AND id = ? AND disabled_at IS NULL",
        args: [roomId, webhookId],
      },
      {
        sql: `SELECT next_at, claimed_by, claim_until FROM webhook_outbox
              WHERE room_id = ? AND webhook_id = ? AND state = 'pending' ORDER BY seq LIMIT 1`,
        args: [roomId, webhookId],
      },
    ], "write");
    const w = hook.rows[0];
    if (!claimed.rows.length || !w) {
      const h = head.rows[0];
      if (!w || !h) return { rows: [], retryAt: null };
      const held = h.claimed_by !== null && String(h.claimed_by) !== me ? Number(h.claim_until) : 0;
      return { rows: [], retryAt: Math.max(Number(h.next_at), held) };
    }
    const rows = claimed.rows.map((x) => ({
      seq: Number(x.seq),
      delivery_id: String(x.delivery_id),
      body: String(x.body),
      traceparent: str(x.traceparent),
      attempts: Number(x.attempts),
      failures: Number(x.failures),
      failing_since: num(x.failing_since),
    })).sort((a, b) => a.seq - b.seq);
    return { webhook: { url: String(w.url), secret: String(w.secret), seq: Number(w.seq) }, rows };
  }

  async delivered(
    roomId: string,
    webhookId: string,
    marks: DeliveredMark[],
    dropBelow?: number,
  ): Promise<void> {
    if (!marks.length) return;
    const args: (string | number)[] = [];
    for (const m of marks) args.push(m.seq, m.status, m.at);
    args.push(roomId, webhookId);
    // a range of the primary key: delivered rows sit below every pending one
    const prune = {
      sql:
        "DELETE FROM webhook_outbox WHERE room_id = ? AND webhook_id = ? AND seq < ? AND state = 'delivered'",
      args: [roomId, webhookId, dropBelow ?? 0],
    };
    await this.client.batch([
      {
        sql: `UPDATE webhook_outbox SET state = 'delivered', body = NULL, attempts = attempts + 1,
                created_at = COALESCE(created_at, json_extract(body, '$.ts')),
                last_status = v.column2, last_error = NULL, last_attempt_at = v.column3, delivered_at = v.column3,
                failures = 0, failing_since = NULL, claimed_by = NULL, claim_until = NULL
              FROM (VALUES ${marks.map(() => "(?,?,?)").join(",")}) AS v
              WHERE webhook_outbox.room_id = ? AND webhook_outbox.webhook_id = ?
                AND webhook_outbox.seq = v.column1`,
        args,
      },
      ...(dropBelow === undefined ? [] : [prune]),
    ], "write");
  }

  async failed(roomId: string, webhookId: string, me: string, f: FailedAttempt): Promise<void> {
    await this.client.batch([
      {
        sql: `UPDATE webhook_outbox SET attempts = attempts + 1, failures = failures + 1,
                failing_since = COALESCE(failing_since, ?4), last_status = ?5, last_error = ?6,
                last_attempt_at = ?7, next_at = ?8, claimed_by = ?9, claim_until = ?10
              WHERE room_id = ?1 AND webhook_id = ?2 AND seq = ?3`,
        args: [roomId, webhookId, f.seq, f.now, f.status, f.error, f.at, f.next_at, me, f.until],
      },
      {
        sql: `UPDATE webhook_outbox SET claimed_by = NULL, claim_until = NULL
              WHERE room_id = ? AND webhook_id = ? AND state = 'pending' AND claimed_by = ? AND seq <> ?`,
        args: [roomId, webhookId, me, f.seq],
      },
    ], "write");
  }

  async pending(roomId: string, webhookId: string): Promise<number> {
    const r = await this.client.execute({
      sql:
        "SELECT COUNT(*) AS n FROM webhook_outbox WHERE room_id = ? AND webhook_id = ? AND state = 'pending'",
      args: [roomId, webhookId],
    });
    return Number(r.rows[0].n);
  }

  async release(me: string, on?: { roomId: string; webhookId: string }): Promise<void> {
    await this.client.execute(
      on
        ? {
          sql: `UPDATE webhook_outbox SET claimed_by = NULL, claim_until = NULL
                WHERE room_id = ? AND webhook_id = ? AND claimed_by = ?`,
          args: [on.roomId, on.webhookId, me],
        }
        : {
          sql: "UPDATE webhook_outbox SET claimed_by = NULL, claim_until = NULL WHERE claimed_by = ?",
          args: [me],
        },
    );
  }

  async status(roomId: string): Promise<WebhookStatusRow[]> {
    const [counts, heads] = await this.client.batch([
      {
        sql: `SELECT webhook_id, SUM(state = 'pending') AS pending,
                MAX(CASE WHEN state = 'delivered' THEN delivered_at END) AS last_delivered_at
              FROM webhook_outbox WHERE room_id = ? GROUP BY webhook_id`,
        args: [roomId],
      },
      { sql: HEADS("w.room_id = ?"), args: [roomId] },
    ], "read");
    const head = new Map(heads.rows.map((h) => [String(h.webhook_id), h]));
    return counts.rows.map((c) => {
      const h = head.get(String(c.webhook_id));
      return {
        webhook_id: String(c.webhook_id),
        pending: Number(c.pending ?? 0),
        last_delivered_at: str(c.last_delivered_at),
        failures: Number(h?.failures ?? 0),
        failing_since: num(h?.failing_since),
        last_status: num(h?.last_status),
        last_error: str(h?.last_error),
        next_at: num(h?.next_at),
      };
    });
  }

  async deliveries(roomId: string, webhookId: string, limit: number): Promise<DeliveryRow[]> {
    const r = await this.client.execute({
      sql: `SELECT seq, delivery_id, state, attempts, last_status, last_error, last_attempt_at, next_at,
              delivered_at, COALESCE(created_at, json_extract(body, '$.ts')) AS created_at
            FROM webhook_outbox WHERE room_id = ? AND webhook_id = ? ORDER BY seq DESC LIMIT ?`,
      args: [roomId, webhookId, limit],
    });
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      delivery_id: String(x.delivery_id),
      state: String(x.state) === "delivered" ? "delivered" : "pending",
      attempts: Number(x.attempts),
      last_status: num(x.last_status),
      last_error: str(x.last_error),
      last_attempt_at: str(x.last_attempt_at),
      next_at: Number(x.next_at),
      delivered_at: str(x.delivered_at),
      created_at: String(x.created_at),
    }));
  }
}
