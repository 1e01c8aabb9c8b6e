// The invoke dialog (room and agent tokens): params prefilled from the action's defaults and required
// params, invoked as the acting identity; the answer is shown as text and the room re-read.
import { actingAs, api, ROOM_PATH, S } from "./session.js";

const $ = (id) => document.getElementById(id);

/** Defaults, and a placeholder for each required param without one. */
function initialParams(a) {
  const params = {};
  for (const [k, p] of Object.entries(a.params || {})) {
    if (p.default !== undefined) params[k] = p.default;
    else if (p.required) {
      params[k] = p.enum ? p.enum[0] : p.type === "number" || p.type === "integer" ? 0 : "";
    }
  }
  return params;
}

/** onInvoked is called after every invocation (the page re-reads the room). */
export function initInvoke(onInvoked) {
  let invoking = null;
  document.addEventListener("click", (e) => {
    const b = e.target.closest?.("[data-invoke]");
    if (!b || S.kind === "viewer" || !S.data) return;
    const a = S.data.actions.find((x) => x.id === b.dataset.invoke);
    if (!a) return;
    invoking = a.id;
    $("invoke-title").textContent = a.id;
    $("invoke-as").textContent = `as ${actingAs()}${a.description ? " — " + a.description : ""}`;
    $("invoke-params").value = JSON.stringify(initialParams(a), null, 2);
    $("invoke-result").hidden = true;
    $("invoke").showModal();
  });
  $("invoke-close").addEventListener("click", () => $("invoke").close());
  $("invoke-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("invoke-result");
    out.hidden = false;
    let params;
    try {
      params = JSON.parse($("invoke-params").value || "{}");
    } catch (err) {
      out.textContent = "params is not valid JSON: " + err.message;
      return;
    }
    const body = { params };
    if (S.perspective) body.agent = S.perspective;
    const r = await api("POST", `${ROOM_PATH}/actions/${encodeURIComponent(invoking)}/invoke`, body);
    out.textContent = `${r.status}\n${JSON.stringify(r.json, null, 2)}`;
    onInvoked();
  });
}
