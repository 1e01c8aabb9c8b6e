/**
 * @module engine/registry_rows — the registry's translation between storage rows and rooms in memory: a
 * `Room` built from a `StoredRoom`, and a room's pending changes taken as a `RoomWrite`. Entries, agents,
 * messages and audit rows are handed over as they are (they already have the rows' fields): no copies.
 */
import type { RoomRow, RoomWrite, StateKey, StoredRoom, WebhookRow } from "../store/room_store.ts";
import { indexMessage } from "./messages.ts";
import {
  type ActionDef,
  actionExpressions,
  type Agent,
  agentBytes,
  definitionBytes,
  type Entry,
  entryExpressions,
  type Lease,
  type Message,
  messageBytes,
  type Proposal,
  splitEntryId,
  type ViewDef,
  viewExpressions,
  type WebhookDef,
  type WebhookEvents,
} from "./model.ts";
import { Room } from "./room.ts";

export function roomFromRows(s: StoredRoom): Room {
  const room = new Room(s.room);
  // storedBytes counts what room_bytes bounds: state values, agents' meta, definitions, messages
  for (const a of s.agents) {
    // no wait of this process blocks yet: a `waiting` written lazily by an earlier one is not true here
    const agent = { ...a, status: a.status === "waiting" ? "active" : a.status, waiting_on: null } as Agent;
    room.agents.set(a.id, agent);
    room.agentByToken.set(a.token_hash, a.id);
    room.storedBytes += agentBytes(agent);
  }
  for (const e of s.state) {
    room.scope(e.scope).set(e.key, e as Entry);
    room.entryCount++;
    room.storedBytes += e.bytes;
    room.expressionCount += entryExpressions(e as Entry);
  }
  for (const a of s.actions) {
    room.actions.set(a.id, a.def as ActionDef);
    room.storedBytes += definitionBytes(a.def as ActionDef);
    room.expressionCount += actionExpressions(a.def as ActionDef);
  }
  for (const v of s.views) {
    room.views.set(v.id, v.def as ViewDef);
    room.viewOrder.push(v.id);
    room.storedBytes += definitionBytes(v.def as ViewDef);
    room.expressionCount += viewExpressions(v.def as ViewDef);
  }
  for (const m of s.messages) {
    indexMessage(room, m as Message);
    room.storedBytes += messageBytes(m as Message);
  }
  for (const t of s.ticks) room.ticks.set(t.target, t.count);
  for (const l of s.leases) {
    let m = room.leases.get(l.scope);
    if (!m) room.leases.set(l.scope, m = new Map());
    m.set(l.key, l as Lease);
  }
  for (const p of s.proposals) room.proposals.set(p.id, p.data as Proposal);
  room.auditSeq = s.audit.max_seq;
  room.auditCount = s.audit.count;
  if (s.history) {
    const h = s.history;
    room.history = {
      from: h.from_seq,
      ...(h.from_ts ? { from_ts: h.from_ts } : {}),
      ...(h.commits !== null ? { commits: h.commits } : {}),
      ...(h.max_age_ms !== null ? { max_age_ms: h.max_age_ms } : {}),
    };
  }
  for (const w of s.webhooks) {
    room.webhooks.set(w.id, {
      id: w.id,
      url: w.url,
      secret: w.secret,
      events: (w.events ?? null) as WebhookEvents | null,
      created_at: w.created_at,
      seq: w.seq,
      disabled: w.disabled_at ? { at: w.disabled_at, reason: w.disabled_reason ?? "" } : null,
    });
  }
  return room;
}

function webhookRow(w: WebhookDef): WebhookRow {
  return {
    id: w.id,
    url: w.url,
    secret: w.secret,
    events: w.events,
    created_at: w.created_at,
    seq: w.seq ?? 0,
    disabled_at: w.disabled?.at ?? null,
    disabled_reason: w.disabled?.reason ?? null,
  };
}

/** The room's row as storage holds it (`seq` 0 for a room restored whole: its write moves it on). */
export function roomRow(room: Room, seq = room.seq): RoomRow {
  return {
    id: room.id,
    meta: room.meta,
    created_at: room.created_at,
    token_hash: room.token_hash,
    view_token_hash: room.view_token_hash,
    seq,
    liveness_ms: room.liveness_ms,
  };
}

