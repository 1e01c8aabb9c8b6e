// The Views panel: each view's live value drawn by its render hint (progress, badge, list, table, json,
// or plain), with its scope, timer and error; a view hidden from agents (dormant or disabled: the room and
// view tokens see those) with its expression and condition. A value that changed flashes.
import { markup } from "./html.js";
import { timerBadge } from "./format.js";
import { inline, longText, openState, tree } from "./json_view.js";
import { fingerprint, put } from "./panel.js";

/** A render hint is a type name or `{type, …options}`. */
function hintOf(render) {
  if (typeof render === "string") return { type: render };
  if (render && typeof render === "object" && !Array.isArray(render)) {
    return { ...render, type: String(render.type || "") };
  }
  return { type: "" };
}

function table(val, path) {
  const rows = Array.isArray(val) ? val : Object.entries(val).map(([k, x]) => ({ key: k, value: x }));
  const cols = [...new Set(rows.flatMap((r) => r && typeof r === "object" ? Object.keys(r) : ["value"]))]
    .slice(0, 8);
  const cell = (r, c) => r && typeof r === "object" ? r[c] ?? null : c === "value" ? r : null;
  const body = rows.slice(0, 100).map((r, i) =>
    markup`<tr>${cols.map((c) => markup`<td>${inline(cell(r, c), `${path}/${i}/${c}`)}</td>`)}</tr>`
  );
  return markup`<div class="table-wrap"><table class="kv"><tr>${
    cols.map((c) => markup`<th>${c}</th>`)
  }</tr>${body}</table></div>`;
}

function viewValue(v) {
  const h = hintOf(v.render);
  const val = v.value;
  const t = h.type.toLowerCase();
  const path = "view:" + v.id;
  if (v.error) return markup`<div class="error-text">${v.error}</div>`;
  if (v.hidden) {
    return markup`<div class="hint">hidden from agents (${v.hidden}): <code>${v.expr}</code>${
      v.enabled ? markup` while <code>${v.enabled}</code> is not true` : ""
    }</div>`;
  }
  if ((t === "progress" || t === "meter" || t === "bar") && typeof val === "number") {
    const max = typeof h.max === "number" && h.max > 0 ? h.max : val <= 1 ? 1 : 100;
    return markup`<div class="big">${val}<span class="hint"> / ${max}</span></div>
<progress class="meter" max="${max}" value="${Math.max(0, Math.min(val, max))}"></progress>`;
  }
  if ((t === "badge" || t === "status" || t === "tag") && (typeof val !== "object" || val === null)) {
    const cls = val === true || val === "ok" || val === "healthy" ? "ok" : val === false ? "bad" : "accent";
    return markup`<span class="badge big-badge ${cls}">${String(val)}</span>`;
  }
  if (t === "list" && Array.isArray(val)) {
    return markup`<ul>${
      val.slice(0, 100).map((x, i) =>
        markup`<li>${typeof x === "string" ? longText(x, `${path}/${i}`) : inline(x, `${path}/${i}`)}</li>`
      )
    }</ul>`;
  }
  if (t === "table" && val && typeof val === "object") return table(val, path);
  if (t === "json" || (val !== null && typeof val === "object")) return tree(val, path);
  if (typeof val === "string") return markup`<div class="big text">${longText(val, path)}</div>`;
  return markup`<div class="big">${inline(val)}</div>`;
}

function viewCard(v) {
  const h = hintOf(v.render);
  return markup`<div class="card${v.hidden ? " hidden-row" : ""}" data-view="${v.id}"><div class="line1">
<span class="title">${v.id}</span>${
    v.hidden ? markup`<span class="badge bad" data-hidden="${v.hidden}">${v.hidden}</span>` : ""
  }<span class="badge">${v.scope}</span>${
    h.type ? markup`<span class="badge outline">${h.type}</span>` : ""
  }${v.error ? markup`<span class="badge bad">error</span>` : ""}${timerBadge(v.timer)}</div>${
    v.description ? markup`<div class="desc">${v.description}</div>` : ""
  }
<div class="view-value" data-flash-id="${v.id}" data-flash="${fingerprint([v.value, v.error])}">${
    viewValue(v)
  }</div></div>`;
}

export function renderViews(d) {
  document.getElementById("c-views").textContent = String(d.views.length);
  const open = [...openState].filter(([k]) => k.includes("view:"));
  put("views", [d.views, open], () => {
    if (!d.views.length) return markup`<div class="empty">No views registered.</div>`;
    return markup`<div class="cards">${d.views.map(viewCard)}</div>`;
  });
}
