// The State panel: scopes grouped (shared, other system scopes, private ones), each key with its JSON
// tree, version, timer, enabled and lease badges (holder, epoch, a countdown) — and, for the room and view
// tokens, entries hidden from agents badged "dormant" or "disabled"; a key filter. A value whose version moved
// flashes.
import { markup } from "./html.js";
import { leaseBadge, plural, short, stamp, timerBadge } from "./format.js";
import { isOpen, openState, tree } from "./json_view.js";
import { put } from "./panel.js";
import { S } from "./session.js";

const $ = (id) => document.getElementById(id);
const rank = (s) => s === "_shared" ? -2 : s.startsWith("_") ? -1 : 0;

function scopeBadge(scope, me) {
  if (scope.startsWith("_")) return markup`<span class="badge">system</span>`;
  if (scope === me) return markup`<span class="badge accent">private · yours</span>`;
  return markup`<span class="badge warn">private</span>`;
}

/** Why an entry is hidden from agents (only the room and view tokens get such rows): dormant or disabled. */
function hiddenBadge(r) {
  if (!r.hidden) return "";
  const why = r.hidden === "dormant"
    ? "hidden from agents until its enable timer fires"
    : "hidden from agents while its enabled condition is not true";
  return markup`<span class="badge bad" data-hidden="${r.hidden}" title="${why}">${r.hidden}</span>`;
}

function row(r) {
  const enabled = r.enabled
    ? markup`<span class="badge ${r.hidden === "disabled" ? "warn" : "ok"}" title="${r.enabled}">enabled if ${
      short(r.enabled, 28)
    }</span>`
    : "";
  return markup`<div class="row${
    r.hidden ? " hidden-row" : ""
  }" data-key="${r.key}"><div class="k">${r.key}</div><div class="v">
<div class="val" data-flash-id="${r.scope}/${r.key}" data-flash="${r.version}">${
    tree(r.value, `v:${r.scope}/${r.key}`)
  }</div>
<div class="meta">${hiddenBadge(r)}<span class="badge outline" title="updated ${
    stamp(r.updated_at)
  }">v${r.version}</span>${timerBadge(r.timer)}${enabled}${leaseBadge(r.lease)}</div></div></div>`;
}

function scopeBlock(scope, list, me) {
  const path = "scope:" + scope;
  return markup`<details class="scope" data-path="${path}" data-scope="${scope}"${
    isOpen(path, true) ? markup` open` : ""
  }>
<summary><span class="scope-name">${scope}</span>${scopeBadge(scope, me)}<span class="count">${
    plural(list.length, "key")
  }</span></summary><div class="rows">${list.map(row)}</div></details>`;
}

export function renderState(d) {
  const filter = $("state-filter").value.trim().toLowerCase();
  const rows = d.state.filter((r) =>
    !filter || r.key.toLowerCase().includes(filter) || r.scope.toLowerCase().includes(filter)
  );
  const scopes = Map.groupBy(rows, (r) => r.scope);
  const order = [...scopes.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const me = S.perspective || d.self;
  const scopeCount = new Set(d.state.map((r) => r.scope)).size;
  $("c-state").textContent = `${plural(d.state.length, "key")} · ${plural(scopeCount, "scope")}`;
  put("state", [rows, filter, me, [...openState]], () => {
    if (!order.length) {
      return markup`<div class="empty">${filter ? "No key matches the filter." : "No state yet."}</div>`;
    }
    return markup`${order.map((scope) => scopeBlock(scope, scopes.get(scope), me))}`;
  });
}

export function initState() {
  $("state-filter").addEventListener("input", () => S.data && renderState(S.data));
}
