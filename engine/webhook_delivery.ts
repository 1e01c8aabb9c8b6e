/**
 * @module engine/webhook_delivery — a process's one delivery loop. Told of new deliveries once their commit
 * is durable (registry `onOutbox`), and asking storage at start and every `webhookPollMs` (commits of other
 * processes and of earlier runs), it copies each webhook's commits into its outbox (outbox_copy.ts), claims
 * its oldest pending rows and POSTs them in seq order, signed; a failure blocks only that webhook and is
 * retried with jittered exponential backoff; repeated failure disables the webhook (a room commit). Never
 * inside a commit; bounded concurrency and timeouts.
 */
import { createHmac } from "node:crypto";
import { setImmediate } from "node:timers";
import type { Caller } from "../auth.ts";
import {
  type Limits,
  WEBHOOK_BUSY_GAP_MS,
  WEBHOOK_BUSY_LAG_MS,
  WEBHOOK_CLAIM_BYTES,
  WEBHOOK_CLAIM_ROWS,
  WEBHOOK_COPY_SCAN,
  WEBHOOK_DELIVERIES_KEPT,
  WEBHOOK_MARK_EVERY,
  WEBHOOK_MARK_LINGER_MS,
} from "../config.ts";
import { EgressRefused, type Resolver, resolveTarget, systemResolver } from "../egress.ts";
import { HttpClient } from "../http_client.ts";
import type { DeliveredMark } from "./model.ts";
import { nextCopy } from "./outbox_copy.ts";
import type { RoomRegistry } from "./registry.ts";
import { applyTx, Tx } from "./tx.ts";

export type DeliveryOptions = {
  /** name resolution of webhook hosts (tests inject one); the system's by default */
  resolve?: Resolver;
  /** extra root certificates for https targets (tests) */
  caCerts?: string[];
};

type Worker = {
  /** deliveries were added while it ran: claim again before stopping */
  more: boolean;
  /** undelivered rows when last counted, and when that was (performance.now()) */
  backlog: number;
  countedAt: number;
  /** ends a back-off sleep early (the webhook was registered again) */
  wake?: () => void;
  done?: Promise<void>;
};

/** A claimed row, as one worker uses it. */
type Row = Awaited<ReturnType<RoomRegistry["outbox"]["claim"]>>["rows"][number];

/** What the loop uses of the engine (which owns the loop: a shape here, not an import back). */
export type DeliveryHost = { readonly rooms: RoomRegistry; readonly limits: Limits; now(): number };
type Attempt = { ok: true; status: number } | { ok: false; status: number | null; error: string };

const SYSTEM: Caller = { kind: "admin", id: "admin" };
const CLAIM = { rows: WEBHOOK_CLAIM_ROWS, bytes: WEBHOOK_CLAIM_BYTES };
const enc = new TextEncoder();

export class WebhookDeliverer {
  readonly #eng: DeliveryHost;
  readonly #resolve: Resolver;
  readonly #http: HttpClient;
  /** this process, as its claims name it */
  readonly #me = `proc_${crypto.randomUUID()}`;
  readonly #workers = new Map<string, Worker>();
  /** per webhook, rows marked delivered since its kept ones were last trimmed */
  readonly #marked = new Map<string, number>();
  /** per webhook, delivered rows not marked in storage yet (`#mark`) */
  readonly #unmarked = new Map<
    string,
    { roomId: string; webhookId: string; marks: DeliveredMark[]; timer?: ReturnType<typeof setTimeout> }
  >();
  /** webhooks whose head could not be claimed: new rows do not retry it before this (the poll does) */
  readonly #blockedUntil = new Map<string, number>();
  readonly #stop = new AbortController();
  #free: number;
  #queue: (() => void)[] = [];
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #scan: Promise<void> | undefined;
  #pokes: (() => void)[] = [];
  /** when the last attempt started while the thread was busy */
  #busyAt = 0;
  #started = false;
  #closed = false;

  constructor(eng: DeliveryHost, o: DeliveryOptions = {}) {
    this.#eng = eng;
    this.#resolve = o.resolve ?? systemResolver;
    this.#http = new HttpClient({ caCerts: o.caCerts });
    this.#free = eng.limits.webhookConcurrency;
  }

