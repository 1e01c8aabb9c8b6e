/**
 * @module engine/outbox_copy — the commits a webhook's history headers name (outbox.ts marks them), copied
 * into its outbox with the body each delivery signs and sends, built from the history rows the commit
 * wrote. The delivery loop copies as it claims (one transaction); retention copies before history goes.
 * Off the commit path: under load the loop holds back (webhook_delivery.ts), and so does this.
 */
import { createHash } from "node:crypto";
import { WEBHOOK_CLAIM_ROWS, WEBHOOK_COPY_SCAN } from "../config.ts";
import { type CommitHead, HISTORY } from "./history_rows.ts";
import { messageView } from "./messages.ts";
import type { CommitKind, HistoryRow, OutboxRow } from "./model.ts";
import type { HookMeta } from "./outbox.ts";
import type { RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";

/** A delivery's id: the same for every attempt, and for every process that copies it. */
export function deliveryId(roomId: string, webhookId: string, registered: number, seq: number): string {
  const h = createHash("sha256").update(`${roomId}\u0000${webhookId}\u0000${registered}\u0000${seq}`);
  return `dlv_${h.digest("hex").slice(0, 32)}`;
}

/** The next commits due to a webhook, built as outbox rows: to copy up to `to` (of the room's `latest`). */
export type Copy = { rows: OutboxRow[]; to: number; latest: number };

/**
 * The next commits (at most WEBHOOK_CLAIM_ROWS, looking at no more than WEBHOOK_COPY_SCAN) due to the webhook
 * and not in its outbox, with their bodies; null when there is nothing to look at (or it was deleted).
 */
export async function nextCopy(rooms: RoomRegistry, roomId: string, webhookId: string): Promise<Copy | null> {
  const u = await rooms.outbox.uncopied(roomId, webhookId, WEBHOOK_CLAIM_ROWS, WEBHOOK_COPY_SCAN);
  if (!u || u.to <= u.from) return null;
  const room = u.commits.some((c) => c.head.writes?.some((w) => w[0] === HISTORY.messages))
    ? await rooms.freshIfAny(roomId)
    : undefined;
  const rows = u.commits.map((c) => ({
    webhook_id: webhookId,
    seq: c.head.seq,
    delivery_id: deliveryId(roomId, webhookId, u.registered, c.head.seq),
    body: JSON.stringify(deliveryBody(roomId, room, c.head, c.rows)),
  }));
  return { rows, to: u.to, latest: u.latest };
}

/** Copies every commit due to the webhook up to commit `through` into its outbox (retention, before trimming). */
export async function copyDeliveries(
  rooms: RoomRegistry,
  roomId: string,
  webhookId: string,
  through: number,
): Promise<void> {
  for (;;) {
    const c = await nextCopy(rooms, roomId, webhookId);
    if (!c) return;
    await rooms.outbox.copy(roomId, webhookId, c.rows, c.to);
    if (c.to >= Math.min(c.latest, through)) return;
  }
}

/**
 * What a delivery says (reference/api.md "Webhooks"): the commit with every value it wrote — everything the
 * room token may read, since only the room token registers webhooks. Its messages are as the room at that
 * commit shows them (claimed only if the claim was then).
 */
export function deliveryBody(roomId: string, room: Room | undefined, head: HistoryRow, rows: HistoryRow[]) {
  const h = head.value as CommitHead;
  const meta: HookMeta = head.hook_meta ? JSON.parse(head.hook_meta) : {};
  const writes = [], agents = [], actions = [], views = [];
  for (const r of rows) {
    if (r.scope === HISTORY.agent) agents.push(r.key);
    else if (r.scope === HISTORY.action) actions.push(r.key);
    else if (r.scope === HISTORY.view) views.push(r.key);
    else if (r.scope.startsWith("#")) continue; // ticks, leases, proposals: not reported
    else if (r.value === undefined) writes.push({ scope: r.scope, key: r.key, deleted: true });
    else writes.push({ scope: r.scope, key: r.key, version: r.version, value: r.value });
  }
  const messages = [];
  let sent = false;
  for (const [scope, key] of head.writes ?? []) {
    if (scope !== HISTORY.messages) continue;
    sent = true;
    const m = room?.messages[Number(key) - 1];
    if (!m) continue;
    const claimedLater = (m.claim_seq ?? 0) > head.seq;
    messages.push(messageView(claimedLater ? { ...m, claimed_by: null, claimed_at: null } : m));
  }
  const kinds: CommitKind[] = [];
  if (writes.length) kinds.push("state");
  if (sent) kinds.push("message");
  if (agents.length) kinds.push("agent");
  if (actions.length || views.length) kinds.push("definition");
  return {
    room: roomId,
    seq: head.seq,
    ts: head.updated_at,
    agent: h.agent,
    action: meta.unaudited ? null : h.action,
    kinds,
    writes,
    messages,
    agents,
    definitions: { actions, views },
    traceparent: meta.traceparent ?? null,
  };
}
