/**
 * @module engine/outbox — webhooks as a commit-time effect (called from tx.ts applyTx): a commit's webhook
 * registrations applied to the room, and the webhooks the commit matches named in its history header, which
 * the commit's own batch writes: the history is the outbox. Nothing is built or sent here: the delivery
 * loop copies the commits into each webhook's outbox (outbox_copy.ts) and sends them (webhook_delivery.ts).
 * A separate outbox row per commit cost a sixth of an invocation at small batches (bench/README.md).
 */
import type { AuditRow, CommitKind, Entry, HistoryRow, Message, WebhookDef, WebhookEvents } from "./model.ts";
import type { Op } from "./op.ts";
import type { Room } from "./room.ts";

/** The parts of a commit a delivery describes (a Tx has them all). */
export type CommitParts = {
  readonly op: Op;
  entries: Map<string, Entry | null>;
  newMessages: Message[];
  updatedMessages: Map<number, Message>;
  agents: Map<string, unknown>;
  actions: Map<string, unknown>;
  views: Map<string, unknown>;
  /** audit rows beside the invocation's own (an approved action run by the approval completing it) */
  readonly moreAudit?: readonly { action: string; ok: boolean }[];
};

/** Kinds a webhook hears when it names none: what most receivers want, not every heartbeat. */
export const DEFAULT_KINDS: readonly CommitKind[] = ["state", "message"];

/** Registrations (a def) and deletions (null) of one commit; a new registration is stamped with `seq`. */
export function applyWebhookChanges(room: Room, changes: Map<string, WebhookDef | null>, seq: number): void {
  const dirty = room.rt.dirty;
  for (const [id, def] of changes) {
    dirty.webhook(id);
    if (!def) {
      room.webhooks.delete(id);
      // its stored deliveries go; headers that named it stay, older than any registration again
      (dirty.purged ??= new Set()).add(id);
      continue;
    }
    if (def.seq === undefined) {
      def.seq = seq;
      (dirty.rearmed ??= new Set()).add(id);
    }
    room.webhooks.set(id, def);
  }
}

/** What a commit is, for `events.kinds`: empty for one that changed nothing a webhook reports. */
export function commitKinds(c: CommitParts): CommitKind[] {
  const kinds: CommitKind[] = [];
  if (c.entries.size) kinds.push("state");
  if (c.newMessages.length || c.updatedMessages.size) kinds.push("message");
  if (c.agents.size) kinds.push("agent");
  if (c.actions.size || c.views.size) kinds.push("definition");
  return kinds;
}

/**
 * Whether a commit is delivered to a webhook: it has one of the webhook's kinds, and — where the webhook
 * names them — it wrote one of its scopes (`_messages`: it created or claimed a message) and it was an
 * invocation of one of its actions (or ran one: an approval completing a proposal runs its action).
 */
export function matches(
  events: WebhookEvents | null,
  kinds: CommitKind[],
  c: CommitParts,
  audit: AuditRow | null,
): boolean {
  const wanted = events?.kinds ?? DEFAULT_KINDS;
  if (!kinds.some((k) => wanted.includes(k))) return false;
  if (events?.actions) {
    const ran = (a: string) => audit?.action === a || !!c.moreAudit?.some((m) => m.ok && m.action === a);
    if (!events.actions.some(ran)) return false;
  }
  if (events?.scopes) {
    const scopes = events.scopes;
    let hit = kinds.includes("message") && scopes.includes("_messages");
    for (const id of c.entries.keys()) {
      if (hit) break;
      hit = scopes.includes(id.slice(0, id.indexOf("\u0000")));
    }
    if (!hit) return false;
  }
  return true;
}

/**
 * What a delivery says that its commit's history does not: an unaudited commit (a timer, a lease lapsing,
 * the server) has no action; the invocation's traceparent. Null in the common case.
 */
export type HookMeta = { unaudited?: true; traceparent?: string };

/**
 * Names, in the commit's history header, every enabled webhook the commit matches (`hooks`: " w1 w2 ", ids
 * hold no space), and tells the flush which they are. A refused invocation (its audit row is all it wrote)
 * is never delivered.
 */
export function markDeliveries(room: Room, c: CommitParts, audit: AuditRow | null, header: HistoryRow): void {
  if (audit && !audit.ok) return;
  const kinds = commitKinds(c);
  if (!kinds.length) return;
  let hooks = "";
  for (const w of room.webhooks.values()) {
    if (w.disabled || !matches(w.events, kinds, c, audit)) continue;
    hooks += ` ${w.id}`;
    room.rt.dirty.hook(w.id);
  }
  if (!hooks) return;
  header.hooks = `${hooks} `;
  const meta: HookMeta = {};
  if (!audit) meta.unaudited = true;
  if (c.op.traceparent) meta.traceparent = c.op.traceparent;
  if (meta.unaudited || meta.traceparent) header.hook_meta = JSON.stringify(meta);
}
