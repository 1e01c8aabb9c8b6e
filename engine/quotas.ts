/**
 * @module engine/quotas — every per-room quota in one place (SPEC §13): state entries and bytes, messages
 * per second, actions and views. Checked while an invocation is staged, so a refusal writes nothing;
 * `429 quota_exceeded {quota, limit, …}` always names the quota.
 */
import type { Limits } from "../config.ts";
import { ApiError, type Quota } from "../errors.ts";
import { entryBytes } from "./model.ts";
import type { Room } from "./room.ts";
import type { Tx } from "./tx.ts";

export function exceeded(
  quota: Quota,
  limit: number,
  message: string,
  extra: { stored?: number; retry_after_ms?: number } = {},
) {
  return new ApiError("quota_exceeded", message, { quota, limit, ...extra });
}

/** The quotas a staged invocation would cross: new entries, stored bytes, messages per second. */
export function checkQuotas(tx: Tx): void {
  const room = tx.room;
  let added = 0;
  let bytes = 0;
  for (const [id, e] of tx.entries) {
    const [scope, key] = id.split("\u0000");
    const old = room.getEntry(scope, key);
    if (e && !old) added++;
    bytes += (e ? entryBytes(e) : 0) - (old ? entryBytes(old) : 0);
  }
  const l = tx.limits;
  if (added && room.entryCount + added > l.roomMaxEntries) {
    throw exceeded(
      "room_entries",
      l.roomMaxEntries,
      `this room is limited to ${l.roomMaxEntries} state entries`,
    );
  }
  if (bytes > 0 && room.storedBytes + bytes > l.roomMaxBytes) {
    throw exceeded("room_bytes", l.roomMaxBytes, `this room is limited to ${l.roomMaxBytes} bytes of state`, {
      stored: room.storedBytes,
    });
  }
  if (tx.newMessages.length) checkMessageRate(room, tx);
}

/** Messages per room per second: a token bucket holding one second's worth, on the engine clock. */
function checkMessageRate(room: Room, tx: Tx): void {
  const rate = tx.limits.roomMessagesPerSec;
  if (!rate) return;
  const burst = Math.max(1, rate);
  const b = room.rt.messageBucket ??= { tokens: burst, at: tx.now };
  b.tokens = Math.min(burst, b.tokens + (Math.max(0, tx.now - b.at) / 1000) * rate);
  b.at = tx.now;
  const n = tx.newMessages.length;
  if (b.tokens < n) {
    const retry = Math.ceil(((n - b.tokens) / rate) * 1000);
    throw exceeded(
      "room_messages_per_sec",
      rate,
      `this room takes at most ${rate} messages per second; retry in ${retry} ms`,
      {
        retry_after_ms: retry,
      },
    );
  }
  b.tokens -= n;
}

/** A new action or view definition beyond the room's count. */
export function checkDefinitionQuota(tx: Tx, what: "actions" | "views"): void {
  const [n, limit, quota] = what === "actions"
    ? [tx.room.actions.size, tx.limits.roomMaxActions, "room_actions" as const]
    : [tx.room.views.size, tx.limits.roomMaxViews, "room_views" as const];
  if (n >= limit) throw exceeded(quota, limit, `this room already has ${limit} ${what}`);
}

/** A room snapshot (import) over the quotas a room may hold. */
export function checkSnapshotQuotas(
  l: Limits,
  counts: { entries?: number; actions?: number; views?: number; bytes?: number; pendingProposals?: number },
): void {
  const over = (quota: Quota, what: string, n: number | undefined, limit: number) => {
    if (n !== undefined && n > limit) {
      throw exceeded(quota, limit, `the snapshot has ${n} ${what}; the limit is ${limit}`);
    }
  };
  over("room_entries", "state entries", counts.entries, l.roomMaxEntries);
  over("room_actions", "actions", counts.actions, l.roomMaxActions);
  over("room_views", "views", counts.views, l.roomMaxViews);
  over("room_bytes", "bytes of state", counts.bytes, l.roomMaxBytes);
  over("room_pending_proposals", "pending proposals", counts.pendingProposals, l.roomMaxPendingProposals);
}
