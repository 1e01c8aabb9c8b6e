// The Actions panel: custom actions with availability, params, writes, predicate, registrar and cooldown;
// the built-ins folded below. Invoke buttons (not for view tokens) open the invoke dialog.
import { markup } from "./html.js";
import { plural, short, untilSpan } from "./format.js";
import { isOpen, openState } from "./json_view.js";
import { put } from "./panel.js";
import { S } from "./session.js";

function writeSummary(w) {
  const scope = w.scope ?? "(own scope)";
  const target = w.key !== undefined ? `${scope}.${w.key}` : scope;
  const val = (v) => short(JSON.stringify(v), 28);
  let text;
  if (w.append) text = w.key !== undefined ? `${target} push ${val(w.value)}` : `append to ${scope}`;
  else if (w.merge !== undefined) text = `${target} merge ${val(w.merge)}`;
  else if (w.increment !== undefined && w.increment !== false) {
    text = `${target} += ${w.increment === true ? val(w.value ?? 1) : val(w.increment)}`;
  } else if (w.delete) text = `delete ${target}`;
  else text = `${target} = ${val(w.value)}`;
  return markup`<code title="${JSON.stringify(w)}">${text}</code>`;
}

function paramSummary(name, p) {
  const bits = [p.type || "any"];
  if (p.required) bits.push("required");
  if (p.enum) bits.push(p.enum.map((x) => JSON.stringify(x)).join("|"));
  if (p.default !== undefined) bits.push(`= ${JSON.stringify(p.default)}`);
  return markup`<code title="${p.description || ""}">${name}: ${bits.join(" ")}</code>`;
}

function availability(a) {
  if (a.cooldown) {
    if (a.cooldown.available_at) {
      return markup`<span class="badge warn">cooldown ${untilSpan(a.cooldown.available_at, "")}</span>`;
    }
    if (a.cooldown.ticks_remaining !== undefined) {
      return markup`<span class="badge warn">cooldown · ${a.cooldown.ticks_remaining} ticks</span>`;
    }
    return markup`<span class="badge warn">dormant</span>`;
  }
  if (!a.enabled) return markup`<span class="badge">disabled</span>`;
  return a.available
    ? markup`<span class="badge ok">available</span>`
    : markup`<span class="badge bad">unavailable</span>`;
}

function details(a) {
  const params = Object.entries(a.params || {});
  const rows = [];
  if (params.length) {
    rows.push(
      markup`<span>params</span><span class="params">${params.map(([k, p]) => paramSummary(k, p))}</span>`,
    );
  }
  if (a.writes?.length) {
    rows.push(markup`<span>writes</span><span class="writes">${a.writes.map(writeSummary)}</span>`);
  }
  if (a.if) rows.push(markup`<span>if</span><span><code>${a.if}</code></span>`);
  if (a.enabled_expr) rows.push(markup`<span>enabled if</span><span><code>${a.enabled_expr}</code></span>`);
  if (a.registrar) rows.push(markup`<span>by</span><span>${a.registrar} · scope ${a.scope}</span>`);
  return rows.length ? markup`<div class="detail">${rows}</div>` : "";
}

/** A card; `brief` (the built-ins) shows only the id, the description and the invoke button. */
function actionCard(a, brief) {
  const invoke = S.kind === "viewer"
    ? ""
    : markup`<button class="small" data-invoke="${a.id}">Invoke…</button>`;
  return markup`<div class="card" data-action="${a.id}"><div class="line1"><span class="title">${a.id}</span>${
    brief ? "" : availability(a)
  }<span class="right">${invoke}</span></div>${
    a.description || brief ? markup`<div class="desc">${a.description || ""}</div>` : ""
  }${brief ? "" : details(a)}</div>`;
}

export function renderActions(d) {
  const custom = d.actions.filter((a) => !a.builtin);
  const builtin = d.actions.filter((a) => a.builtin);
  document.getElementById("c-actions").textContent = `${custom.length} custom · ${builtin.length} built-in`;
  put("actions", [d.actions, S.kind, S.perspective, openState.get("builtins")], () => {
    const list = custom.length
      ? markup`<div class="cards">${custom.map((a) => actionCard(a, false))}</div>`
      : markup`<div class="empty">No custom actions registered.</div>`;
    return markup`${list}<details class="builtins" data-path="builtins"${
      isOpen("builtins", false) ? markup` open` : ""
    }>
<summary>${plural(builtin.length, "built-in action")}</summary><div class="cards">${
      builtin.map((a) => actionCard(a, true))
    }</div></details>`;
  });
}
