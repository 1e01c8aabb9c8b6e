// The CEL console: evaluates an expression against the room with the acting identity's privacy
// (POST /rooms/:id/eval) and keeps the last 20 results, newest first.
import { markup, render } from "./html.js";
import { tree } from "./json_view.js";
import { actingAs, api, ROOM_PATH, S } from "./session.js";

const $ = (id) => document.getElementById(id);
const KEEP = 20;
let evaluated = 0;

function result(r) {
  if (r.status === 200 && !r.json.error) {
    return markup`<div class="res" data-ok="1">${tree(r.json.value, `cel:${++evaluated}`)}</div>`;
  }
  const j = r.json;
  const msg = j && (j.error && j.message ? `${j.error}: ${j.message}` : j.error);
  return markup`<div class="res error-text" data-ok="0">${msg || "error " + r.status}${
    j?.detail ? ` — ${typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail)}` : ""
  }</div>`;
}

export function initCel() {
  $("cel-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const expr = $("cel-expr").value.trim();
    if (!expr) return;
    const body = { expr };
    if (S.perspective) body.agent = S.perspective;
    const as = actingAs();
    const r = await api("POST", `${ROOM_PATH}/eval`, body);
    const li = document.createElement("li");
    render(
      li,
      markup`<div class="expr"><code>${expr}</code> <span class="hint">as ${as}</span></div>${result(r)}`,
    );
    const out = $("cel-out");
    out.prepend(li);
    while (out.children.length > KEEP) out.lastElementChild.remove();
  });
}
