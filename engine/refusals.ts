/**
 * @module engine/refusals — a stored refusal's reason as a reader sees it. The audit row keeps the error body
 * its invoker was answered (built with the invoker's privacy); read back, whatever names a scope the reader
 * may not read now (a grant since revoked) is left out, by privacy.ts's rule. Only the invoker and the room
 * and view tokens read a refusal at all (canReadAudit).
 */
import type { Caller } from "../auth.ts";
import { canReadScope } from "./privacy.ts";

/** `state.x…`, `state["x"]…`, `state['x']…`: the scope a detail path reads (undefined: computed, or views). */
function scopeOfPath(path: string): string | undefined | null {
  if (!path.startsWith("state")) return null;
  const m = /^state(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*"([^"\\]*)"\s*\]|\[\s*'([^'\\]*)'\s*\])/.exec(path);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

function readable(reader: Caller, scope: string): boolean {
  return scope === "self" || canReadScope(reader, scope);
}

/** The refusal's details (`detail` of an audit row or history commit) for `reader`. */
export function refusalFor(
  reader: Caller,
  detail: Record<string, unknown> | null | undefined,
): Record<string, unknown> | null {
  if (!detail) return null;
  if (reader.kind !== "agent") return detail;
  const out = { ...detail };
  const paths = out.detail;
  if (paths && typeof paths === "object" && !Array.isArray(paths)) {
    const kept: Record<string, unknown> = {};
    for (const [p, v] of Object.entries(paths)) {
      const scope = scopeOfPath(p);
      if (scope === null || (scope !== undefined && readable(reader, scope))) kept[p] = v;
    }
    out.detail = kept;
  }
  const cur = out.current as { scope?: unknown; key?: unknown; version?: unknown } | null | undefined;
  if (cur && typeof cur === "object" && typeof cur.scope === "string" && !readable(reader, cur.scope)) {
    out.current = { scope: cur.scope, key: cur.key, version: cur.version };
  }
  return out;
}

/** An audit row as `reader` sees it (the reader may see the row: its own, or a token's). */
export function auditFor<T extends { detail?: Record<string, unknown> | null }>(reader: Caller, row: T): T {
  return row.detail ? { ...row, detail: refusalFor(reader, row.detail) } : row;
}
