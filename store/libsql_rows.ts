/**
 * @module store/libsql_rows — batches of statements whose answers are plain rows (arrays, in the order the
 * SELECT names its columns): through an embedded file's native connection, statements prepared once
 * (libsql_file_writer.ts), or through `@libsql/client` for a remote database.
 */
import type { Client, InStatement } from "@libsql/client";
import type { FileWriter } from "./libsql_file_writer.ts";

export type Rows = unknown[][];

export interface RowBatches {
  /** Each statement's rows, the statements run in one transaction. */
  batch(statements: InStatement[], mode: "read" | "write"): Promise<Rows[]>;
}

export function rowBatches(client: Client, writer?: FileWriter): RowBatches {
  if (writer) {
    return {
      batch: (statements, mode) => Promise.resolve(writer.batch(statements, mode).map((r) => r.rows)),
    };
  }
  return {
    batch: async (statements, mode) =>
      (await client.batch(statements, mode)).map((r) => r.rows.map((row) => Array.from(row))),
  };
}
