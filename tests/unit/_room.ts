/**
 * Unit-test fixture: a room in memory (no server, no storage) with its tokens and agents joined the way
 * membership joins them (one Tx per agent), and the callers those tokens identify.
 */
import { type Caller, hashToken, identify, mintToken } from "../../auth.ts";
import { DEFAULT_LIMITS } from "../../config.ts";
import type { Agent } from "../../engine/model.ts";
import { Room } from "../../engine/room.ts";
import { applyTx, Tx } from "../../engine/tx.ts";

export const NOW = Date.parse("2026-01-01T00:00:00Z");
export const ADMIN: Caller = { kind: "admin", id: "admin" };

export function memoryRoom(agents: string[] = ["alice", "bob"], id = "unit") {
  const tokens = { room: mintToken("room"), view: mintToken("view"), agents: {} as Record<string, string> };
  const room = new Room({
    id,
    meta: {},
    created_at: new Date(NOW).toISOString(),
    token_hash: hashToken(tokens.room),
    view_token_hash: hashToken(tokens.view),
    seq: 0,
  });
  for (const id of agents) {
    tokens.agents[id] = mintToken("agent");
    const tx = new Tx(room, ADMIN, NOW, DEFAULT_LIMITS);
    tx.agents.set(id, agentRecord(id, tokens.agents[id]));
    applyTx(tx);
  }
  /** The caller an agent's token identifies. */
  const as = (id: string) => identify(room, tokens.agents[id])!;
  /** A Tx for one invocation by `caller` at NOW. */
  const tx = (caller: Caller, limits = DEFAULT_LIMITS) => new Tx(room, caller, NOW, limits);
  return { room, tokens, as, tx };
}

export function agentRecord(id: string, token: string, grants: string[] = []): Agent {
  return {
    id,
    name: id,
    role: "agent",
    meta: {},
    grants,
    token_hash: hashToken(token),
    joined_at: new Date(NOW).toISOString(),
    status: "active",
    waiting_on: null,
    last_heartbeat: null,
    last_seen_seq: 0,
    last_seen: null,
  };
}
