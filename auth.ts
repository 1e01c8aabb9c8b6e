/**
 * @module auth — tokens (mint, hash, constant-time compare), who a bearer token is in a room, and the
 * authority table of reference/security.md. Privacy of reads is decided in engine/privacy.ts from the Caller built here.
 * Knows a room only by the shape below, so it depends on nothing of the engine.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ID_PATTERN } from "./config.ts";
import { ApiError } from "./errors.ts";

/** What authority needs to know of an agent. */
export type Member = { readonly id: string; readonly grants: readonly string[]; readonly token_hash: string };

/** What identifying a token needs to know of a room. */
export type TokenRealm = {
  readonly token_hash: string;
  readonly view_token_hash: string;
  readonly agents: ReadonlyMap<string, Member>;
  /** token hash → agent id */
  readonly agentByToken: ReadonlyMap<string, string>;
};

/** Who is calling: the room admin, a read-only viewer, or an agent (possibly the admin acting as one). */
export type Caller =
  | { kind: "admin"; id: "admin" }
  | { kind: "viewer"; id: "viewer" }
  | { kind: "agent"; id: string; agent: Member; viaRoomToken: boolean };

export type TokenKind = "room" | "view" | "agent";

const PREFIX: Record<TokenKind, string> = { room: "room_", view: "view_", agent: "as_" };

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function mintToken(kind: TokenKind): string {
  const bytes = new Uint8Array(24); // 192 bits
  globalThis.crypto.getRandomValues(bytes);
  let s = PREFIX[kind];
  for (const b of bytes) s += HEX[b]; // a table: toString(16)+padStart per byte showed in the rooms profile
  return s;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Constant-time comparison of two equal-length hex digests. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(new TextEncoder().encode(a), new TextEncoder().encode(b));
}

export function bearer(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/**
 * Names the system uses for itself (the room token is `admin` in audit rows and CEL, the view token
 * `viewer`; `self` is the caller's own scope in CEL; `system` is kept for the server), compared
 * case-insensitively. No agent may take one, nor an id starting with `_` (those name system scopes).
 */
export const RESERVED_AGENT_IDS: readonly string[] = ["admin", "viewer", "self", "system"];
const RESERVED = new Set(RESERVED_AGENT_IDS);
const LONGEST_RESERVED = Math.max(...RESERVED_AGENT_IDS.map((n) => n.length));

/** Whether `id` may name an agent: ID_PATTERN, no leading `_`, not a reserved name (any case). */
export function isAgentId(id: string): boolean {
  return id.charCodeAt(0) !== 95 && ID_PATTERN.test(id) && !isReserved(id);
}

function isReserved(id: string): boolean {
  return id.length <= LONGEST_RESERVED && RESERVED.has(id.toLowerCase());
}

/**
 * The agent-id rule, for every door that creates an agent (join over REST and MCP, import):
 * `400 invalid_id {field}` (with `reserved: true` for a reserved name).
 */
export function checkAgentId(id: string, field = "id"): void {
  if (!ID_PATTERN.test(id)) {
    throw new ApiError("invalid_id", `${field} must be 1-128 characters of [A-Za-z0-9._:-]`, { field });
  }
  if (id.startsWith("_")) {
    throw new ApiError(
      "invalid_id",
      `${field} ${JSON.stringify(id)} starts with _: ids starting with _ name system scopes, not agents`,
      { field },
    );
  }
  if (isReserved(id)) {
    throw new ApiError(
      "invalid_id",
      `${field} ${JSON.stringify(id)} is reserved: ${
        RESERVED_AGENT_IDS.join(", ")
      } (in any case) name the system`,
      { field, reserved: true },
    );
  }
}

/** The room token, also when it acts as an agent: the authority that may do anything in the room. */
export function isRoomToken(caller: Caller): boolean {
  return caller.kind === "admin" || (caller.kind === "agent" && caller.viaRoomToken);
}

/** Resolves a token against a room; `undefined` token → undefined caller. Unknown → 401 invalid_token. */
export function identify(room: TokenRealm, token: string | undefined): Caller | undefined {
  if (token === undefined) return undefined;
  const h = hashToken(token);
  if (token.startsWith("room_") && sameHash(h, room.token_hash)) return { kind: "admin", id: "admin" };
  if (token.startsWith("view_") && sameHash(h, room.view_token_hash)) return { kind: "viewer", id: "viewer" };
  if (token.startsWith("as_")) {
    const agent = room.agents.get(room.agentByToken.get(h) ?? "");
    // an agent row whose id is no longer a legal agent id (written by an older version) cannot sign in:
    // it could otherwise pass for a system scope or a system name
    if (agent && sameHash(h, agent.token_hash) && isAgentId(agent.id)) {
      return { kind: "agent", id: agent.id, agent, viaRoomToken: false };
    }
  }
  throw new ApiError("invalid_token", "the bearer token is not valid for this room");
}

/** Reads need some token of this room. */
export function requireReader(caller: Caller | undefined): Caller {
  if (!caller) throw new ApiError("unauthorized", "this endpoint needs Authorization: Bearer <token>");
  return caller;
}

/** Mutations need a room or agent token; a view token is read-only. */
export function requireWriter(caller: Caller | undefined): Exclude<Caller, { kind: "viewer" }> {
  const c = requireReader(caller);
  if (c.kind === "viewer") throw new ApiError("read_only_token", "a view token cannot change anything");
  return c;
}

export function requireAdmin(caller: Caller | undefined): Caller {
  const c = requireWriter(caller);
  if (c.kind !== "admin") throw new ApiError("forbidden", "this endpoint needs the room token");
  return c;
}

/**
 * Applies a body/query `agent` or `from` claim: an agent may only name itself (`403 identity_mismatch`);
 * the room token may act as any agent of the room.
 */
export function actAs(room: TokenRealm, caller: Caller, claimed: unknown, field = "agent"): Caller {
  if (claimed === undefined || claimed === null || claimed === "") return caller;
  if (typeof claimed !== "string") throw new ApiError("invalid_body", `${field} must be a string`, { field });
  if (caller.kind === "agent") {
    if (claimed === caller.id) return caller;
    throw new ApiError("identity_mismatch", `this token belongs to ${caller.id}, not ${claimed}`, {
      authenticated_as: caller.id,
      claimed,
    });
  }
  if (caller.kind === "viewer") {
    throw new ApiError("identity_mismatch", `a view token cannot act as ${claimed}`, { claimed });
  }
  if (claimed === "admin") return caller;
  const agent = room.agents.get(claimed);
  if (!agent) throw new ApiError("agent_not_found", `no agent ${claimed} in this room`, { agent: claimed });
  return { kind: "agent", id: agent.id, agent, viaRoomToken: true };
}

/** An agent's own private scope: its id, only when that id is a legal agent id (never a `_…` scope). */
export function ownScope(caller: Caller): string | undefined {
  return caller.kind === "agent" && isAgentId(caller.id) ? caller.id : undefined;
}

/** Write authority of a direct (builtin) write, reference/security.md. */
export function canWriteScope(caller: Caller, scope: string): boolean {
  if (scope === "_audit") return false;
  if (caller.kind === "admin") return true;
  if (caller.kind === "viewer") return false;
  if (caller.viaRoomToken) return true;
  if (scope === caller.id) return isAgentId(scope);
  return caller.agent.grants.includes(scope);
}
