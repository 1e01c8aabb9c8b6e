/**
 * @module engine/quotas — every quota in one place (reference/api.md#limits): per room state entries, bytes, messages
 * (count and rate), agents, actions, views and stored CEL expressions, open waits and feeds (also per
 * process). Checked while a change is staged, so a refusal writes nothing; `429 quota_exceeded {quota,
 * limit, …}` names the quota.
 */
import type { Limits } from "../config.ts";
import { ApiError, type Quota } from "../errors.ts";
import {
  actionExpressions,
  agentBytes,
  definitionBytes,
  entryBytes,
  entryExpressions,
  messageBytes,
  splitEntryId,
  viewExpressions,
} from "./model.ts";
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

/**
 * The quotas a staged change would cross: new entries, agents and messages, stored CEL expressions, and
 * the bytes the room holds (state values, messages, action and view definitions, agents' meta: what
 * `room.storedBytes` counts). Checked for every invocation and every join or PATCH; growth is refused,
 * shrinking never is.
 */
export function checkQuotas(tx: Tx): void {
  const room = tx.room;
  let added = 0;
  let bytes = 0;
  let expressions = 0;
  for (const [id, e] of tx.entries) {
    const [scope, key] = splitEntryId(id);
    const old = room.getEntry(scope, key);
    if (e && !old) added++;
    bytes += (e ? entryBytes(e) : 0) - (old ? entryBytes(old) : 0);
    expressions += entryExpressions(e) - entryExpressions(old);
  }
  for (const m of tx.newMessages) bytes += messageBytes(m);
  for (const [seq, m] of tx.updatedMessages) {
    const old = room.messages[seq - 1];
    bytes += messageBytes(m) - (old ? messageBytes(old) : 0);
  }
  for (const [id, a] of tx.actions) {
    const old = room.actions.get(id);
    bytes += (a ? definitionBytes(a) : 0) - (old ? definitionBytes(old) : 0);
    expressions += actionExpressions(a) - actionExpressions(old);
  }
  for (const [id, v] of tx.views) {
    const old = room.views.get(id);
    bytes += (v ? definitionBytes(v) : 0) - (old ? definitionBytes(old) : 0);
    expressions += viewExpressions(v) - viewExpressions(old);
  }
  let joined = 0;
  for (const [id, a] of tx.agents) {
    const old = room.agents.get(id);
    if (!old) joined++;
    bytes += agentBytes(a) - (old ? agentBytes(old) : 0);
  }
  const l = tx.limits;
  if (expressions > 0 && room.expressionCount + expressions > l.roomMaxExpressions) {
    throw exceeded(
      "room_expressions",
      l.roomMaxExpressions,
      `this room is limited to ${l.roomMaxExpressions} stored CEL expressions (it holds ${room.expressionCount})`,
      { stored: room.expressionCount },
    );
  }
  if (added && room.entryCount + added > l.roomMaxEntries) {
    throw exceeded(
      "room_entries",
      l.roomMaxEntries,
      `this room is limited to ${l.roomMaxEntries} state entries`,
    );
  }
  if (joined && room.agents.size + joined > l.roomMaxAgents) {
    throw exceeded("room_agents", l.roomMaxAgents, `this room is limited to ${l.roomMaxAgents} agents`);
  }
  if (tx.newMessages.length && room.messages.length + tx.newMessages.length > l.roomMaxMessages) {
    throw exceeded(
      "room_messages",
      l.roomMaxMessages,
      `this room is limited to ${l.roomMaxMessages} messages`,
      { stored: room.messages.length },
    );
  }
  if (bytes > 0 && room.storedBytes + bytes > l.roomMaxBytes) {
    throw exceeded(
      "room_bytes",
      l.roomMaxBytes,
      `this room is limited to ${l.roomMaxBytes} bytes (state, messages, definitions, agents' meta)`,
      { stored: room.storedBytes },
    );
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
  counts: {
    entries?: number;
    actions?: number;
    views?: number;
    agents?: number;
    messages?: number;
    bytes?: number;
    expressions?: number;
    pendingProposals?: number;
  },
): void {
  const over = (quota: Quota, what: string, n: number | undefined, limit: number) => {
    if (n !== undefined && n > limit) {
      throw exceeded(quota, limit, `the snapshot has ${n} ${what}; the limit is ${limit}`);
    }
  };
  over("room_entries", "state entries", counts.entries, l.roomMaxEntries);
  over("room_actions", "actions", counts.actions, l.roomMaxActions);
  over("room_views", "views", counts.views, l.roomMaxViews);
  over("room_agents", "agents", counts.agents, l.roomMaxAgents);
  over("room_messages", "messages", counts.messages, l.roomMaxMessages);
  over("room_bytes", "bytes (state, messages, definitions, agents' meta)", counts.bytes, l.roomMaxBytes);
  over("room_expressions", "stored CEL expressions", counts.expressions, l.roomMaxExpressions);
  over("room_pending_proposals", "pending proposals", counts.pendingProposals, l.roomMaxPendingProposals);
}

/**
 * Blocked waiters and open change feeds, per room and in the whole process (`SYNC_ROOM_MAX_WAITERS`,
 * `SYNC_MAX_WAITERS`): each holds memory and is re-evaluated on every commit of its room.
 */
export class ListenerQuota {
  #perRoom = new Map<string, number>();
  #total = 0;

  /** Takes one place (`429 quota_exceeded` when none is left); the returned function gives it back once. */
  admit(l: Limits, roomId: string): () => void {
    const inRoom = this.#perRoom.get(roomId) ?? 0;
    if (inRoom >= l.roomMaxWaiters) {
      throw exceeded(
        "room_waiters",
        l.roomMaxWaiters,
        `this room already has ${l.roomMaxWaiters} open waits and feeds; retry later`,
      );
    }
    if (this.#total >= l.maxWaiters) {
      throw exceeded("waiters", l.maxWaiters, `this server already has ${l.maxWaiters} open waits and feeds`);
    }
    this.#perRoom.set(roomId, inRoom + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const n = (this.#perRoom.get(roomId) ?? 1) - 1;
      if (n > 0) this.#perRoom.set(roomId, n);
      else this.#perRoom.delete(roomId);
    };
  }
}
