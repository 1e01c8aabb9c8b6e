/**
 * @module engine/guide — the builtin `help`: a participant guide generated from the room for the caller.
 */
import type { ReadCtx } from "./context.ts";
import { actionCatalog } from "./catalog.ts";

export function participantGuide(rc: ReadCtx): Record<string, unknown> {
  const r = `/rooms/${encodeURIComponent(rc.room.id)}`;
  const actions = actionCatalog(rc, true).map((a) => ({
    id: a.id,
    builtin: a.builtin === true || undefined,
    available: a.available,
    description: a.description,
    params: a.params,
    ...(a.approval ? { approval: a.approval } : {}),
  }));
  return {
    room: rc.room.id,
    you: rc.caller.id,
    summary:
      "agent-sync room: shared, versioned state in scopes; change it only by invoking actions; read everything you may see in one call; block until a CEL condition holds.",
    workflow: [
      `1. Read: GET ${r}/context (state, views, agents, actions, messages; 'cursor' marks where you are).`,
      `2. Act: POST ${r}/actions/<id>/invoke with {"params": {...}} (409 precondition_failed explains why with 'detail').`,
      `3. Wait: GET ${r}/wait?condition=<CEL>&after=<cursor> blocks until the condition holds for a change you have not seen.`,
      `4. Talk: invoke _send_message {"body": "..."}; messages.unread counts what you have not read.`,
    ],
    concepts: {
      scopes:
        "_shared and other _names are system scopes everyone reads; your own scope (state.self) is private to you.",
      views: 'CEL projections of private state that everyone can read (views["id"]).',
      cel:
        'state._shared.turn, views["id"], agents.bob.status, messages.unread, self; integers are int: use double(x) to mix with decimals.',
      authority:
        "you write your own scope and granted scopes directly; anything else through actions the room defines.",
      leases:
        'a write with "lease": true holds the entry while you call or keep a /wait open (others get 409 lease_held); silent for the room\'s liveness_ms, you are "gone" and your leases lapse (leases._scope["key"] in CEL).',
      approvals:
        "an action with `approval` answers 202 with a proposal instead of running; it runs (as its proposer) once `count` approvers for whom `from` holds invoke _approve {proposal}. See proposals in /context and GET /proposals.",
    },
    actions,
    docs: ["/", "/reference/api.md", "/reference/cel.md", "/reference/examples.md"],
  };
}
