// The Timeline panel: the room's commits, newest first (GET /history) — who did what, the diff of each
// commit, refused invocations with their reason — filtered by agent, action, scope and key; and the
// scrubber, which shows the whole room (state, views, agents) as it stood after any retained commit
// (/context?at=). Commits that arrive while the page is open flash; following the latest commit, the
// room's values that changed flash too.
import { markup, render } from "./html.js";
import { plural, short, timeTag } from "./format.js";
import { inline, tree } from "./json_view.js";
import { fingerprint, put } from "./panel.js";
import { api, ROOM_PATH, S } from "./session.js";

const $ = (id) => document.getElementById(id);
const LIMIT = 100;
const tl = {
  key: "", // what the shown timeline was read for (cursor, filters, perspective)
  data: null, // the last /history answer
  error: "",
  newest: 0, // the highest seq drawn: commits above it on the next drawing are new
  scrub: null, // the commit the scrubber shows (null: follow the latest)
  past: null, // {seq, key, json} of the room at that commit
  loading: false,
  again: false,
  view: "", // the perspective what is shown was read with
};

function filters() {
  const f = {
    agent: $("tl-agent").value,
    action: $("tl-action").value,
    scope: $("tl-scope").value.trim(),
    key: $("tl-key").value.trim(),
  };
  if (!f.scope) f.key = "";
  return f;
}

function query(extra) {
  const q = new URLSearchParams(extra);
  for (const [k, v] of Object.entries(filters())) if (v) q.set(k, v);
  if (S.perspective) q.set("as", S.perspective);
  return q;
}

/** Rebuilds a filter's options when the set of values changed, keeping the selection if it still exists. */
function syncSelect(sel, values, label) {
  const key = JSON.stringify(values);
  if (sel.dataset.key === key) return;
  sel.dataset.key = key;
  const cur = sel.value;
  render(
    sel,
    markup`<option value="">${label}</option>${
      values.map((v) => markup`<option value="${v}">${v}</option>`)
    }`,
  );
  sel.value = values.includes(cur) ? cur : "";
}

function write(c, w) {
  const path = `tl:${c.seq}:${w.scope}/${w.key}`;
  const what = w.deleted
    ? markup`<span class="badge warn">deleted</span>`
    : markup`<span class="eq">=</span> ${inline(w.value, path)}`;
  return markup`<li><code class="k">${w.scope}.${w.key}</code> ${what} <span class="badge outline">v${w.version}</span></li>`;
}

function definitions(c) {
  const out = [];
  for (const a of c.actions ?? []) {
    out.push(markup`<li>action <code>${a.id}</code> ${a.deleted ? "deleted" : "registered"}</li>`);
  }
  for (const v of c.views ?? []) {
    out.push(
      markup`<li>view <code>${v.id}</code> ${
        v.deleted ? "deleted" : markup`= <code>${short(v.expr, 60)}</code>`
      }</li>`,
    );
  }
  for (const a of c.agents ?? []) {
    const grants = a.grants?.length ? markup` · grants ${a.grants.join(", ")}` : "";
    out.push(markup`<li>agent <code>${a.id}</code> ${a.role}${grants} · ${a.status}</li>`);
  }
  // an approved action's run, as its proposer, inside the approval's commit
  for (const r of c.runs ?? []) {
    const how = r.ok ? "" : markup` <span class="badge bad">refused · ${r.error ?? ""}</span>`;
    out.push(markup`<li class="run">ran <b>${r.action}</b> as ${r.agent}${how}</li>`);
  }
  for (const l of c.leases ?? []) {
    const who = l.holder === null ? "ended" : markup`held by ${l.holder}`;
    out.push(
      markup`<li>lease <code class="k">${l.scope}.${l.key}</code> ${who} <span class="badge outline">epoch ${l.epoch}</span></li>`,
    );
  }
  for (const p of c.proposals ?? []) {
    out.push(markup`<li>proposal <code>${p.id}</code> ${p.action} · ${p.status}</li>`);
  }
  return out;
}

function reason(c) {
  if (c.ok) return "";
  const detail = c.detail && Object.keys(c.detail).length
    ? markup`<div class="detail">${tree(c.detail, `tl:${c.seq}:detail`)}</div>`
    : "";
  return markup`<div class="reason"><span class="badge bad">refused · ${c.error}</span> ${
    c.message ?? ""
  }${detail}</div>`;
}

