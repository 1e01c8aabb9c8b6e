// The Audit panel: the latest invocations, newest first, ok or refused with the reason, filterable by
// agent, action and result. The filters' options follow the rows that are loaded.
import { markup, render } from "./html.js";
import { timeTag } from "./format.js";
import { put } from "./panel.js";
import { S } from "./session.js";

const $ = (id) => document.getElementById(id);

/** Rebuilds a filter's options when the set of values changed, keeping the selection if it still exists. */
function syncSelect(sel, values, label) {
  const key = JSON.stringify(values);
  if (sel.dataset.key === key) return;
  sel.dataset.key = key;
  const cur = sel.value;
  const options = values.map((v) => markup`<option value="${v}">${v}</option>`);
  render(sel, markup`<option value="">${label}</option>${options}`);
  sel.value = values.includes(cur) ? cur : "";
}

function entry(a) {
  const result = a.ok
    ? markup`<span class="badge ok">ok</span>`
    : markup`<span class="badge bad" title="${a.error || ""}">refused · ${a.status}${
      a.error ? " " + a.error : ""
    }</span>`;
  const params = a.params && Object.keys(a.params).length ? JSON.stringify(a.params) : "";
  return markup`<li data-seq="${a.seq}" data-ok="${a.ok ? "1" : "0"}"><span class="seq">#${a.seq}</span>
<span class="what">${a.agent} · <b>${a.action}</b>${
    a.builtin ? "" : markup` <span class="badge outline">custom</span>`
  }</span>
<span class="result">${result}</span><span class="params" title="${params}">${params}</span>${
    timeTag(a.ts)
  }</li>`;
}

export function renderAudit(d) {
  syncSelect($("audit-agent"), [...new Set(d.audit.map((a) => a.agent))].sort(), "all agents");
  syncSelect($("audit-action"), [...new Set(d.audit.map((a) => a.action))].sort(), "all actions");
  const fa = $("audit-agent").value, fx = $("audit-action").value, fo = $("audit-ok").value;
  const rows = d.audit.filter((a) =>
    (!fa || a.agent === fa) && (!fx || a.action === fx) && (!fo || (fo === "ok") === !!a.ok)
  ).sort((a, b) => b.seq - a.seq);
  $("c-audit").textContent = d.audit_count > d.audit.length
    ? `latest ${d.audit.length} of ${d.audit_count.toLocaleString()}`
    : String(d.audit.length);
  put("audit", [rows.map((r) => r.seq), d.audit.length, fa, fx, fo], () => {
    if (!rows.length) {
      return markup`<div class="empty">${
        d.audit.length ? "Nothing matches the filter." : "No invocations yet."
      }</div>`;
    }
    return markup`<ol class="audit">${rows.map(entry)}</ol>`;
  });
}

export function initAudit() {
  for (const id of ["audit-agent", "audit-action", "audit-ok"]) {
    $(id).addEventListener("change", () => S.data && renderAudit(S.data));
  }
}
