// JSON values as collapsible trees, and long text collapsed behind "show more". Which trees are open and
// which long texts are expanded is remembered by path, so a live re-render keeps what the reader opened.
import { markup } from "./html.js";
import { plural } from "./format.js";

const LONG = 240; // characters of a text shown before "show more"
const LONG_LINES = 8;
const FLAT = 60; // a value whose JSON is at most this long stays on one line

/** data-path → open: <details> trees and "show more" texts (keys "more:<path>"). */
export const openState = new Map();

export const isOpen = (path, dflt) => openState.has(path) ? openState.get(path) : dflt;

function isLong(s) {
  if (s.length > LONG) return true;
  let lines = 1;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) if (++lines > LONG_LINES) return true;
  return false;
}

const headOf = (s) => s.slice(0, LONG).split("\n").slice(0, LONG_LINES).join("\n") + "…";
const moreLabel = (n, open) => open ? "show less" : `show more (${n.toLocaleString()} chars)`;

/**
 * Text that may be long: past LONG characters or LONG_LINES lines it shows its head and a "show more"
 * button; `wrap` draws each form (e.g. quoted for JSON strings). Without a path nothing is remembered.
 */
export function longText(s, path, wrap = (t) => markup`<span class="text">${t}</span>`) {
  if (!isLong(s)) return wrap(s);
  const key = "more:" + (path ?? "");
  const open = path !== undefined && isOpen(key, false);
  const hidden = markup` hidden`;
  return markup`<span class="long" data-more="${key}" data-chars="${s.length}"><span class="long-head"${
    open ? hidden : ""
  }>${wrap(headOf(s))}</span><span class="long-full"${open ? "" : hidden}>${
    wrap(s)
  }</span> <button type="button"
class="more">${moreLabel(s.length, open)}</button></span>`;
}

const quoted = (t) => markup`<span class="j-str">"${t}"</span>`;
const sub = (path, k) => path === undefined ? undefined : `${path}/${k}`;

/** A value on one line: strings quoted, long strings collapsed. */
export function inline(v, path) {
  if (v === null) return markup`<span class="j-lit">null</span>`;
  switch (typeof v) {
    case "string":
      return longText(v, path, quoted);
    case "number":
      return markup`<span class="j-num">${v}</span>`;
    case "boolean":
      return markup`<span class="j-lit">${String(v)}</span>`;
  }
  if (typeof v !== "object") return markup`<span class="j-lit">${String(v)}</span>`;
  if (Array.isArray(v)) return markup`[${v.map((x, i) => [i ? ", " : "", inline(x, sub(path, i))])}]`;
  return markup`{${
    Object.entries(v).map(([k, x], i) => [
      i ? ", " : "",
      markup`<span class="j-key">${k}</span>: `,
      inline(x, sub(path, k)),
    ])
  }}`;
}

/** A collapsible JSON tree; small values stay on one line, the first 100 members of large ones are drawn. */
export function tree(v, path, depth = 0) {
  if (v === null || typeof v !== "object") return markup`<span class="jv">${inline(v, path)}</span>`;
  const arr = Array.isArray(v);
  const keys = arr ? v.map((_, i) => i) : Object.keys(v);
  if (!keys.length) return markup`<span class="jv">${arr ? "[]" : "{}"}</span>`;
  const flat = JSON.stringify(v);
  if (flat.length <= FLAT) return markup`<span class="jv">${inline(v, path)}</span>`;
  const label = arr ? `[${plural(keys.length, "item")}]` : `{${plural(keys.length, "key")}}`;
  const shown = keys.slice(0, 100);
  const open = isOpen(path, depth === 0 && keys.length <= 12 && flat.length < 1500);
  const members = shown.map((k) =>
    markup`<div><span class="j-key">${k}</span>: ${tree(v[k], `${path}/${k}`, depth + 1)}</div>`
  );
  const more = keys.length > shown.length
    ? markup`<div class="j-more">… ${keys.length - shown.length} more</div>`
    : "";
  return markup`<details class="j" data-path="${path}"${open ? markup` open` : ""}><summary>${label}</summary>
<div class="j-body">${members}${more}</div></details>`;
}

/** Remembers opened trees, and toggles "show more" in place (no re-render needed). */
export function trackOpenState() {
  document.addEventListener("toggle", (e) => {
    const p = e.target?.dataset?.path;
    if (p) openState.set(p, e.target.open);
  }, true);
  document.addEventListener("click", (e) => {
    const b = e.target.closest?.(".long > button.more");
    if (!b) return;
    const box = b.parentElement;
    const full = box.querySelector(".long-full");
    const open = full.hidden;
    full.hidden = !open;
    box.querySelector(".long-head").hidden = open;
    b.textContent = moreLabel(Number(box.dataset.chars), open);
    if (box.dataset.more !== "more:") openState.set(box.dataset.more, open);
  });
}
