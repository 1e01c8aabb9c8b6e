/**
 * @module engine/tx — one invocation's staged changes. Reads see staged writes first; nothing touches the
 * room until `apply`, which is synchronous, so a predicate and its writes are atomic within the process.
 * A refusal simply drops the Tx. Durability is the registry's (engine/registry.ts commit: group commit).
 */
import type { Caller } from "../auth.ts";
import { CelBudget } from "../cel.ts";
import { type Limits, LOG_RING } from "../config.ts";
import { isGone } from "../timers.ts";
import { indexMessage, replaceMessage } from "./messages.ts";
import {
  type ActionDef,
  actionExpressions,
  type Agent,
  agentBytes,
  type AuditRow,
  type Change,
  definitionBytes,
  type Entry,
  entryBytes,
  entryExpressions,
  entryId,
  type Message,
  messageBytes,
  type Proposal,
  splitEntryId,
  type ViewDef,
  viewExpressions,
  type WebhookDef,
} from "./model.ts";
import { NO_OP, type Op } from "./op.ts";
import { applyWebhookChanges, stageDeliveries } from "./outbox.ts";
import type { Room } from "./room.ts";
import { touchAgents, touchScope } from "./snapshot.ts";
import { storeProposals } from "./proposal_records.ts";

const NONE = Object.freeze([]) as never[];

export class Tx {
  readonly room: Room;
  readonly caller: Caller;
  readonly now: number;
  readonly iso: string;
  readonly limits: Limits;
  /** the request this invocation serves, and its CEL budget */
  readonly op: Op;
  readonly cel: CelBudget;
  entries = new Map<string, Entry | null>();
  newMessages: Message[] = [];
  updatedMessages = new Map<number, Message>();
  actions = new Map<string, ActionDef | null>();
  views = new Map<string, ViewDef | null>();
  agents = new Map<string, Agent>();
  webhooks = new Map<string, WebhookDef | null>();
  newTicks = new Set<string>();
  appendSeq = new Map<string, number>();
  audit: Omit<AuditRow, "seq"> | null = null;
  /** proposals made or decided (proposals.ts) */
  proposals = new Map<string, Proposal>();
  /** audit rows after `audit` in the same commit: an approved action's own run, as its proposer */
  moreAudit: Omit<AuditRow, "seq">[] = [];
  /** the changes of another Tx were taken over, their quotas checked there (`absorb`) */
  absorbed = false;

  constructor(room: Room, caller: Caller, now: number, limits: Limits, op: Op = NO_OP) {
    this.room = room;
    this.caller = caller;
    this.now = now;
    this.iso = new Date(now).toISOString();
    this.limits = limits;
    this.op = op;
    this.cel = op.cel ?? new CelBudget(limits);
  }

  /** The current entry, staged writes first; an entry whose delete-timer fired counts as absent. */
  get(scope: string, key: string): Entry | undefined {
    const id = entryId(scope, key);
    if (this.entries.has(id)) return this.entries.get(id) ?? undefined;
    const e = this.room.getEntry(scope, key);
    if (e && isGone(e.timer, this.now, (t) => this.room.tick(t))) return undefined;
    return e;
  }

  put(e: Entry): void {
    this.entries.set(entryId(e.scope, e.key), e);
  }

  delete(scope: string, key: string): void {
    this.entries.set(entryId(scope, key), null);
  }

  action(id: string): ActionDef | undefined {
    return this.actions.has(id) ? this.actions.get(id) ?? undefined : this.room.actions.get(id);
  }

  view(id: string): ViewDef | undefined {
    return this.views.has(id) ? this.views.get(id) ?? undefined : this.room.views.get(id);
  }

  message(seq: number): Message | undefined {
    return this.updatedMessages.get(seq) ?? this.room.messages[seq - 1] ??
      this.newMessages.find((m) => m.seq === seq);
  }

  nextMessageSeq(): number {
    return this.room.messages.length + this.newMessages.length + 1;
  }

  /** Next key of an append-log scope ("1", "2", …): one more than the highest sort_key seen. */
  nextAppendSeq(scope: string): number {
    let n = this.appendSeq.get(scope);
    if (n === undefined) {
      n = 0;
      for (const e of this.room.scopes.get(scope)?.values() ?? []) if ((e.sort_key ?? 0) > n) n = e.sort_key!;
    }
    this.appendSeq.set(scope, ++n);
    return n;
  }

  isEmpty(): boolean {
    return !this.entries.size && !this.newMessages.length && !this.updatedMessages.size &&
      !this.actions.size &&
      !this.views.size && !this.agents.size && !this.proposals.size && !this.webhooks.size;
  }

