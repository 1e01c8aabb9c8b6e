/**
 * @module schema — the DDL as numbered migrations, applied in order at start.
 * A migration never changes once released; a restart on an existing database applies nothing.
 */

export type Migration = { version: number; name: string; statements: string[] };

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "initial",
    statements: [
      `CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        meta TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        view_token_hash TEXT NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0
      )`,
      `CREATE TABLE agents (
        room_id TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        grants TEXT NOT NULL DEFAULT '[]',
        token_hash TEXT NOT NULL,
        joined_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        waiting_on TEXT,
        last_heartbeat TEXT,
        last_seen_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (room_id, id)
      ) WITHOUT ROWID`,
      `CREATE TABLE state (
        room_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        timer TEXT,
        enabled TEXT,
        sort_key INTEGER,
        seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (room_id, scope, key)
      ) WITHOUT ROWID`,
      `CREATE TABLE messages (
        room_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        from_agent TEXT,
        kind TEXT NOT NULL,
        body TEXT,
        to_agents TEXT,
        reply_to INTEGER,
        claimed_by TEXT,
        claimed_at TEXT,
        ts TEXT NOT NULL,
        extra TEXT,
        PRIMARY KEY (room_id, seq)
      ) WITHOUT ROWID`,
      `CREATE TABLE audit (
        room_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        agent TEXT NOT NULL,
        action TEXT NOT NULL,
        builtin INTEGER NOT NULL,
        params TEXT NOT NULL,
        ok INTEGER NOT NULL,
        status INTEGER NOT NULL,
        error TEXT,
        PRIMARY KEY (room_id, seq)
      ) WITHOUT ROWID`,
      `CREATE TABLE actions (
        room_id TEXT NOT NULL,
        id TEXT NOT NULL,
        def TEXT NOT NULL,
        PRIMARY KEY (room_id, id)
      ) WITHOUT ROWID`,
      `CREATE TABLE views (
        room_id TEXT NOT NULL,
        id TEXT NOT NULL,
        def TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (room_id, id)
      ) WITHOUT ROWID`,
      `CREATE TABLE ticks (
        room_id TEXT NOT NULL,
        target TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (room_id, target)
      ) WITHOUT ROWID`,
      `CREATE TABLE idempotency (
        room_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        key TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (room_id, identity, key)
      ) WITHOUT ROWID`,
      "CREATE INDEX rooms_by_token ON rooms (token_hash)",
      "CREATE INDEX rooms_by_view_token ON rooms (view_token_hash)",
      "CREATE INDEX agents_by_token ON agents (token_hash)",
      // A batch inserts 0 here when a room's seq moved under it (another process committed): the CHECK
      // fails, the whole batch rolls back, and the room is reloaded. See store/libsql_batch.ts.
      `CREATE TABLE commit_guard (ok INTEGER CHECK (ok = 1))`,
    ],
  },
  {
    version: 2,
    name: "idempotency fingerprint",
    statements: [
      // replies stored before this migration have no fingerprint ('' matches nothing): they still replay
      "ALTER TABLE idempotency ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''",
    ],
  },
  {
    version: 3,
    name: "peers",
    statements: [
      // one row per server process on this database (engine/peers.ts): `joined` numbers the processes in
      // the order they arrived, `seen` is the highest `joined` a process had read at its last beat, and
      // `beat_at` (ms since the epoch) when that was. A row not beaten for a while is a process that is gone;
      // `proc` says where it runs (host, pid namespace, pid, start time), so one on this machine that
      // crashed is known gone at once.
      `CREATE TABLE peers (
        id TEXT PRIMARY KEY,
        joined INTEGER NOT NULL,
        seen INTEGER NOT NULL,
        beat_at INTEGER NOT NULL,
        proc TEXT NOT NULL DEFAULT ''
      ) WITHOUT ROWID`,
    ],
  },
  {
    version: 4,
    name: "liveness and leases",
    statements: [
      // the room's liveness window (engine/presence.ts); NULL: the server's SYNC_LIVENESS_MS
      "ALTER TABLE rooms ADD COLUMN liveness_ms INTEGER",
      // an agent's last sign of life: its last call, or the last beat or end of an open wait or feed
      "ALTER TABLE agents ADD COLUMN last_seen TEXT",
      // one row per key ever leased (engine/leases.ts): `holder` NULL is no lease now, but the epoch is
      // kept, so a key deleted and written again never hands out an epoch twice. `renewed_at` is the
      // holder's last write to the entry; `on_expire` the effect when the lease lapses (JSON).
      `CREATE TABLE leases (
        room_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        holder TEXT,
        ttl_ms INTEGER NOT NULL,
        renewed_at TEXT NOT NULL,
        on_expire TEXT NOT NULL,
        PRIMARY KEY (room_id, scope, key)
      ) WITHOUT ROWID`,
      // since when the processes on this database have served without a break (ms since the epoch): a
      // process arriving while others run takes theirs, one arriving alone its own start. Silence is
      // counted from it, so the time the service was down does not count against agents.
      "ALTER TABLE peers ADD COLUMN up_since INTEGER NOT NULL DEFAULT 0",
    ],
  },
  {
    version: 5,
    name: "proposals",
    statements: [
      // proposals of actions with `approval` (engine/proposals.ts): the record as JSON in `data`, written in
      // the batch of the commit that makes or decides it; a room keeps its pending ones and the latest
      // decided ones, read back in `rowid` order: the order they were made in.
      `CREATE TABLE proposals (
        room_id TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (room_id, id)
      )`,
    ],
  },
  {
    version: 6,
    name: "history and refusal reasons",
    statements: [
      // One row per commit, its header (scope '' and key '': who, what, how it ended as JSON in value, its ts
      // in updated_at, and in `writes` the [scope, key] of everything it wrote), and one row per thing it
      // wrote: a state entry (scope/key as in `state`; value NULL for a deletion) and the definitions,
      // members, tick counts, leases (key `scope/key`) and proposals the room is made of (scopes `#action`,
      // `#view`, `#agent`, `#tick`, `#lease`, `#proposal`: no state scope can hold a `#`). A message sent or
      // claimed is listed in `writes` as ["_messages", seq] and has no row: the message itself says which
      // commits sent and claimed it. See engine/history_rows.ts.
      `CREATE TABLE history (
        room_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER NOT NULL,
        value TEXT,
        updated_at TEXT,
        timer TEXT,
        enabled TEXT,
        sort_key INTEGER,
        writes TEXT,
        PRIMARY KEY (room_id, scope, key, seq)
      ) WITHOUT ROWID`,
      // no other index: the headers are a range of the primary key (the timeline), a commit's rows are
      // found from its header's `writes` by primary key, and so are a key's versions and "latest at or
      // before" (each insert maintains one b-tree, not two)
      // a room's retention (NULL: the server's) and the oldest commit its history can show (from_seq, with
      // the time the room stood there); no row: the server's retention, history from the room's creation
      `CREATE TABLE history_rooms (
        room_id TEXT PRIMARY KEY,
        commits INTEGER,
        max_age_ms INTEGER,
        from_seq INTEGER NOT NULL DEFAULT 0,
        from_ts TEXT
      ) WITHOUT ROWID`,
      "ALTER TABLE audit ADD COLUMN message TEXT",
      "ALTER TABLE audit ADD COLUMN detail TEXT",
      // the commit that sent / claimed each message: the room at an earlier commit has fewer, unclaimed ones
      "ALTER TABLE messages ADD COLUMN commit_seq INTEGER",
      "ALTER TABLE messages ADD COLUMN claim_seq INTEGER",
      // Rooms that existed before: their history begins at their current commit, with what they hold now.
      `INSERT INTO history (room_id, scope, key, seq, version, value, updated_at, timer, enabled, sort_key)
        SELECT room_id, scope, key, seq, version, value, updated_at, timer, enabled, sort_key FROM state`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT a.room_id, '#action', a.id, r.seq, 0, a.def FROM actions a JOIN rooms r ON r.id = a.room_id`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT v.room_id, '#view', v.id, r.seq, 0, json_object('def', json(v.def), 'position', v.position)
        FROM views v JOIN rooms r ON r.id = v.room_id`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT g.room_id, '#agent', g.id, r.seq, 0, json_object('name', g.name, 'role', g.role,
          'meta', json(g.meta), 'grants', json(g.grants), 'joined_at', g.joined_at, 'status', g.status,
          'last_heartbeat', g.last_heartbeat)
        FROM agents g JOIN rooms r ON r.id = g.room_id`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT t.room_id, '#tick', t.target, r.seq, 0, CAST(t.count AS TEXT) FROM ticks t JOIN rooms r ON r.id = t.room_id`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT l.room_id, '#lease', l.scope || '/' || l.key, r.seq, l.epoch, json_object('scope', l.scope,
          'key', l.key, 'epoch', l.epoch, 'holder', l.holder, 'ttl_ms', l.ttl_ms, 'renewed_at', l.renewed_at,
          'on_expire', json(l.on_expire))
        FROM leases l JOIN rooms r ON r.id = l.room_id`,
      `INSERT INTO history (room_id, scope, key, seq, version, value)
        SELECT p.room_id, '#proposal', p.id, r.seq, 0, p.data FROM proposals p JOIN rooms r ON r.id = p.room_id`,
      `INSERT INTO history_rooms (room_id, from_seq, from_ts)
        SELECT id, seq, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM rooms`,
    ],
  },
  {
    version: 7,
    name: "webhooks, their outbox, audit traceparent",
    statements: [
      // the W3C traceparent an invocation arrived with (null without one)
      "ALTER TABLE audit ADD COLUMN traceparent TEXT",
      // Written by room commits (registration, deletion, disabling): the room's copy in memory is the truth.
      `CREATE TABLE webhooks (
        room_id TEXT NOT NULL,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT,
        created_at TEXT NOT NULL,
        seq INTEGER NOT NULL,
        disabled_at TEXT,
        disabled_reason TEXT,
        PRIMARY KEY (room_id, id)
      ) WITHOUT ROWID`,
      // One row per (webhook, matching commit), inserted by that commit's batch (the first five columns). The
      // delivery columns (next_at … claim_until) are written only by the delivery loop. No other
      // index: deliveries go in seq order, so a webhook's delivered rows (at most ~150 kept) sit below its
      // pending ones and the primary key finds the head, the newest and the prunable rows alike.
      `CREATE TABLE webhook_outbox (
        room_id TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        delivery_id TEXT NOT NULL,
        body TEXT,
        next_at INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        failing_since INTEGER,
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at TEXT,
        delivered_at TEXT,
        -- the commit's time, kept from the body when that is dropped on delivery
        created_at TEXT,
        claimed_by TEXT,
        claim_until INTEGER,
        PRIMARY KEY (room_id, webhook_id, seq)
      ) WITHOUT ROWID`,
    ],
  },
  {
    version: 8,
    name: "the history as the webhook outbox",
    statements: [
      // A commit's header names the webhooks it is due to (" w1 w2 ": ids hold no space) and, when a
      // delivery says more than the history does, what (JSON: an unaudited commit, its traceparent). The
      // delivery loop copies those commits into webhook_outbox, off the commit path (engine/outbox.ts).
      "ALTER TABLE history ADD COLUMN hooks TEXT",
      "ALTER TABLE history ADD COLUMN hook_meta TEXT",
      // the last commit a copy into the webhook's outbox looked at, where that is past its newest outbox row
      // (NULL: none since its registration, `seq`)
      "ALTER TABLE webhooks ADD COLUMN staged_seq INTEGER",
      // Rows the commits of the old outbox wrote stay as they are: they are delivered like any copied one.
    ],
  },
];
