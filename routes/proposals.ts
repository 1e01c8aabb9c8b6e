/**
 * @module routes/proposals — the proposals of actions that wait for approval (any token of the room; an
 * agent sees those it proposed, took part in, or is an approver of). Deciding is the `_approve` / `_reject`
 * builtins, through invoke.
 *
 *   GET /rooms/:id/proposals               status, agent
 *   GET /rooms/:id/proposals/:proposal     agent
 */
import { Hono } from "hono";
import { openRead } from "../engine/access.ts";
import { getProposal, listProposals } from "../engine/proposal_views.ts";
import { AgentQuery, ProposalsQuery } from "../wire.ts";
import { type AppEnv, type Ctx, opOf, parseQuery, send } from "./http.ts";

const reader = (c: Ctx, agent?: string) => openRead(c.get("eng"), c.req.param("id")!, opOf(c), agent);

export const proposalRoutes = new Hono<AppEnv>()
  .get("/rooms/:id/proposals", async (c) => {
    const q = parseQuery(c, ProposalsQuery);
    return send(c, listProposals(await reader(c, q.agent), q.status));
  })
  .get("/rooms/:id/proposals/:proposal", async (c) => {
    const q = parseQuery(c, AgentQuery);
    return send(c, getProposal(await reader(c, q.agent), c.req.param("proposal")));
  });
