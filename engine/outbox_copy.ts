/**
 * @module engine/outbox_copy — the commits a webhook's history headers name (outbox.ts marks them), copied
 * into its outbox with the body each delivery signs and sends, built from the history rows the commit
 * wrote. The delivery loop copies before it claims; retention copies before history goes. Off the commit
 * path: under load the loop holds back (webhook_delivery.ts), and so does this.
 */
import { createHash } from "node:crypto";
import { WEBHOOK_CLAIM_ROWS, WEBHOOK_COPY_SCAN } from "../config.ts";
import { ApiError } from "../errors.ts";
import { type CommitHead, HISTORY } from "./history_rows.ts";
import { messageView } from "./messages.ts";
import type { CommitKind, HistoryRow } from "./model.ts";
import type { HookMeta } from "./outbox.ts";
import type { RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";

/** A delivery's id: the same for every attempt, and for every process that copies it. */
export function deliveryId(roomId: string, webhookId: string, registered: number, seq: number): string {
  const h = createHash("sha256").update(`${roomId}\u0000${webhookId}\u0000${registered}\u0000${seq}`);
  return `dlv_${h.digest("hex").slice(0, 32)}`;
}

/**
 * Copies commits due to the webhook into its outbox: the next WEBHOOK_CLAIM_ROWS (or as far as the room's
 * latest commit, if fewer are due), or — with `through` — every one up to that commit.
 */
export async function copyDeliveries(
  rooms: RoomRegistry,
  roomId: string,
  webhookId: string,
  through?: number,
): Promise<void> {
  for (;;) {
    const u = await rooms.outbox.uncopied(roomId, webhookId, WEBHOOK_CLAIM_ROWS, WEBHOOK_COPY_SCAN);
    if (!u || u.to <= u.from) return; // deleted, or nothing to look at
    const room = u.commits.some((c) => c.head.writes?.some((w) => w[0] === HISTORY.messages))
      ? await rooms.fresh(roomId).catch((e) => {
        if (e instanceof ApiError && e.code === "room_not_found") return undefined;
        throw e;
      })
      : undefined;
    const rows = u.commits.map((c) => ({
      webhook_id: webhookId,
      seq: c.head.seq,
      delivery_id: deliveryId(roomId, webhookId, u.registered, c.head.seq),
      body: JSON.stringify(deliveryBody(roomId, room, c.head, c.rows)),
    }));
    await rooms.outbox.copy(roomId, webhookId, rows, u.to);
    const end = Math.min(u.latest, through ?? Infinity);
    if (u.to >= end || (through === undefined && rows.length)) return;
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