/**
 * Everything the room changed since the last flush, as rows of its current memory (an entry marked dirty
 * and gone from memory is a removal), guarded by the seq compare-and-set; undefined when nothing changed.
 */
export function takeWrite(room: Room): RoomWrite | undefined {
  const rt = room.rt;
  const moved = room.seq !== rt.persistedSeq;
  if (!moved && rt.clean) return undefined;
  const d = rt.takeDirty();
  const w: RoomWrite = { room_id: room.id, put: {} };
  if (moved) w.seq = { from: rt.persistedSeq, to: room.seq };
  if (!d) return w;
  if (d.room) {
    w.room = { meta: room.meta, view_token_hash: room.view_token_hash, liveness_ms: room.liveness_ms };
  }
  if (d.entries) {
    const put: Entry[] = [];
    const gone: StateKey[] = [];
    for (const id of d.entries) {
      const [scope, key] = splitEntryId(id);
      const e = room.getEntry(scope, key);
      if (e) put.push(e);
      else gone.push({ scope, key });
    }
    w.put.state = put;
    if (gone.length) (w.remove ??= {}).state = gone;
  }
  if (d.agents) {
    const agents: Agent[] = [];
    for (const id of d.agents) {
      const a = room.agents.get(id);
      if (!a) continue;
      // presence only (no commit, so no seq guard): touch nothing another process may have changed
      if (!moved) {
        (w.presence ??= []).push({
          id: a.id,
          status: a.status,
          last_heartbeat: a.last_heartbeat,
          last_seen_seq: a.last_seen_seq,
          last_seen: a.last_seen,
        });
      } else agents.push(a);
    }
    w.put.agents = agents;
  }
  if (d.messages) {
    const msgs: Message[] = [];
    for (const seq of d.messages) {
      const m = room.messages[seq - 1];
      if (m) msgs.push(m);
    }
    w.put.messages = msgs;
  }
  if (d.audit) w.put.audit = d.audit;
  if (d.idempotency) w.put.idempotency = d.idempotency;
  if (d.actions) {
    for (const id of d.actions) {
      const def = room.actions.get(id);
      if (def) (w.put.actions ??= []).push({ id, def });
      else ((w.remove ??= {}).actions ??= []).push(id);
    }
  }
  if (d.views) {
    for (const id of d.views) {
      const def = room.views.get(id);
      if (def) (w.put.views ??= []).push({ id, def, position: room.viewOrder.indexOf(id) });
      else ((w.remove ??= {}).views ??= []).push(id);
    }
  }
  if (d.proposals) {
    for (const id of d.proposals) {
      const p = room.proposals.get(id);
      if (p) (w.put.proposals ??= []).push({ id, status: p.status, created_at: p.created_at, data: p });
      else ((w.remove ??= {}).proposals ??= []).push(id);
    }
  }
  if (d.ticks) w.put.ticks = [...d.ticks].map((target) => ({ target, count: room.tick(target) }));
  if (d.leases) {
    const leases: Lease[] = [];
    for (const id of d.leases) {
      const [scope, key] = splitEntryId(id);
      const l = room.getLease(scope, key);
      if (l) leases.push(l);
    }
    w.put.leases = leases;
  }
  // after `state`: a history row's value shares the JSON made for its entry's row
  if (d.history) w.put.history = d.history;
  if (d.historySettings) {
    const h = room.history;
    w.history_settings = {
      commits: h?.commits ?? null,
      max_age_ms: h?.max_age_ms ?? null,
      from_seq: h?.from ?? 0,
      from_ts: h?.from_ts ?? null,
    };
  }
  if (d.historyTrim) w.history_trim = d.historyTrim;
  if (d.webhooks) {
    for (const id of d.webhooks) {
      const def = room.webhooks.get(id);
      if (def) (w.put.webhooks ??= []).push(webhookRow(def));
      else ((w.remove ??= {}).webhooks ??= []).push(id);
    }
    // deleted, then registered again in this flush: the old deliveries go, the webhook stays
    for (const id of d.purged ?? []) if (room.webhooks.has(id)) ((w.remove ??= {}).outbox ??= []).push(id);
    for (const id of d.rearmed ?? []) if (room.webhooks.has(id)) (w.rearm ??= []).push(id);
  }
  if (d.hooked) w.hooked = [...d.hooked];
  return w;
}