function commit(c) {
  const diff = [...c.writes.map((w) => write(c, w)), ...definitions(c)];
  return markup`<li class="commit" data-seq="${c.seq}" data-ok="${
    c.ok ? "1" : "0"
  }" data-flash-id="commit:${c.seq}"
data-flash="${c.seq}"><div class="head"><button type="button" class="seq" data-at="${c.seq}"
title="show the room as it stood after this commit">#${c.seq}</button><span class="what">${c.agent} · <b>${c.action}</b></span>${
    c.ok ? "" : markup`<span class="badge bad">refused</span>`
  }${timeTag(c.ts)}</div>${reason(c)}${diff.length ? markup`<ul class="diff">${diff}</ul>` : ""}</li>`;
}

function drawTimeline() {
  const d = tl.data;
  const before = tl.newest;
  put("timeline", [d?.commits.map((c) => c.seq), tl.error, tl.key], () => {
    if (tl.error) return markup`<div class="error-text">${tl.error}</div>`;
    if (!d) return markup`<div class="empty">Loading…</div>`;
    if (!d.commits.length) {
      const filtered = Object.values(filters()).some(Boolean);
      return markup`<div class="empty">${
        filtered ? "No commit matches the filter." : "No commits yet."
      }</div>`;
    }
    const more = d.next !== null
      ? markup`<li class="empty">older commits: page with before=${d.next}</li>`
      : "";
    return markup`<ol class="timeline">${d.commits.map(commit)}${more}</ol>`;
  });
  const top = d?.commits[0]?.seq ?? 0;
  if (before && top > before) {
    // arrived since the last drawing: highlighted like a changed value
    for (const li of $("b-timeline").querySelectorAll("li.commit")) {
      if (Number(li.dataset.seq) <= before) continue;
      li.classList.add("flash", "arrived");
      li.addEventListener("animationend", () => li.classList.remove("flash"), { once: true });
    }
  }
  if (top > tl.newest) tl.newest = top;
  $("c-timeline").textContent = d
    ? `${plural(d.commits.length, "commit")} · history from #${d.oldest_seq}`
    : "";
}

async function loadTimeline() {
  if (tl.loading) return void (tl.again = true);
  tl.loading = true;
  try {
    do {
      tl.again = false;
      const key = JSON.stringify([S.data?.cursor, filters(), S.perspective]);
      const asked = JSON.stringify([filters(), S.perspective]);
      const r = await api("GET", `${ROOM_PATH}/history?${query({ limit: String(LIMIT) })}`);
      if (S.stopped) return;
      // read for another perspective or filter than the page shows now: read again
      if (asked !== JSON.stringify([filters(), S.perspective])) {
        tl.again = true;
        continue;
      }
      tl.key = key;
      if (r.status === 200) {
        tl.data = r.json;
        tl.error = "";
      } else tl.error = r.json?.message || `the history answered ${r.status}`;
      drawTimeline();
      syncScrubber();
    } while (tl.again && !S.stopped);
  } finally {
    tl.loading = false;
  }
}

// ── the scrubber: the room at one commit ────────────────────────────────────────────────────────────

function syncScrubber() {
  const d = tl.data;
  const range = $("scrub");
  if (!d) return;
  range.min = String(d.oldest_seq);
  range.max = String(d.cursor);
  const at = tl.scrub ?? d.cursor;
  range.value = String(at);
  $("scrub-live").disabled = tl.scrub === null;
  markShown(at);
  showAt(at);
}

/** Marks the commit the scrubber shows in the list. */
function markShown(seq) {
  for (const li of $("b-timeline").querySelectorAll("li.commit")) {
    li.classList.toggle("shown", tl.scrub !== null && Number(li.dataset.seq) === seq);
  }
}

function label(seq, json) {
  const live = tl.scrub === null ? " · live" : "";
  $("scrub-label").textContent = `#${seq}${
    json?.at?.ts ? ` · ${json.at.ts.replace("T", " ").slice(0, 19)}` : ""
  }${live}`;
}

