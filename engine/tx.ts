/**
 * @module engine/tx — one invocation's staged changes. Reads see staged writes first; nothing touches the
 * room until `apply`, which is synchronous, so a predicate and its writes are atomic within the process.
 * A refusal simply drops the Tx. Durability is the registry's (engine/registry.ts commit: group commit).
 */
import type { Caller } from "../auth.ts";
import { CelBudget } from "../cel.ts";
import { type Limits, LOG_RING } from "../config.ts";
import { isGone, nextBoundary, type Timer } from "../timers.ts";
import { recordHistory } from "./history_rows.ts";
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
  type Lease,
  type Message,
  messageBytes,
  type Proposal,
  splitEntryId,
  type ViewDef,
  viewExpressions,
  type WebhookDef,
} from "./model.ts";
import { NO_OP, type Op } from "./op.ts";
import { applyWebhookChanges, markDeliveries } from "./outbox.ts";
import type { Room } from "./room.ts";
import { windowOf } from "./liveness.ts";
import { JOB } from "./scheduler.ts";
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
  /** leases acquired, renewed or ended (by entry id) */
  leases = new Map<string, Lease>();
  audit: Omit<AuditRow, "seq"> | null = null;
  /** what a commit that is no invocation is, as the history names it (`_join`, `_patch_agent`, …) */
  label = "_commit";
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

  /** The key's lease record (staged first), held or not. */
  lease(scope: string, key: string): Lease | undefined {
    return this.leases.get(entryId(scope, key)) ?? this.room.getLease(scope, key);
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
      !this.views.size && !this.agents.size && !this.leases.size && !this.proposals.size &&
      !this.webhooks.size;
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
    for (const [k, l] of other.leases) this.leases.set(k, l);
    this.absorbed = true;
  }
}

/**
 * Installs the Tx's leases (acquired, renewed, ended): the room's earliest possible lapse moves to a new
 * lease's, and a lease that changed hands or ended is a change of its entry (`changes`). Returns the
 * messages whose claim changed that way without the message itself being rewritten.
 */
function applyLeases(tx: Tx, changes: Change[]): number[] | undefined {
  const room = tx.room;
  const rt = room.rt;
  let claimsChanged: number[] | undefined;
  for (const [id, l] of tx.leases) {
    const [scope, key] = splitEntryId(id);
    let m = room.leases.get(scope);
    if (!m) room.leases.set(scope, m = new Map());
    const was = m.get(key);
    m.set(key, l);
    rt.dirty.lease(id);
    if (l.holder !== null) {
      // a new or renewed lease lapses a ttl from now at the earliest (its holder just wrote)
      if (tx.now + l.ttl_ms < rt.leaseDue) rt.leaseDue = tx.now + l.ttl_ms;
      if (l.ttl_ms < rt.minTtl) rt.minTtl = l.ttl_ms;
    }
    if (was?.holder === l.holder && was?.epoch === l.epoch) continue;
    if (scope === "_messages") {
      if (!tx.updatedMessages.has(Number(key))) (claimsChanged ??= []).push(Number(key));
    } else if (!tx.entries.has(id)) {
      changes.push({ scope, key, version: room.getEntry(scope, key)?.version ?? 0 });
    }
  }
  rt.earlier(JOB.leases, rt.leaseDue, tx.now);
  return claimsChanged;
}

/** The earlier of `at` and the moment timer `t` next changes liveness. */
function earliest(at: number, t: Timer | null | undefined, now: number): number {
  const b = nextBoundary(t, now);
  return b !== undefined && b < at ? b : at;
}

/**
 * Applies a Tx to the room: bumps the commit seq, stamps entries, counts logical ticks, appends the audit
 * row, the history rows and the change record, and marks all of it dirty for the next flush. Returns the new
 * seq.
 */
export function applyTx(tx: Tx): number {
  const room = tx.room;
  const dirty = room.rt.dirty;
  const seq = ++room.seq;
  const changes: Change[] = [];
  // the earliest wall-clock moment a timer of this commit changes something: listeners waiting since
  // before it must wake then, not at the next commit (the boundary job is brought forward)
  let moment = Infinity;
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
      if (e.timer) moment = earliest(moment, e.timer, tx.now);
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
      // a lease ends with its entry (its epoch stays)
      const l = tx.leases.get(id) ?? room.getLease(scope, key);
      if (l?.holder) tx.leases.set(id, { ...l, holder: null });
    }
    touchScope(room, scope);
    dirty.entry(id);
  }
  const claimsChanged = tx.leases.size ? applyLeases(tx, changes) : undefined;
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
    if (a) {
      room.actions.set(id, a);
      room.storedBytes += definitionBytes(a);
      moment = earliest(earliest(moment, a.timer, tx.now), a.cooldown, tx.now);
    } else room.actions.delete(id);
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
      moment = earliest(moment, v.timer, tx.now);
    } else {
      room.views.delete(id);
      room.viewOrder = room.viewOrder.filter((x) => x !== id);
    }
    dirty.view(id);
  }
  if (tx.agents.size) {
    touchAgents(room);
    // a new agent (or one re-joined) goes gone a window from now unless it shows a sign of life
    room.rt.earlier(JOB.gone, tx.now + windowOf(room, tx.limits), tx.now);
  }
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
  const header = recordHistory(tx, seq, changes, audit);
  if (tx.webhooks.size) applyWebhookChanges(room, tx.webhooks, seq);
  if (room.hasWebhooks) markDeliveries(room, tx, audit, header);
  const messages = [
    ...tx.newMessages.map((m) => m.seq),
    ...tx.updatedMessages.keys(),
    ...(claimsChanged ?? NONE),
  ];
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
  if (moment !== Infinity) room.rt.earlier(JOB.boundary, moment, tx.now);
  return seq;
}
