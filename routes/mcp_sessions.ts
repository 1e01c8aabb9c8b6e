/**
 * @module routes/mcp_sessions — MCP sessions (`Mcp-Session-Id`) of connections opened without a token: in
 * memory, at most `mcpMaxSessions`, forgotten after `mcpSessionIdleMs` unused. A session remembers the
 * token its `join_room` / `create_room` returned, so the connection then acts as that agent (or admin):
 * its id is a credential, kept only as a hash and never logged.
 */
import { hashToken } from "../auth.ts";
import type { Limits } from "../config.ts";
import { ApiError } from "../errors.ts";

export type Session = {
  /** the token the session acts with (the last join_room / create_room), if any */
  token?: string;
  lastUsed: number;
};

const HEX = (b: number) => b.toString(16).padStart(2, "0");

/** 192 random bits, hex: the id a client sends back as `Mcp-Session-Id`. */
function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, HEX).join("");
}

export class McpSessions {
  /** by the hash of the id, least recently used first (a Map keeps insertion order; a use re-inserts) */
  readonly #byHash = new Map<string, Session>();
  readonly #limits: Limits;
  readonly #now: () => number;

  constructor(limits: Limits, now: () => number) {
    this.#limits = limits;
    this.#now = now;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /**
   * A new session; at capacity the least recently used one that acts as nobody makes room, and when all of
   * them act as someone, `429 quota_exceeded {quota: "mcp_sessions"}`.
   */
  open(): { id: string; session: Session } {
    this.#expire();
    const max = this.#limits.mcpMaxSessions;
    if (this.#byHash.size >= max) {
      for (const [h, s] of this.#byHash) {
        if (s.token === undefined) {
          this.#byHash.delete(h);
          break;
        }
      }
    }
    if (this.#byHash.size >= max) {
      throw new ApiError("quota_exceeded", `${max} MCP sessions are open; connect with a bearer token`, {
        quota: "mcp_sessions",
        limit: max,
      });
    }
    const id = newId();
    const session: Session = { lastUsed: this.#now() };
    this.#byHash.set(hashToken(id), session);
    return { id, session };
  }

  /** The session of an id (its use recorded), or `404 session_not_found`: the client starts a new one. */
  get(id: string): Session {
    const h = hashToken(id);
    const s = this.#byHash.get(h);
    const now = this.#now();
    if (!s || now - s.lastUsed >= this.#limits.mcpSessionIdleMs) {
      this.#byHash.delete(h);
      throw new ApiError(
        "session_not_found",
        "no such MCP session (it expired, was closed, or the server restarted): initialize a new one",
      );
    }
    s.lastUsed = now;
    this.#byHash.delete(h);
    this.#byHash.set(h, s);
    return s;
  }

  /** Ends a session (`DELETE /mcp`). */
  close(id: string): void {
    this.get(id);
    this.#byHash.delete(hashToken(id));
  }

  /** Drops sessions idle for too long (oldest first, so the scan stops at the first fresh one). */
  #expire(): void {
    const now = this.#now();
    for (const [h, s] of this.#byHash) {
      if (now - s.lastUsed < this.#limits.mcpSessionIdleMs) break;
      this.#byHash.delete(h);
    }
  }
}
