// The top of the page: who the token is, the room token's "View as" selector, the live indicator and
// the banner (an error, or the perspective being shown).
import { markup, render } from "./html.js";
import { S } from "./session.js";

const $ = (id) => document.getElementById(id);

export function setLive(mode, text) {
  const el = $("live");
  el.className = "live " + mode;
  el.lastElementChild.textContent = text;
}

/** An error or info line above the panels; `null` clears it (but not the perspective notice). */
export function banner(text, error) {
  const b = $("banner");
  if (!text) {
    if (b.dataset.kind !== "persp") b.hidden = true;
    return;
  }
  b.hidden = false;
  b.dataset.kind = error ? "error" : "info";
  b.className = "banner" + (error ? " error" : "");
  b.textContent = text;
}

function perspectiveBanner() {
  const b = $("banner");
  if (S.perspective) {
    const p = S.perspective;
    b.hidden = false;
    b.dataset.kind = "persp";
    b.className = "banner";
    b.textContent = `Viewing as ${p}: exactly what ${p} can see (other agents' private scopes hidden). ` +
      `Actions and the CEL console act as ${p}.`;
  } else if (b.dataset.kind === "persp") {
    b.hidden = true;
    b.dataset.kind = "";
  }
}

export function renderHeader(d) {
  const who = $("who");
  who.hidden = false;
  who.textContent = S.kind === "admin"
    ? "room token · full access"
    : S.kind === "viewer"
    ? "view token · read-only"
    : `agent · ${d.self}`;
  who.className = "badge " + (S.kind === "viewer" ? "outline" : "accent");
  $("forget").hidden = false;
  $("persp-wrap").hidden = S.kind !== "admin";
  if (S.kind === "admin") {
    const sel = $("persp");
    const opts = [["", "everything (room token)"], ...d.agents.map((a) => [a.id, a.id])];
    const key = JSON.stringify(opts);
    if (sel.dataset.key !== key) {
      sel.dataset.key = key;
      render(sel, markup`${opts.map(([v, t]) => markup`<option value="${v}">${t}</option>`)}`);
    }
    sel.value = S.perspective;
  }
  perspectiveBanner();
  $("c-cel").textContent = `as ${S.perspective || d.self}`;
}

/** onChange(agentId) when the room token picks another perspective. */
export function initHeader(onChange) {
  $("persp").addEventListener("change", (e) => onChange(e.target.value));
}