async function showAt(seq) {
  const key = JSON.stringify([seq, S.perspective]);
  label(seq, tl.past?.key === key ? tl.past.json : null);
  if (tl.past?.key === key) return;
  const q = new URLSearchParams({ at: String(seq), only: "state,views,agents" });
  if (S.perspective) q.set("agent", S.perspective);
  const r = await api("GET", `${ROOM_PATH}/context?${q}`);
  // moved on meanwhile (another commit, or another perspective)
  if (S.stopped || (tl.scrub ?? tl.data?.cursor) !== seq || key !== JSON.stringify([seq, S.perspective])) {
    return;
  }
  tl.past = { seq, key, json: r.status === 200 ? r.json : { error: r.json?.message || `error ${r.status}` } };
  label(seq, tl.past.json);
  drawAt();
}

function scopeRows(scope, entries) {
  return markup`<div class="at-scope" data-at-scope="${scope}"><div class="at-name">${scope}</div>${
    Object.entries(entries).map(([k, v]) =>
      markup`<div class="row" data-flash-id="at:${scope}/${k}" data-flash="${
        fingerprint(v)
      }"><div class="k">${k}</div>
<div class="v">${tree(v, `at:${scope}/${k}`)}</div></div>`
    )
  }</div>`;
}

function drawAt() {
  const p = tl.past;
  put("at", [p?.key, p?.json], () => {
    if (!p) return markup`<div class="empty">Loading…</div>`;
    const j = p.json;
    if (j.error) return markup`<div class="error-text">${j.error}</div>`;
    const scopes = Object.entries(j.state ?? {});
    const views = Object.entries(j.views ?? {});
    const agents = Object.entries(j.agents ?? {});
    return markup`<h3>Agents</h3>${
      agents.length
        ? markup`<ul class="at-agents">${
          agents.map(([id, a]) =>
            markup`<li data-flash-id="at-agent:${id}" data-flash="${
              fingerprint([a.role, a.grants])
            }"><b>${id}</b> ${a.role}${a.grants?.length ? markup` · grants ${a.grants.join(", ")}` : ""}</li>`
          )
        }</ul>`
        : markup`<div class="empty">No agents yet.</div>`
    }<h3>State</h3>${
      scopes.length ? scopes.map(([s, e]) => scopeRows(s, e)) : markup`<div class="empty">No state.</div>`
    }<h3>Views</h3>${
      views.length
        ? markup`<div class="at-views">${
          views.map(([id, v]) =>
            markup`<div class="row" data-view-at="${id}" data-flash-id="at-view:${id}" data-flash="${
              fingerprint(v)
            }"><div class="k">${id}</div><div class="v">${tree(v, `at-view:${id}`)}</div></div>`
          )
        }</div>`
        : markup`<div class="empty">No views.</div>`
    }`;
  });
}

/** After each read of the room: the timeline is re-read when the room moved or a filter changed. */
export function renderTimeline(d) {
  syncSelect($("tl-agent"), ["admin", ...d.agents.map((a) => a.id)], "all agents");
  const actions = new Set([...d.actions.map((a) => a.id), ...(tl.data?.commits ?? []).map((c) => c.action)]);
  syncSelect($("tl-action"), [...actions].sort(), "all actions");
  if (tl.view !== S.perspective) {
    // another perspective: nothing read with the previous one stays on the page while the new one loads
    tl.view = S.perspective;
    tl.data = null;
    tl.past = null;
    tl.newest = 0;
    tl.error = "";
    drawTimeline();
    drawAt();
  }
  const key = JSON.stringify([d.cursor, filters(), S.perspective]);
  if (key !== tl.key) loadTimeline();
}

export function initTimeline() {
  const reload = () => S.data && renderTimeline(S.data);
  for (const id of ["tl-agent", "tl-action"]) $(id).addEventListener("change", reload);
  let typing = 0;
  for (const id of ["tl-scope", "tl-key"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(reload, 250);
    });
  }
  $("scrub").addEventListener("input", (e) => {
    const seq = Number(e.target.value);
    tl.scrub = tl.data && seq >= tl.data.cursor ? null : seq;
    $("scrub-live").disabled = tl.scrub === null;
    markShown(seq);
    showAt(seq);
  });
  $("scrub-live").addEventListener("click", () => {
    tl.scrub = null;
    syncScrubber();
  });
  $("b-timeline").addEventListener("click", (e) => {
    const b = e.target.closest?.("button[data-at]");
    if (!b) return;
    tl.scrub = Number(b.dataset.at);
    syncScrubber();
  });
}
