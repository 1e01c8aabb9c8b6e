/**
 * @module store/outbox_store — the delivery loop's door to the webhook outbox: the commits the history holds
 * for a webhook (a commit names the webhooks it is due to in its header, `HistoryRow.hooks`) and their copy
 * into the outbox, which webhooks have a delivery due, claims on their pending rows (so two processes never
 * deliver one row at once), and the outcome of each attempt.
 */
import type { HistoryRow } from "./history_store.ts";

/**
 * A delivery copied from the history into the outbox, due at once (the delivery columns start empty). Five
 * columns: the rest is read from the body.
 */
export type OutboxRow = {
  webhook_id: string;
  seq: number;
  delivery_id: string;
  /** the exact JSON text that is signed and sent (its `ts` and `traceparent` are the commit's) */
  body: string;
};

/**
 * Commits due to a webhook that its outbox does not hold yet, oldest first: each header (with `hook_meta`)
 * and the rows it wrote. Everything after the webhook's copied position up to `to` was looked at.
 */
export type Uncopied = {
  /** the webhook's registration (its `seq`), which names its deliveries */
  registered: number;
  /** its copied position, and the room's latest commit */
  from: number;
  latest: number;
  commits: { head: HistoryRow; rows: HistoryRow[] }[];
  to: number;
};

/** A webhook whose head delivery is due and not claimed by another live process. */
export type DueWebhook = { room_id: string; webhook_id: string };

/** One claimed pending delivery. */
export type ClaimedDelivery = {
  seq: number;
  delivery_id: string;
  body: string;
  traceparent: string | null;
  attempts: number;
  /** failed attempts since the webhook's last success (this row is its head when > 0) */
  failures: number;
  /** epoch ms of the first of those failures */
  failing_since: number | null;
};

/**
 * A claim: the webhook as stored now and its first pending rows in seq order — or no rows, and when its
 * head may be claimable (null: nothing is pending, or the webhook is disabled or gone).
 */
export type Claim =
  | { webhook: { url: string; secret: string; seq: number }; rows: ClaimedDelivery[] }
  | { webhook?: undefined; rows: []; retryAt: number | null };

export type DeliveredMark = { seq: number; status: number; at: string };

/** A failed attempt of the head row: due again at `next_at`, still claimed by this process until `until`. */
export type FailedAttempt = {
  seq: number;
  status: number | null;
  error: string;
  at: string;
  now: number;
  next_at: number;
  until: number;
};

/** A webhook's delivery state as `GET /rooms/:id/webhooks` shows it. */
export type WebhookStatusRow = {
  webhook_id: string;
  pending: number;
  last_delivered_at: string | null;
  /** of the head (oldest pending) row, when there is one */
  failures: number;
  failing_since: number | null;
  last_status: number | null;
  last_error: string | null;
  next_at: number | null;
};

export type DeliveryRow = {
  seq: number;
  /** null: a commit not copied into the outbox yet (the engine names its delivery) */
  delivery_id: string | null;
  state: "pending" | "delivered";
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  next_at: number;
  delivered_at: string | null;
  created_at: string;
};

export interface OutboxStore {
  /**
   * At most `limit` commits due to the webhook after its copied position, looking at no more than `scan`
   * commits; null when the webhook is not stored (deleted).
   */
  uncopied(roomId: string, webhookId: string, limit: number, scan: number): Promise<Uncopied | null>;
  /**
   * Copies deliveries into the outbox and moves the webhook's copied position to `to` (never back); rows at
   * or before the position (another process copied them) and rows of a webhook registered anew are skipped.
   */
  copy(roomId: string, webhookId: string, rows: OutboxRow[], to: number): Promise<void>;
  /**
   * Enabled webhooks whose oldest pending row is due at `now` and unclaimed, expired or claimed by `me`, and
   * those with commits to copy (one within `scan` commits of their copied position, or more than `scan` to
   * look at).
   */
  due(now: number, me: string, limit: number, scan: number): Promise<DueWebhook[]>;
  /**
   * Claims (for `me`, until `until`) pending rows from the webhook's head — at most `limit.rows`, and no
   * more bodies than `limit.bytes` beyond the first — if the webhook is enabled, its head is due and no other
   * live claim holds it; `marks` are marked and `copy` copied first, in the same transaction (as
   * `delivered` and `copy`).
   */
  claim(
    roomId: string,
    webhookId: string,
    me: string,
    now: number,
    until: number,
    limit: { rows: number; bytes: number },
    copy?: { rows: OutboxRow[]; to: number },
    marks?: { marks: DeliveredMark[]; keep?: number },
  ): Promise<Claim>;
  /** Marks rows delivered (their bodies dropped); with `keep`, deletes all but the newest `keep` delivered. */
  delivered(roomId: string, webhookId: string, marks: DeliveredMark[], keep?: number): Promise<void>;
  /** Counts a failed attempt of the head row; the webhook's other rows claimed by `me` are released. */
  failed(roomId: string, webhookId: string, me: string, f: FailedAttempt): Promise<void>;
  /** How many of the webhook's deliveries are not delivered yet (copied or not). */
  pending(roomId: string, webhookId: string): Promise<number>;
  /** Releases the claims of `me` (on one webhook, or all of them at shutdown). */
  release(me: string, on?: { roomId: string; webhookId: string }): Promise<void>;
  status(roomId: string): Promise<WebhookStatusRow[]>;
  /** The newest `limit` rows of a webhook, newest first. */
  deliveries(roomId: string, webhookId: string, limit: number): Promise<DeliveryRow[]>;
}
