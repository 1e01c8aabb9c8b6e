// The Approvals panel: proposals of actions that wait for approval — who proposed, the params, approvals so
// far, the expiry — with Approve / Reject for a token that may decide (the server says so per reader:
// `may_decide`), and the recently decided ones below. Shown only in rooms that use approvals.
import { markup } from "./html.js";
import { agoSpan, plural, untilSpan } from "./format.js";
import { isOpen, openState, tree } from "./json_view.js";
import { put } from "./panel.js";
import { actingAs, api, ROOM_PATH, S } from "./session.js";

const $ = (id) => document.getElementById(id);
const DECIDED_SHOWN = 20;
const STATUS_CLASS = { executed: "ok", failed: "bad", rejected: "bad", expired: "warn", pending: "accent" };

function approvalsLine(p) {
  const who = p.approvals.map((a) => markup`<span class="badge outline" title="${a.at}">${a.by}</span>`);
  return markup`<span>approvals</span><span>${p.approvals.length} of ${p.count}${
    who.length ? markup` · ${who}` : ""
  } <span class="hint">from <code>${p.from}</code></span></span>`;
}

function decisionLine(p) {
  if (p.status === "rejected") {
    return markup`<span>rejected</span><span>by ${p.rejected_by}${
      p.reason ? markup` — ${p.reason}` : ""
    }</span>`;
  }
  if (p.status === "failed" && p.error) {
    return markup`<span>refused</span><span><code>${p.error.error}</code> ${p.error.message}</span>`;
  }
  if (p.status === "executed" && p.writes?.length) {
    return markup`<span>wrote</span><span class="writes">${
      p.writes.map((w) => markup`<code>${w.scope}.${w.key} v${w.version}</code>`)
    }</span>`;
  }
  return "";
}

function buttons(p) {
  if (S.kind === "viewer" || !p.may_decide) return "";
  const mine = p.approvals.some((a) => a.by === actingAs());
  return markup`${
    mine ? "" : markup`<button class="small primary" data-approve="${p.id}">Approve</button>`
  }<button class="small" data-reject="${p.id}">Reject</button>`;
}

function proposalCard(p) {
  const pending = p.status === "pending";
  const path = "proposal:" + p.id;
  const params = Object.keys(p.params || {}).length
    ? markup`<span>params</span><span>${tree(p.params, path)}</span>`
    : "";
  return markup`<div class="card proposal" data-proposal="${p.id}" data-status="${p.status}"><div class="line1">
<span class="title">${p.action}</span><span class="badge ${STATUS_CLASS[p.status] || ""}">${p.status}</span>${
    pending && p.expires_at
      ? markup`<span class="badge warn">${untilSpan(p.expires_at, "expires in ")}</span>`
      : ""
  }<span class="right">${pending ? buttons(p) : ""}</span></div>
<div class="detail"><span>proposed</span><span>by ${p.proposer} · ${
    agoSpan(p.created_at)
  } · <span class="seq">${p.id}</span></span>${params}${approvalsLine(p)}${decisionLine(p)}</div>${
    pending && p.may_decide && S.kind !== "viewer"
      ? markup`<input class="reason" data-reason-for="${p.id}" placeholder="reason to reject (optional)"
aria-label="reason to reject ${p.id}" maxlength="2000">`
      : ""
  }</div>`;
}

export function renderProposals(d) {
  const all = d.proposals || [];
  const uses = all.length > 0 || d.actions.some((a) => a.approval);
  $("p-proposals").hidden = !uses;
  $("jump-proposals").hidden = !uses;
  const pending = all.filter((p) => p.status === "pending");
  const decided = all.filter((p) => p.status !== "pending").reverse().slice(0, DECIDED_SHOWN);
  $("c-proposals").textContent = `${pending.length} pending · ${all.length - pending.length} decided`;
  const open = [...openState].filter(([k]) => k.includes("proposal:") || k === "decided");
  put("proposals", [all, S.kind, S.perspective, open], () => {
    const list = pending.length
      ? markup`<div class="cards">${pending.map(proposalCard)}</div>`
      : markup`<div class="empty">No proposal is waiting for a decision.</div>`;
    if (!decided.length) return list;
    return markup`${list}<details class="builtins" data-path="decided"${
      isOpen("decided", true) ? markup` open` : ""
    }><summary>${plural(decided.length, "decided proposal")}</summary><div class="cards">${
      decided.map(proposalCard)
    }</div></details>`;
  });
}

/** Approve / Reject buttons invoke `_approve` / `_reject` as the acting identity; `onDecided` re-reads. */
export function initProposals(onDecided) {
  $("b-proposals").addEventListener("click", async (e) => {
    const b = e.target.closest?.("[data-approve],[data-reject]");
    if (!b || S.kind === "viewer") return;
    const approve = b.dataset.approve !== undefined;
    const id = approve ? b.dataset.approve : b.dataset.reject;
    const params = { proposal: id };
    const reason = document.querySelector(`[data-reason-for="${CSS.escape(id)}"]`)?.value.trim();
    if (!approve && reason) params.reason = reason;
    const body = { params };
    if (S.perspective) body.agent = S.perspective;
    b.disabled = true;
    const r = await api("POST", `${ROOM_PATH}/actions/${approve ? "_approve" : "_reject"}/invoke`, body);
    const out = $("proposal-result");
    out.hidden = false;
    out.className = "hint" + (r.status === 200 ? "" : " error-text");
    out.textContent = r.status === 200
      ? `${id}: ${r.json.proposal.status}${r.json.counted ? "" : " (already counted)"}`
      : `${id}: ${r.json?.message || r.status}`;
    b.disabled = false;
    onDecided();
  });
}
