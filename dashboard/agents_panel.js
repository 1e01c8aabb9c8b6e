// The Agents panel: presence, status, what an agent waits on, heartbeat, role and grants; an agent gone
// silent for the room's window is greyed, with when it was last seen. Presence events from the feed patch the
// agents in place (applyPresence), without re-reading the room.
import { markup } from "./html.js";
import { agoSpan } from "./format.js";
import { fingerprint, put } from "./panel.js";
import { S } from "./session.js";

/**
 * When a present agent goes gone unless it shows a sign of life (its last one plus the room's window): the
 * page re-reads the room at that moment (the ticker's countdown), so the card greys without an event.
 */
function goneAt(a, windowMs) {
  if (a.status === "gone" || !a.last_seen || !windowMs) return "";
  const at = Date.parse(a.last_seen) + windowMs;
  return Number.isNaN(at)
    ? ""
    : markup`<span hidden data-until="${new Date(at).toISOString()}" data-prefix=""></span>`;
}

function agentCard(a, me, windowMs) {
  const grants = (a.grants || []).map((g) => markup` <span class="badge outline">${g}</span>`);
  const shown = { status: a.status, waiting_on: a.waiting_on, role: a.role, grants: a.grants, name: a.name };
  const gone = a.status === "gone";
  return markup`<div class="agent${a.id === me ? " me" : ""}${gone ? " gone" : ""}" data-agent="${a.id}"
data-flash-id="${a.id}" data-flash="${
    fingerprint(shown)
  }"><div class="line1"><span class="dot ${a.status}" title="${a.status}"></span>
<span class="name">${a.name || a.id}</span>${
    a.name && a.name !== a.id ? markup`<span class="seq">${a.id}</span>` : ""
  }${
    a.id === me ? markup`<span class="badge accent">you</span>` : ""
  }</div><div class="sub"><span class="status">${a.status}</span>${
    a.role ? markup`<span class="badge">${a.role}</span>` : ""
  }${
    gone
      ? markup`<span class="last-seen">last seen ${agoSpan(a.last_seen)}</span>`
      : markup`<span>♥ ${agoSpan(a.last_heartbeat)}</span>`
  }${goneAt(a, windowMs)}</div>${
    a.waiting_on ? markup`<div class="waiting-on">waiting on <code>${a.waiting_on}</code></div>` : ""
  }${grants.length ? markup`<div class="sub">grants${grants}</div>` : ""}</div>`;
}

export function renderAgents(d) {
  const me = S.perspective || d.self;
  document.getElementById("c-agents").textContent = String(d.agents.length);
  put("agents", [d.agents, me], () => {
    if (!d.agents.length) return markup`<div class="empty">No agents have joined yet.</div>`;
    return markup`<div class="agents">${d.agents.map((a) => agentCard(a, me, d.room?.liveness_ms))}</div>`;
  });
}

/**
 * A `presence` event `{cursor, agents: [{id, status, waiting_on, last_heartbeat}]}`: updates the agents
 * already shown (an agent the reader does not see stays unseen). Returns whether anything changed.
 */
export function applyPresence(d, event) {
  let changed = false;
  for (const p of event?.agents ?? []) {
    const a = d.agents.find((x) => x.id === p.id);
    if (!a) continue;
    for (const f of ["status", "waiting_on", "last_heartbeat", "last_seen"]) {
      if (f in p && a[f] !== p[f]) a[f] = p[f], changed = true;
    }
  }
  return changed;
}
