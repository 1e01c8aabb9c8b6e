/**
 * @module store/libsql_outbox — the `OutboxStore` on libSQL: the statements of the delivery loop over
 * `webhooks`, `webhook_outbox` (schema.ts migration 7) and the history headers that name webhooks
 * (migration 8). A claim is one UPDATE … RETURNING, so two processes on one database cannot both hold a
 * row; a copy is guarded by the webhook's copied position, so two cannot both add one. SQL only: no rules.
 */
import type { InStatement, InValue } from "@libsql/client";
import { aggregate, commitJson, type RowArray, rowOf } from "./libsql_history.ts";
import type { RowBatches } from "./libsql_rows.ts";
import type {
  Claim,
  DeliveredMark,
  DeliveryRow,
  DueWebhook,
  FailedAttempt,
  OutboxRow,
  OutboxStore,
  Uncopied,
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
   SELECT o.room_id, o.webhook_id, o.failures, o.failing_since, o.last_status, o.last_error, o.next_at
   FROM h JOIN webhook_outbox o ON o.room_id = h.room_id AND o.webhook_id = h.webhook_id AND o.seq = h.head`;

/**
 * Where webhook `w`'s copying stands: its newest outbox row, or the last commit a copy looked at
 * (`staged_seq`, written only when that is further: it costs the copy a page), or its registration.
 */
const COPIED = (w: string) =>
  `max(COALESCE(${w}.staged_seq, ${w}.seq), COALESCE((SELECT MAX(c.seq) FROM webhook_outbox c
     WHERE c.room_id = ${w}.room_id AND c.webhook_id = ${w}.id), 0))`;

/**
 * History headers `h` after webhook `w`'s copied position that name it (`tag`: its id between spaces), by a
 * range of the primary key: the condition, to join on or select by.
 */
const UNCOPIED = (w: string, tag = `' ' || ${w}.id || ' '`) =>
  `h.room_id = ${w}.room_id AND h.scope = '' AND h.key = '' AND h.seq > ${COPIED(w)}
     AND instr(h.hooks, ${tag}) > 0`;

const tagOf = (webhookId: string) => ` ${webhookId} `;

/** A copy into the outbox: the rows after the webhook's copied position, which moves to `to`. */
function copyStatements(roomId: string, webhookId: string, rows: OutboxRow[], to: number): InStatement[] {
  const statements: InStatement[] = [];
  if (rows.length) {
    // at most WEBHOOK_CLAIM_ROWS rows (a copy's), far below SQLite's limit on bound values
    const args: InValue[] = [roomId, webhookId];
    const values = rows.map((r) =>
      `(?${args.push(r.seq)}, ?${args.push(r.delivery_id)}, ?${args.push(r.body)})`
    );
    statements.push({
      sql: `INSERT INTO webhook_outbox (room_id, webhook_id, seq, delivery_id, body)
              SELECT ?1, ?2, v.column1, v.column2, v.column3 FROM (VALUES ${values.join(",")}) AS v
              WHERE v.column1 > (SELECT ${COPIED("w")} FROM webhooks w WHERE w.room_id = ?1 AND w.id = ?2)
              ON CONFLICT DO NOTHING`,
      args,
    });
  }
  // the newest row says how far the copy went, unless it looked past it
  if (!rows.length || to > rows[rows.length - 1].seq) {
    statements.push({
      sql:
        "UPDATE webhooks SET staged_seq = max(COALESCE(staged_seq, seq), ?3) WHERE room_id = ?1 AND id = ?2",
      args: [roomId, webhookId, to],
    });
  }
  return statements;
}

/** Rows marked delivered (bodies dropped), then all but the newest `keep` delivered ones deleted. */
function deliveredStatements(
  roomId: string,
  webhookId: string,
  marks: DeliveredMark[],
  keep?: number,
): InStatement[] {
  if (!marks.length) return [];
  const args: (string | number)[] = [];
  for (const m of marks) args.push(m.seq, m.status, m.at);
  args.push(roomId, webhookId);
  const out: InStatement[] = [{
    sql: `UPDATE webhook_outbox SET state = 'delivered', body = NULL, attempts = attempts + 1,
            created_at = COALESCE(created_at, json_extract(body, '$.ts')),
            last_status = v.column2, last_error = NULL, last_attempt_at = v.column3, delivered_at = v.column3,
            failures = 0, failing_since = NULL, claimed_by = NULL, claim_until = NULL
          FROM (VALUES ${marks.map(() => "(?,?,?)").join(",")}) AS v
          WHERE webhook_outbox.room_id = ? AND webhook_outbox.webhook_id = ?
            AND webhook_outbox.seq = v.column1`,
    args,
  }];
  if (keep !== undefined) {
    // a range of the primary key: delivered rows sit below every pending one
    out.push({
      sql: `DELETE FROM webhook_outbox WHERE room_id = ?1 AND webhook_id = ?2 AND state = 'delivered'
              AND seq < (SELECT seq FROM webhook_outbox WHERE room_id = ?1 AND webhook_id = ?2
                           AND state = 'delivered' ORDER BY seq DESC LIMIT 1 OFFSET ?3)`,
      args: [roomId, webhookId, keep - 1],
    });
  }
  return out;
}

/**
 * Answers are plain rows, in the order each SELECT names its columns; the statements are long, so on an
 * embedded file they run prepared once (libsql_rows.ts).
 */
export class LibsqlOutbox implements OutboxStore {
  constructor(readonly db: RowBatches) {}

  async uncopied(roomId: string, webhookId: string, limit: number, scan: number): Promise<Uncopied | null> {
    const [hook, found] = await this.db.batch([
      {
        sql: `SELECT w.seq, ${COPIED("w")} AS copied, r.seq AS room_seq FROM webhooks w
              JOIN rooms r ON r.id = w.room_id WHERE w.room_id = ? AND w.id = ?`,
        args: [roomId, webhookId],
      },
      {
        sql: aggregate(
          `SELECT '[' || ${commitJson("h")} || ',' || json_quote(h.hook_meta) || ']' AS j, h.seq AS o
           FROM webhooks w CROSS JOIN history h ON ${UNCOPIED("w", "?3")} AND h.seq <= ${COPIED("w")} + ?4
           WHERE w.room_id = ?1 AND w.id = ?2 ORDER BY h.seq LIMIT ?5`,
        ),
        args: [roomId, webhookId, tagOf(webhookId), scan, limit],
      },
    ], "read");
    const w = hook[0];
    if (!w) return null;
    const [seq, copied, roomSeq] = w.map(Number);
    const text = found[0]?.[0];
    const docs: [[RowArray, RowArray[]], string | null][] = text ? JSON.parse(String(text)) : [];
    const commits = docs.map(([[h, rows], meta]) => {
      const head = rowOf(h);
      if (meta !== null) head.hook_meta = meta;
      return { head, rows: rows.map(rowOf) };
    });
    const to = commits.length === limit
      ? commits[commits.length - 1].head.seq
      : Math.min(roomSeq, copied + scan);
    return { registered: seq, from: copied, latest: roomSeq, commits, to };
  }

  async copy(roomId: string, webhookId: string, rows: OutboxRow[], to: number): Promise<void> {
    await this.db.batch(copyStatements(roomId, webhookId, rows, to), "write");
  }

  async due(now: number, me: string, limit: number, scan: number): Promise<DueWebhook[]> {
    const [heads, uncopied] = await this.db.batch([
      {
        sql: `${HEADS("w.disabled_at IS NULL")}
              WHERE o.next_at <= ?1 AND (o.claimed_by IS NULL OR o.claimed_by = ?2 OR o.claim_until < ?1)
              LIMIT ?3`,
        args: [now, me, limit],
      },
      {
        sql: `SELECT w.room_id, w.id AS webhook_id FROM webhooks w JOIN rooms r ON r.id = w.room_id
              WHERE w.disabled_at IS NULL AND (r.seq > ${COPIED("w")} + ?1 OR EXISTS (SELECT 1 FROM history h
                WHERE ${UNCOPIED("w")} AND h.seq <= ${COPIED("w")} + ?1))
              LIMIT ?2`,
        args: [scan, limit],
      },
    ], "read");
    const out = new Map<string, DueWebhook>();
    for (const x of [...heads, ...uncopied]) {
      const d = { room_id: String(x[0]), webhook_id: String(x[1]) };
      out.set(`${d.room_id}\u0000${d.webhook_id}`, d);
    }
    return [...out.values()].slice(0, limit);
  }

  async claim(
    roomId: string,
    webhookId: string,
    me: string,
    now: number,
    until: number,
    limit: { rows: number; bytes: number },
    copy?: { rows: OutboxRow[]; to: number },
    marks?: { marks: DeliveredMark[]; keep?: number },
  ): Promise<Claim> {
    const first = [
      ...(marks ? deliveredStatements(roomId, webhookId, marks.marks, marks.keep) : []),
      ...(copy ? copyStatements(roomId, webhookId, copy.rows, copy.to) : []),
    ];
    const [claimed, hook, head] = (await this.db.batch([
      ...first,
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
    ], "write")).slice(first.length);
    const w = hook[0];
    if (!claimed.length || !w) {
      const h = head[0];
      if (!w || !h) return { rows: [], retryAt: null };
      const [nextAt, claimedBy, claimUntil] = h;
      const held = claimedBy !== null && String(claimedBy) !== me ? Number(claimUntil) : 0;
      return { rows: [], retryAt: Math.max(Number(nextAt), held) };
    }
    const rows = claimed.map((x) => ({
      seq: Number(x[0]),
      delivery_id: String(x[1]),
      body: String(x[2]),
      traceparent: str(x[3]),
      attempts: Number(x[4]),
      failures: Number(x[5]),
      failing_since: num(x[6]),
    })).sort((a, b) => a.seq - b.seq);
    return { webhook: { url: String(w[0]), secret: String(w[1]), seq: Number(w[2]) }, rows };
  }

  async delivered(roomId: string, webhookId: string, marks: DeliveredMark[], keep?: number): Promise<void> {
    if (marks.length) await this.db.batch(deliveredStatements(roomId, webhookId, marks, keep), "write");
  }

  async failed(roomId: string, webhookId: string, me: string, f: FailedAttempt): Promise<void> {
    await this.db.batch([
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
    const [r] = await this.db.batch([{
      sql: `SELECT
              (SELECT COUNT(*) FROM webhook_outbox WHERE room_id = ?1 AND webhook_id = ?2 AND state = 'pending')
              + (SELECT COUNT(*) FROM webhooks w CROSS JOIN history h ON ${UNCOPIED("w", "?3")}
                 WHERE w.room_id = ?1 AND w.id = ?2)`,
      args: [roomId, webhookId, tagOf(webhookId)],
    }], "read");
    return Number(r[0][0]);
  }

  async release(me: string, on?: { roomId: string; webhookId: string }): Promise<void> {
    await this.db.batch([
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
    ], "write");
  }

  async status(roomId: string): Promise<WebhookStatusRow[]> {
    const [counts, uncopied, heads] = await this.db.batch([
      {
        sql: `SELECT webhook_id, SUM(state = 'pending') AS pending,
                MAX(CASE WHEN state = 'delivered' THEN delivered_at END) AS last_delivered_at
              FROM webhook_outbox WHERE room_id = ? GROUP BY webhook_id`,
        args: [roomId],
      },
      {
        sql: `SELECT w.id AS webhook_id, (SELECT COUNT(*) FROM history h WHERE ${UNCOPIED("w")}) AS n
              FROM webhooks w WHERE w.room_id = ?`,
        args: [roomId],
      },
      { sql: HEADS("w.room_id = ?"), args: [roomId] },
    ], "read");
    // heads: room_id, webhook_id, failures, failing_since, last_status, last_error, next_at
    const head = new Map(heads.map((h) => [String(h[1]), h]));
    const more = new Map(uncopied.map((u) => [String(u[0]), Number(u[1])]));
    // counts: webhook_id, pending, last_delivered_at
    const stored = new Map(counts.map((c) => [String(c[0]), c]));
    const out: WebhookStatusRow[] = [];
    for (const id of new Set([...stored.keys(), ...[...more].filter(([, n]) => n > 0).map(([id]) => id)])) {
      const c = stored.get(id), h = head.get(id);
      out.push({
        webhook_id: id,
        pending: Number(c?.[1] ?? 0) + (more.get(id) ?? 0),
        last_delivered_at: str(c?.[2]),
        failures: Number(h?.[2] ?? 0),
        failing_since: num(h?.[3]),
        last_status: num(h?.[4]),
        last_error: str(h?.[5]),
        next_at: num(h?.[6]),
      });
    }
    return out;
  }

  async deliveries(roomId: string, webhookId: string, limit: number): Promise<DeliveryRow[]> {
    const [uncopied, r] = await this.db.batch([
      {
        // newer than every copied row
        sql: `SELECT h.seq, h.updated_at FROM webhooks w CROSS JOIN history h ON ${UNCOPIED("w", "?3")}
              WHERE w.room_id = ?1 AND w.id = ?2 ORDER BY h.seq DESC LIMIT ?4`,
        args: [roomId, webhookId, tagOf(webhookId), limit],
      },
      {
        sql: `SELECT seq, delivery_id, state, attempts, last_status, last_error, last_attempt_at, next_at,
                delivered_at, COALESCE(created_at, json_extract(body, '$.ts')) AS created_at
              FROM webhook_outbox WHERE room_id = ? AND webhook_id = ? ORDER BY seq DESC LIMIT ?`,
        args: [roomId, webhookId, limit],
      },
    ], "read");
    const waiting: DeliveryRow[] = uncopied.map((x) => ({
      seq: Number(x[0]),
      delivery_id: null,
      state: "pending",
      attempts: 0,
      last_status: null,
      last_error: null,
      last_attempt_at: null,
      next_at: 0,
      delivered_at: null,
      created_at: String(x[1]),
    }));
    return waiting.concat(r.map((x) => ({
      seq: Number(x[0]),
      delivery_id: String(x[1]),
      state: String(x[2]) === "delivered" ? "delivered" : "pending",
      attempts: Number(x[3]),
      last_status: num(x[4]),
      last_error: str(x[5]),
      last_attempt_at: str(x[6]),
      next_at: Number(x[7]),
      delivered_at: str(x[8]),
      created_at: String(x[9]),
    }))).slice(0, limit);
  }
}