  /**
   * Takes over everything `other` staged (an approved action run as its proposer, proposals.ts), into a Tx
   * that has staged no writes of its own: both were staged against the same room state.
   */
  absorb(other: Tx): void {
    for (const [k, e] of other.entries) this.entries.set(k, e);
    this.newMessages.push(...other.newMessages);
    for (const [k, m] of other.updatedMessages) this.updatedMessages.set(k, m);
    for (const [k, a] of other.actions) this.actions.set(k, a);
    for (const [k, v] of other.views) this.views.set(k, v);
    for (const [k, a] of other.agents) this.agents.set(k, a);
    for (const t of other.newTicks) this.newTicks.add(t);
    for (const [k, n] of other.appendSeq) this.appendSeq.set(k, n);
    this.absorbed = true;
  }
}

/**
 * Applies a Tx to the room: bumps the commit seq, stamps entries, counts logical ticks, appends the audit
 * row and the change record, and marks all of it dirty for the next flush. Returns the new seq.
 */
export function applyTx(tx: Tx): number {
  const room = tx.room;
  const dirty = room.rt.dirty;
  const seq = ++room.seq;
  const changes: Change[] = [];
  for (const [id, e] of tx.entries) {
    const [scope, key] = splitEntryId(id);
    const old = room.getEntry(scope, key);
    if (old) {
      room.entryCount--;
      room.storedBytes -= entryBytes(old);
    }
    room.expressionCount += entryExpressions(e) - entryExpressions(old);
    if (e) {
      e.seq = seq;
      e.cel = undefined;
      room.scope(scope).set(key, e);
      room.entryCount++;
      room.storedBytes += entryBytes(e);
      changes.push({ scope, key, version: e.version });
      const target = `${scope}.${key}`;
      if (room.ticks.has(target) && !tx.newTicks.has(target)) {
        room.ticks.set(target, room.tick(target) + 1);
        dirty.tick(target);
      }
    } else {
      room.scopes.get(scope)?.delete(key);
      changes.push({ scope, key, version: old?.version ?? 0, deleted: true });
    }
    touchScope(room, scope);
    dirty.entry(id);
  }
  for (const t of tx.newTicks) {
    if (!room.ticks.has(t)) room.ticks.set(t, 0);
    dirty.tick(t);
  }
  for (const m of tx.newMessages) {
    indexMessage(room, m);
    room.storedBytes += messageBytes(m);
    dirty.message(m.seq);
  }
  for (const [s, m] of tx.updatedMessages) {
    const old = room.messages[s - 1];
    if (old) room.storedBytes -= messageBytes(old);
    replaceMessage(room, m);
    room.storedBytes += messageBytes(m);
    dirty.message(s);
  }
  for (const [id, a] of tx.actions) {
    const old = room.actions.get(id);
    if (old) room.storedBytes -= definitionBytes(old);
    room.expressionCount += actionExpressions(a) - actionExpressions(old);
    if (a) room.actions.set(id, a), room.storedBytes += definitionBytes(a);
    else room.actions.delete(id);
    dirty.action(id);
  }
  for (const [id, v] of tx.views) {
    const old = room.views.get(id);
    if (old) room.storedBytes -= definitionBytes(old);
    if (v) room.storedBytes += definitionBytes(v);
    room.expressionCount += viewExpressions(v) - viewExpressions(old);
    if (v) {
      if (!room.views.has(id)) room.viewOrder.push(id);
      room.views.set(id, v);
    } else {
      room.views.delete(id);
      room.viewOrder = room.viewOrder.filter((x) => x !== id);
    }
    dirty.view(id);
  }
  if (tx.agents.size) touchAgents(room);
  for (const [id, a] of tx.agents) {
    const old = room.agents.get(id);
    if (old) room.storedBytes -= agentBytes(old);
    room.storedBytes += agentBytes(a);
    if (old && old.token_hash !== a.token_hash) room.agentByToken.delete(old.token_hash);
    room.agents.set(id, a);
    room.agentByToken.set(a.token_hash, id);
    dirty.agent(id);
  }
  let audit: AuditRow | null = null;
  if (tx.audit) {
    audit = { seq: ++room.auditSeq, ...tx.audit };
    room.auditCount++;
    dirty.addAudit(audit);
  }
  for (const row of tx.moreAudit) {
    room.auditCount++;
    dirty.addAudit({ seq: ++room.auditSeq, ...row });
  }
  const proposals = tx.proposals.size ? storeProposals(room, tx.proposals) : undefined;
  if (tx.webhooks.size) applyWebhookChanges(room, tx.webhooks, seq);
  if (room.hasWebhooks) stageDeliveries(room, tx, seq, audit);
  const messages = [...tx.newMessages.map((m) => m.seq), ...tx.updatedMessages.keys()];
  // many commits (joins) have no changes or messages: one shared empty array (10,000 resident rooms)
  const log = room.rt.log;
  log.push({
    seq,
    changes: changes.length ? changes : NONE,
    messages: messages.length ? messages : NONE,
    audit,
    ...(proposals ? { proposals } : {}),
    ...(tx.agents.size ? { agents: [...tx.agents.keys()] } : {}),
  });
  if (log.length > LOG_RING) log.splice(0, log.length - LOG_RING);
  return seq;
}
