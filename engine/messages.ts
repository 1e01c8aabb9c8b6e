/**
 * @module engine/messages — the `_messages` log (reference/api.md#_send_message): appending with per-room seq, the unread and
 * directed-unread counts per agent, listing with filters, the message object as the API shows it, and the
 * log as CEL reads it (`state._messages`, kept up to date per message).
 */
import { toCel } from "../cel.ts";
import type { Message } from "./model.ts";
import type { Room } from "./room.ts";

/** Adds a message to the room's log and its per-agent indexes (seq must be the next one). */
export function indexMessage(room: Room, m: Message): void {
  room.messages.push(m);
  if (m.from) push(room.ownSeqs, m.from, m.seq);
  for (const to of recipients(m)) if (to !== m.from) push(room.directedSeqs, to, m.seq);
  const cel = room.rt.messagesCel;
  if (cel) cel[String(m.seq)] = toCel(messageView(m));
}

/** A message changed in place (claimed). */
export function replaceMessage(room: Room, m: Message): void {
  room.messages[m.seq - 1] = m;
  const cel = room.rt.messagesCel;
  if (cel) cel[String(m.seq)] = toCel(messageView(m));
}

/**
 * `state._messages` in CEL, `{"<seq>": message}`: converted once per message when first read, then kept
 * current by appends and claims (a long log is not rebuilt per evaluation).
 */
export function messagesCel(room: Room): Record<string, unknown> {
  let cel = room.rt.messagesCel;
  if (!cel) {
    cel = {};
    for (const m of room.messages) cel[String(m.seq)] = toCel(messageView(m));
    room.rt.messagesCel = cel;
  }
  return cel;
}

export function recipients(m: Message): string[] {
  if (m.to === null || m.to === undefined) return [];
  return Array.isArray(m.to) ? m.to : [m.to];
}

function push(map: Map<string, number[]>, k: string, seq: number) {
  const a = map.get(k);
  if (a) a.push(seq);
  else map.set(k, [seq]);
}

/** How many of `sorted` are greater than `after` (binary search). */
function countAfter(sorted: number[] | undefined, after: number): number {
  if (!sorted?.length) return 0;
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

/** Unread: messages after the agent's read marker, not counting its own. */
export function messageCounts(room: Room, agentId: string | null, lastSeen: number) {
  const count = room.messages.length;
  if (agentId === null) return { count, unread: 0, directed_unread: 0 };
  const after = Math.max(0, count - lastSeen);
  return {
    count,
    unread: after - countAfter(room.ownSeqs.get(agentId), lastSeen),
    directed_unread: countAfter(room.directedSeqs.get(agentId), lastSeen),
  };
}

/** The message as every endpoint shows it. */
export function messageView(m: Message): Record<string, unknown> {
  return {
    seq: m.seq,
    ...(m.extra ?? {}),
    from: m.from,
    kind: m.kind,
    body: m.body,
    to: m.to,
    reply_to: m.reply_to,
    claimed_by: m.claimed_by,
    claimed_at: m.claimed_at,
    ts: m.ts,
  };
}

/** Messages with seq > after, oldest first, at most `limit` (forward paging without gaps). */
export function messagesAfter(room: Room, after: number, limit: number): Message[] {
  return room.messages.slice(Math.max(0, after), Math.max(0, after) + limit);
}

/** The newest `limit` messages, oldest first. */
export function recentMessages(room: Room, limit: number): Message[] {
  return room.messages.slice(Math.max(0, room.messages.length - limit));
}

export type MessageFilter = {
  after?: number;
  kind?: string;
  thread?: number;
  unclaimed?: boolean;
  limit: number;
};

/** Messages oldest first: after a seq, of a kind, of one thread (the message and its replies), unclaimed. */
export function filterMessages(room: Room, f: MessageFilter): Message[] {
  const out: Message[] = [];
  for (const m of room.messages) {
    if (out.length >= f.limit) break;
    if (f.thread !== undefined && m.seq !== f.thread && m.reply_to !== f.thread) continue;
    if (f.after !== undefined && m.seq <= f.after) continue;
    if (f.kind !== undefined && m.kind !== f.kind) continue;
    if (f.unclaimed && m.claimed_by !== null) continue;
    out.push(m);
  }
  return out;
}
