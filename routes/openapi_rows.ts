/**
 * @module routes/openapi_rows — how a row of the route table is written: token sets, answers, and `group`,
 * which turns a resource's rows into OpenAPI operations (openapi_table.ts, openapi_compat.ts).
 */
import type { z } from "zod";
import type { Operation, TokenKind } from "../openapi.ts";
import * as out from "../wire_responses.ts";

export const ANY: TokenKind[] = ["room", "view", "agent"];
export const WRITERS: TokenKind[] = ["room", "agent"];
export const ROOM: TokenKind[] = ["room"];
export const NONE: TokenKind[] = [];

export type Answer = Operation["ok"];
/**
 * A row of the table: `route` is "METHOD /hono/:path", the tag comes from its group, and `tokens` defaults
 * to any token of the room (room, view or agent).
 */
export type Row = Omit<Operation, "method" | "path" | "tag" | "tokens"> & {
  route: string;
  tokens?: TokenKind[];
};

export const json = (status: number, schema: z.ZodType, description: string): Answer => ({
  status,
  schema,
  description,
});
export const text = (type: string, description: string): Answer => ({ status: 200, type, description });
export const INVOKED = json(200, out.InvokeResult, "the invocation's result");
/** The compatibility routes take Idempotency-Key like an invoke: they are one. */
export const IDEMPOTENT = { tokens: WRITERS, headers: ["idempotency_key"] };

export function group(tag: string, rows: Row[]): Operation[] {
  return rows.map(({ route, tokens = ANY, ...o }) => {
    const [method, path] = route.split(" ");
    return { ...o, tag, tokens, method: method.toLowerCase() as Operation["method"], path };
  });
}
