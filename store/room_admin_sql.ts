/**
 * @module store/room_admin_sql — whole-room operations: deleting every row of a room, reading its full
 * audit log, and writing an imported room in one batch. SQL only: no rules.
 */
import type { InStatement } from "@libsql/client";
import type { Db } from "./db.ts";
import type { Room } from "../engine/model.ts";
import { flushStatements, readAudit } from "./rooms_sql.ts";

const ROOM_TABLES = ["agents", "state", "messages", "audit", "actions", "views", "ticks", "idempotency"];

/** Removes the room and all its rows in one transaction; false if it did not exist. */
export async function deleteRoomRows(db: Db, id: string): Promise<boolean> {
  const rs = await db.batch([
    ...ROOM_TABLES.map((t) => ({ sql: `DELETE FROM ${t} WHERE room_id = ?`, args: [id] })),
    { sql: "DELETE FROM rooms WHERE id = ?", args: [id] },
  ], "write");
  return rs[rs.length - 1].rowsAffected > 0;
}

/** Every audit row of a room up to `maxSeq`, oldest first. */
export async function readAllAudit(db: Db, id: string, maxSeq: number) {
  const rows = await readAudit(db, id, { limit: Number.MAX_SAFE_INTEGER });
  return rows.filter((a) => a.seq <= maxSeq);
}

/**
 * Writes a room built in memory (everything marked dirty, `persistedSeq` 0) in one batch: the room row
 * with seq 0, then the ordinary flush, whose seq compare-and-set moves it to the room's seq.
 */
export async function insertWholeRoom(db: Db, room: Room): Promise<void> {
  const out: InStatement[] = [{
    sql:
      "INSERT INTO rooms (id, meta, created_at, token_hash, view_token_hash, seq) VALUES (?, ?, ?, ?, ?, 0)",
    args: [room.id, JSON.stringify(room.meta ?? {}), room.created_at, room.token_hash, room.view_token_hash],
  }];
  flushStatements(room, out);
  await db.batch(out, "write");
}
