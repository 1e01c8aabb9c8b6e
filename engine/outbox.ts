/**
 * @module engine/outbox — webhooks as a commit-time effect (called from tx.ts applyTx): a commit's webhook
 * registrations applied to the room, and one outbox row per webhook the commit matches, staged in
 * `room.rt.dirty` so the commit's own batch writes it. Nothing is sent here (webhook_delivery.ts sends).
 */
import { messageView } from "./messages.ts";
import type { AuditRow, CommitKind, Entry, Message, WebhookDef, WebhookEvents } from "./model.ts";
import type { Op } from "./op.ts";
import type { Room } from "./room.ts";

/** The parts of a commit a delivery describes (a Tx has them all). */
export type CommitParts = {
  readonly now: number;
  readonly iso: string;
  readonly caller: { readonly id: string };
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
      // its deliveries go: those stored, and those staged by earlier commits of this flush
      (dirty.purged ??= new Set()).add(id);
      if (dirty.outbox) dirty.outbox = dirty.outbox.filter((d) => d.webhook_id !== id);
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
 * Stages one outbox row per enabled webhook the commit matches. A refused invocation (its audit row is all
 * it wrote) is never delivered. The body is built once per commit and shared by the rows.
 */
export function stageDeliveries(room: Room, c: CommitParts, seq: number, audit: AuditRow | null): void {
  if (audit && !audit.ok) return;
  const kinds = commitKinds(c);
  if (!kinds.length) return;
  let body: string | undefined;
  for (const w of room.webhooks.values()) {
    if (w.disabled || !matches(w.events, kinds, c, audit)) continue;
    body ??= JSON.stringify(deliveryBody(room, c, seq, kinds, audit));
    room.rt.dirty.addOutbox({
      webhook_id: w.id,
      seq,
      delivery_id: `dlv_${crypto.randomUUID().replaceAll("-", "")}`,
      body,
    });
  }
}

/**
 * What a delivery says (reference/api.md "Webhooks"): the commit with every value it wrote — everything the
 * room token may read, since only the room token registers webhooks.
 */
function deliveryBody(room: Room, c: CommitParts, seq: number, kinds: CommitKind[], audit: AuditRow | null) {
  const writes = [];
  for (const [id, e] of c.entries) {
    const at = id.indexOf("\u0000");
    const scope = id.slice(0, at), key = id.slice(at + 1);
    writes.push(e ? { scope, key, version: e.version, value: e.value } : { scope, key, deleted: true });
  }
  return {
    room: room.id,
    seq,
    ts: c.iso,
    agent: audit?.agent ?? c.caller.id,
    action: audit?.action ?? null,
    kinds,
    writes,
    messages: [...c.newMessages, ...c.updatedMessages.values()].map(messageView),
    agents: [...c.agents.keys()],
    definitions: { actions: [...c.actions.keys()], views: [...c.views.keys()] },
    traceparent: c.op.traceparent ?? null,
  };
}
