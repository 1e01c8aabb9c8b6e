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
    version: 6,
    name: "history and refusal reasons",
    statements: [
      // One row per commit, its header (scope '' and key '': who, what, how it ended as JSON in value, its ts
      // in updated_at, and in `writes` the [scope, key] of everything it wrote), and one row per thing it
      // wrote: a state entry (scope/key as in `state`; value NULL for a deletion) and the definitions,
      // members and tick counts the room is made of (scopes `#action`, `#view`, `#agent`, `#tick`: no state
      // scope can hold a `#`). A message sent or claimed is listed in `writes` as ["_messages", seq] and has
      // no row: the message itself says which commits sent and claimed it. See engine/history_rows.ts.
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
      `INSERT INTO history_rooms (room_id, from_seq, from_ts)
        SELECT id, seq, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM rooms`,
    ],
  },
];
