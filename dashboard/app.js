// The dashboard's entry module (reference/api.md#docs-and-operations): takes the token, reads the room (/poll) and keeps it current
// through the live feed. A missing room or a refused token stops every request and says why.
import { startTicker } from "./format.js";
import { trackOpenState } from "./json_view.js";
import { resetPanels } from "./panel.js";
import { api, forgetToken, keepToken, kindOf, ROOM, ROOM_PATH, S, takeToken, withAgent } from "./session.js";
import { startLive } from "./live.js";
import { banner, initHeader, renderHeader, setLive } from "./header.js";
import { applyPresence, renderAgents } from "./agents_panel.js";
import { initState, renderState } from "./state_panel.js";
import { initMessages, MSG_PAGE, reloadMessagePage, renderMessages } from "./messages_panel.js";
import { renderActions } from "./actions_panel.js";
import { renderViews } from "./views_panel.js";
import { initAudit, renderAudit } from "./audit_panel.js";
import { initTimeline, renderTimeline } from "./timeline_panel.js";
import { initCel } from "./cel_console.js";
import { initInvoke } from "./invoke_dialog.js";
import { initProposals, renderProposals } from "./proposals_panel.js";

const $ = (id) => document.getElementById(id);
let live = null;
let stopTicker = null;

function renderAll() {
  const d = S.data;
  if (!d) return;
  renderHeader(d);
  renderAgents(d);
  renderProposals(d);
  renderState(d);
  renderMessages(d);
  renderActions(d);
  renderViews(d);
  renderAudit(d);
  renderTimeline(d);
}

// one /poll at a time; a refresh asked for meanwhile runs once more after it
let inflight = null;
let again = false;
function refresh() {
  if (inflight) {
    again = true;
    return inflight;
  }
  inflight = (async () => {
    try {
      do {
        again = false;
        await load();
      } while (again && !S.stopped);
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

async function load() {
  if (!S.token || S.stopped) return;
  const q = withAgent(new URLSearchParams({ messages_limit: String(MSG_PAGE), audit_limit: "500" }));
  const r = await api("GET", `${ROOM_PATH}/poll?${q}`);
  if (!S.token || S.stopped) return;
  if (r.status === 401 || (r.status === 403 && !S.perspective)) return refused(r.json?.message);
  if (r.status === 404 && r.json?.error === "room_not_found") return roomGone(r.json);
  if (r.status === 404 && S.perspective) {
    S.perspective = ""; // the agent left: back to everything
    resetPanels();
    again = true;
    return;
  }
  if (r.status !== 200) return banner(`Could not load the room: ${r.json?.message || r.status}`, true);
  S.data = r.json;
  await reloadMessagePage();
  banner(null);
  renderAll();
}

/** Ends the live feed, the poll fallback and the ticking labels: no request leaves after this. */
function endSession() {
  S.stopped = true;
  live?.stop();
  live = null;
  stopTicker?.();
  stopTicker = null;
}

function refused(message) {
  forgetToken();
  S.token = null;
  showGate(`${message || "This token was refused."} Paste a token for room ${ROOM}.`);
}

/** The room does not exist (or was deleted while open): say so instead of "Loading…" forever. */
function roomGone(body) {
  endSession();
  $("app").hidden = true;
  $("gate").hidden = true;
  $("missing").hidden = false;
  const said = String(body?.message || `no room ${ROOM}`).replace(/\.$/, "");
  $("missing-text").textContent = `${said[0].toUpperCase()}${said.slice(1)}. It may have been deleted, ` +
    "or the link has a typo. This page stopped asking the server for updates.";
  setLive("off", "stopped");
}

/** The feed ended for good: a deleted room, or a token that stopped being valid. */
function onFatal(body) {
  if (body?.error === "room_not_found") return roomGone(body);
  if (body?.error === "invalid_token" || body?.error === "http_401") return refused(body.message);
  endSession();
  banner(`The live feed stopped: ${body?.message || body?.error}. Reload the page to try again.`, true);
  setLive("off", "stopped");
}

function onPresence(data) {
  if (S.data && applyPresence(S.data, data)) renderAgents(S.data);
}

function showGate(message) {
  endSession();
  for (const id of ["app", "who", "forget", "persp-wrap"]) $(id).hidden = true;
  $("gate").hidden = false;
  $("gate-error").hidden = !message;
  $("gate-error").textContent = message || "";
  setLive("off", "no token");
  $("gate-token").focus();
}

function start() {
  S.token = takeToken();
  if (!S.token) return showGate("");
  S.kind = kindOf(S.token);
  S.perspective = "";
  S.data = null;
  S.stopped = false;
  resetPanels();
  $("gate").hidden = true;
  $("app").hidden = false;
  document.body.dataset.kind = S.kind;
  stopTicker = startTicker(refresh);
  live = startLive(`${ROOM_PATH}/events`, S.token, {
    setStatus: setLive,
    onChange: refresh,
    onPresence,
    onFatal,
  });
  refresh();
}

$("gate-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("gate-token").value.trim();
  if (!t) return;
  $("gate-token").value = "";
  keepToken(t);
  start();
});
$("forget").addEventListener("click", () => {
  forgetToken();
  S.token = null;
  S.data = null;
  showGate("");
});
document.addEventListener("click", (e) => {
  const jump = e.target.closest?.("[data-jump]");
  if (jump) $("p-" + jump.dataset.jump).scrollIntoView({ behavior: "smooth", block: "start" });
});
initHeader((agent) => {
  S.perspective = agent;
  resetPanels();
  refresh();
});
trackOpenState();
initState();
initMessages();
initAudit();
initTimeline();
initCel();
initInvoke(refresh);
initProposals(refresh);
start();
