// Draws a panel body only when what it shows changed, keeps its scroll position, and flashes the values
// that changed since the last drawing: elements marked data-flash-id carry a data-flash fingerprint.
import { render } from "./html.js";

const drawn = new Map(); // panel id → JSON of what it shows

/** Forget what is drawn (the perspective changed): the next drawing is complete and flashes nothing. */
export const resetPanels = () => drawn.clear();

/** A short fingerprint of any JSON value, for data-flash. */
export function fingerprint(v) {
  const s = JSON.stringify(v) ?? "";
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36) + s.length.toString(36);
}

function fingerprints(el) {
  const m = new Map();
  for (const x of el.querySelectorAll("[data-flash-id]")) m.set(x.dataset.flashId, x.dataset.flash);
  return m;
}

/** Redraws panel `id` (#b-<id>) with draw() when `key` differs from the last drawing. */
export function put(id, key, draw) {
  const k = JSON.stringify(key);
  if (drawn.get(id) === k) return;
  const before = drawn.has(id) ? fingerprints(document.getElementById("b-" + id)) : null;
  drawn.set(id, k);
  const el = document.getElementById("b-" + id);
  const top = el.scrollTop;
  render(el, draw());
  el.scrollTop = top;
  if (!before) return;
  for (const x of el.querySelectorAll("[data-flash-id]")) {
    const was = before.get(x.dataset.flashId);
    if (was === undefined || was === x.dataset.flash) continue;
    x.classList.add("flash");
    x.addEventListener("animationend", () => x.classList.remove("flash"), { once: true });
  }
}