  /** Starts delivering: at once what storage holds (every room, in memory or not), then as told and polled. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#poll(0);
  }

  /**
   * After a durable commit: `added` webhooks got deliveries, `rearmed` ones were registered again. Acted on
   * in the next macrotask, once the commit's writers are answered (a claim is a statement on this thread).
   */
  poke(roomId: string, added: Iterable<string>, rearmed: Iterable<string>): void {
    if (!this.#started || this.#closed) return;
    if (!this.#pokes.length) setImmediate(() => this.#pokes.splice(0).forEach((p) => p()));
    this.#pokes.push(() => this.#poked(roomId, added, rearmed));
  }

  #poked(roomId: string, added: Iterable<string>, rearmed: Iterable<string>): void {
    if (this.#closed) return;
    for (const id of rearmed) {
      const w = this.#workers.get(keyOf(roomId, id));
      if (w) (w.more = true, w.wake?.());
      else this.#spawn(roomId, id);
    }
    const now = this.#eng.now();
    for (const id of added) {
      const key = keyOf(roomId, id);
      const w = this.#workers.get(key);
      if (w) w.more = true;
      else if ((this.#blockedUntil.get(key) ?? 0) <= now) this.#spawn(roomId, id);
    }
  }

  /** Stops: in-flight requests are abandoned (their rows stay pending), claims released for the next run. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    this.#stop.abort();
    for (const release of this.#queue.splice(0)) release();
    await this.#scan;
    await Promise.all([...this.#workers.values()].map((w) => w.done));
    for (const u of [...this.#unmarked.values()]) {
      await this.#writeMarks(u.roomId, u.webhookId).catch(() => {/* sent again after the restart */});
    }
    if (this.#started) await this.#eng.rooms.outbox.release(this.#me).catch(() => {});
    this.#http.close();
  }

  #poll(delay: number): void {
    this.#pollTimer = setTimeout(() => {
      this.#scan = this.#scanDue().finally(() => {
        this.#scan = undefined;
        if (!this.#closed) this.#poll(this.#eng.limits.webhookPollMs);
      });
    }, delay);
  }

  async #scanDue(): Promise<void> {
    try {
      const due = await this.#eng.rooms.outbox.due(this.#eng.now(), this.#me, 1000, WEBHOOK_COPY_SCAN);
      for (const d of due) this.#spawn(d.room_id, d.webhook_id);
    } catch (e) {
      if (!this.#closed) console.error("webhook delivery: reading the outbox failed:", e);
    }
  }

  #spawn(roomId: string, webhookId: string): void {
    const key = keyOf(roomId, webhookId);
    if (this.#closed || this.#workers.has(key)) return;
    this.#blockedUntil.delete(key);
    const w: Worker = { more: false, backlog: 0, countedAt: -Infinity };
    this.#workers.set(key, w);
    w.done = this.#run(roomId, webhookId, w).catch((e) => {
      if (!this.#closed) console.error(`webhook delivery ${webhookId} of room ${roomId} failed:`, e);
    }).finally(() => {
      this.#workers.delete(key);
      if (w.more) this.#spawn(roomId, webhookId);
    });
  }

  /**
   * One webhook: copy its next commits into its outbox and claim its oldest pending rows (one transaction),
   * deliver them in order, until none is left or one fails.
   */
  async #run(roomId: string, webhookId: string, w: Worker): Promise<void> {
    const l = this.#eng.limits;
    const lease = 2 * l.webhookTimeoutMs + 1000;
    const outbox = this.#eng.rooms.outbox;
    while (!this.#closed) {
      w.more = false;
      const copy = await nextCopy(this.#eng.rooms, roomId, webhookId);
      const now = this.#eng.now();
      const until = now + lease;
      // the marks of what was sent before go in the same transaction as this claim
      const marks = this.#takeMarks(roomId, webhookId);
      const claim = await outbox.claim(
        roomId,
        webhookId,
        this.#me,
        now,
        until,
        CLAIM,
        copy ?? undefined,
        marks,
      );
      if (!claim.webhook) {
        // more to look at (a webhook that hears few of its room's commits), or more committed meanwhile
        if (w.more || (copy && copy.to < copy.latest)) continue;
        // not due yet, or another process holds it: new rows need not ask again before then (the poll will)
        if (claim.retryAt !== null) this.#blockedUntil.set(keyOf(roomId, webhookId), claim.retryAt);
        return;
      }
      // a full claim means a backlog: bounded (a receiver that is down or too slow for the room)
      if (
        claim.rows.length === WEBHOOK_CLAIM_ROWS &&
        await this.#overBacklog(roomId, webhookId, claim.webhook.seq, w)
      ) {
        return;
      }
      if (claim.rows.length < WEBHOOK_CLAIM_ROWS) w.backlog = claim.rows.length;
      const url = new URL(claim.webhook.url);
      let sentAll = true;
      for (const row of claim.rows) {
        await this.#turn(w);
        let r: Attempt;
        try {
          // the claim must outlast the attempt: otherwise claim again (it is still ours) before sending
          if (this.#closed || this.#eng.now() + l.webhookTimeoutMs + 500 > until) {
            sentAll = false;
            break;
          }
          r = await this.#attempt(url, claim.webhook.secret, webhookId, row);
        } finally {
          this.#release();
        }
        if (r.ok) {
          await this.#mark(roomId, webhookId, {
            seq: row.seq,
            status: r.status,
            at: new Date(this.#eng.now()).toISOString(),
          });
          continue;
        }
        sentAll = false;
        await this.#writeMarks(roomId, webhookId);
        if (this.#closed) return;
        const next = await this.#failed(roomId, webhookId, claim.webhook.seq, row, r, lease);
        if (next === undefined) return; // disabled
        // the back-off may be long (10 min): the backlog is looked at every poll interval meanwhile
        while (!this.#closed && this.#eng.now() < next) {
          if (await this.#overBacklog(roomId, webhookId, claim.webhook.seq, w, true)) return;
          if (await this.#sleep(Math.min(next - this.#eng.now(), l.webhookPollMs), w)) break;
        }
        break; // and claim again from the head
      }
      // all sent, nothing left behind and nothing new: done (a claim more, a read and a write, per delivery
      // at low rates); a later commit pokes a new worker
      const caughtUp = !copy || copy.to >= copy.latest;
      if (sentAll && !w.more && caughtUp && claim.rows.length < WEBHOOK_CLAIM_ROWS) return;
    }
  }

  /**
   * Notes a delivered row. Marks are written with the webhook's next claim (one transaction for both: at low
   * rates each delivery is a claim of its own), after WEBHOOK_MARK_LINGER_MS without one, or as soon as
   * WEBHOOK_MARK_EVERY are waiting; a crash before that sends those again (at least once).
   */
  async #mark(roomId: string, webhookId: string, m: DeliveredMark): Promise<void> {
    const key = keyOf(roomId, webhookId);
    let u = this.#unmarked.get(key);
    if (!u) this.#unmarked.set(key, u = { roomId, webhookId, marks: [] });
    u.marks.push(m);
    if (u.marks.length >= WEBHOOK_MARK_EVERY) return await this.#writeMarks(roomId, webhookId);
    u.timer ??= setTimeout(() => {
      this.#writeMarks(roomId, webhookId).catch((e) => {
        if (!this.#closed) {
          console.error(`webhook delivery ${webhookId} of room ${roomId}: marking failed:`, e);
        }
      });
    }, WEBHOOK_MARK_LINGER_MS);
  }

  /**
   * Takes the webhook's waiting marks, with the trim of its kept delivered rows to the newest
   * WEBHOOK_DELIVERIES_KEPT every half of that many marks.
   */
  #takeMarks(roomId: string, webhookId: string): { marks: DeliveredMark[]; keep?: number } | undefined {
    const key = keyOf(roomId, webhookId);
    const u = this.#unmarked.get(key);
    if (!u) return undefined;
    this.#unmarked.delete(key);
    clearTimeout(u.timer);
    const marked = (this.#marked.get(key) ?? 0) + u.marks.length;
    const prune = marked >= WEBHOOK_DELIVERIES_KEPT / 2;
    this.#marked.set(key, prune ? 0 : marked);
    return prune ? { marks: u.marks, keep: WEBHOOK_DELIVERIES_KEPT } : { marks: u.marks };
  }

  async #writeMarks(roomId: string, webhookId: string): Promise<void> {
    const t = this.#takeMarks(roomId, webhookId);
    if (t) await this.#eng.rooms.outbox.delivered(roomId, webhookId, t.marks, t.keep);
  }

  /**
   * Waits for this worker's turn: the server's own work first. While the thread is busy (a macrotask takes
   * longer than WEBHOOK_BUSY_LAG_MS to come round: requests and commits are queued), attempts of all
   * webhooks together start at most every WEBHOOK_BUSY_GAP_MS, so deliveries take a small share of a
   * saturated thread and catch up when it is idle; a webhook whose backlog passed half its bound is not held
   * back (the server's own load must not disable it). Then one of the concurrency slots (released with
   * `#release`).
   */
  async #turn(w: Worker): Promise<void> {
    const yields = w.backlog < this.#eng.limits.webhookMaxPending / 2;
    while (yields && !this.#closed) {
      const t = performance.now();
      await new Promise((r) => setImmediate(r));
      const now = performance.now();
      if (now - t < WEBHOOK_BUSY_LAG_MS) break; // idle enough: go now
      const wait = this.#busyAt + WEBHOOK_BUSY_GAP_MS - now;
      if (wait <= 0) {
        this.#busyAt = now;
        break;
      }
      await this.#sleep(wait, w);
    }
    await this.#slot();
  }

  /** One POST of one delivery; never throws. */
  async #attempt(url: URL, secret: string, webhookId: string, row: Row): Promise<Attempt> {
    const body = enc.encode(row.body);
    const headers: Record<string, string> = {
      host: url.host,
      "user-agent": "agent-sync-webhooks/1",
      "content-type": "application/json",
      "x-sync-signature": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
      "x-sync-delivery": row.delivery_id,
      "x-sync-seq": String(row.seq),
      "x-sync-webhook": webhookId,
      "x-sync-attempt": String(row.attempts + 1),
    };
    if (row.traceparent) headers.traceparent = row.traceparent;
    try {
      const res = await this.#http.post(
        `${url.protocol}//${url.host}`,
        () => resolveTarget(url, this.#resolve, this.#eng.limits.webhookAllowPrivate),
        { path: url.pathname + url.search, headers, body },
        this.#eng.limits.webhookTimeoutMs,
        this.#stop.signal,
      );
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return {
        ok: false,
        status: res.status,
        error: `HTTP ${res.status}${res.reason ? ` ${res.reason}` : ""}`,
      };
    } catch (e) {
      const error = e instanceof EgressRefused ? `refused: ${e.message}` : String((e as Error)?.message ?? e);
      return { ok: false, status: null, error: error.slice(0, 300) };
    }
  }

  /**
   * Counts a failed attempt; returns when the head is due again, or undefined when the webhook was disabled
   * (failures in a row, or failing for too long).
   */
  async #failed(
    roomId: string,
    webhookId: string,
    registered: number,
    row: Row,
    r: Extract<Attempt, { ok: false }>,
    lease: number,
  ): Promise<number | undefined> {
    const l = this.#eng.limits;
    const now = this.#eng.now();
    const failures = row.failures + 1;
    const since = row.failing_since ?? now;
    const next = now + backoff(failures, l.webhookRetryMinMs, l.webhookRetryMaxMs);
    const at = new Date(now).toISOString();
    const outbox = this.#eng.rooms.outbox;
    await outbox.failed(roomId, webhookId, this.#me, {
      seq: row.seq,
      status: r.status,
      error: r.error,
      at,
      now,
      next_at: next,
      until: next + lease,
    });
    if (failures < l.webhookMaxFailures && now - since < l.webhookMaxFailingMs) return next;
    const reason = `${failures} consecutive failed deliveries since ${
      new Date(since).toISOString()
    }; last: ${r.error}`;
    return await this.#disable(roomId, webhookId, registered, reason) ? undefined : now;
  }

  /**
   * Disables a webhook as a room commit (so every process holding the room sees it) and releases its
   * claims; false (nothing done) when it was registered again meanwhile.
   */
  async #disable(roomId: string, webhookId: string, registered: number, reason: string): Promise<boolean> {
    const rooms = this.#eng.rooms;
    const done = await rooms.retrying(async () => {
      const room = await rooms.freshIfAny(roomId);
      const def = room?.webhooks.get(webhookId);
      if (!room || !def || def.disabled) return true; // gone, or disabled already
      if (def.seq !== registered) return false;
      const tx = new Tx(room, SYSTEM, this.#eng.now(), this.#eng.limits);
      tx.label = "_webhook_disabled"; // as the history lists the commit
      tx.webhooks.set(webhookId, { ...def, disabled: { at: tx.iso, reason } });
      applyTx(tx);
      await rooms.commit(room);
      return true;
    });
    if (done) await rooms.outbox.release(this.#me, { roomId, webhookId });
    return done;
  }

  /**
   * Counts the webhook's backlog (at most once per poll interval unless `now`: a count reads every pending
   * row) and disables the webhook if it reached SYNC_WEBHOOK_MAX_PENDING; true when it did.
   */
  async #overBacklog(roomId: string, webhookId: string, registered: number, w: Worker, now = false) {
    const t = performance.now();
    if (!now && t - w.countedAt < this.#eng.limits.webhookPollMs) return false;
    w.countedAt = t;
    const max = this.#eng.limits.webhookMaxPending;
    const n = w.backlog = await this.#eng.rooms.outbox.pending(roomId, webhookId);
    if (n < max) return false;
    return await this.#disable(
      roomId,
      webhookId,
      registered,
      `${n} deliveries undelivered (the limit is ${max})`,
    );
  }

  /** Sleeps `ms`; true when woken early (registered again, or shutdown). */
  #sleep(ms: number, w: Worker): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (early: boolean) => {
        clearTimeout(timer);
        this.#stop.signal.removeEventListener("abort", wake);
        w.wake = undefined;
        resolve(early);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      this.#stop.signal.addEventListener("abort", wake);
      w.wake = wake;
    });
  }

  #slot(): Promise<void> {
    if (this.#free > 0 || this.#closed) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((r) => this.#queue.push(() => (this.#free--, r())));
  }

  #release(): void {
    this.#free++;
    this.#queue.shift()?.();
  }
}

const keyOf = (roomId: string, webhookId: string) => `${roomId}\u0000${webhookId}`;

/** Exponential from `min`, capped at `max`, with jitter: a delay between half and all of it. */
export function backoff(failures: number, min: number, max: number): number {
  const d = Math.min(max, min * 2 ** Math.min(failures - 1, 30));
  return Math.round(d / 2 + Math.random() * (d / 2));
}
