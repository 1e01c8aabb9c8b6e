// Shared rendering of counts, times and timer badges. Times show the date and the local time; relative
// labels ("3s ago", "in 2m") are re-drawn every second by startTicker without re-rendering the panels.
import { markup } from "./html.js";

export const plural = (n, w) => `${n.toLocaleString()} ${w}${n === 1 ? "" : "s"}`;

export function short(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

const pad = (n) => String(n).padStart(2, "0");

/** "2026-05-04 14:03:07" in local time: a timestamp always carries its date. */
export function stamp(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(ts) {
  if (!ts) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return stamp(ts);
}

export function until(ts) {
  const s = Math.ceil((Date.parse(ts) - Date.now()) / 1000);
  if (s <= 0) return "now";
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h`;
}

/** A <time> element with the date and time, the ISO form in its tooltip. */
export const timeTag = (ts) => markup`<time datetime="${ts || ""}" title="${ts || ""}">${stamp(ts)}</time>`;
export const agoSpan = (ts) => markup`<span data-ago="${ts || ""}" title="${stamp(ts)}">${ago(ts)}</span>`;
export const untilSpan = (ts, prefix) =>
  markup`<span data-until="${ts}" data-prefix="${prefix}" title="${stamp(ts)}">${prefix}${until(ts)}</span>`;

/** A state entry's or view's timer: a countdown to its deadline, or ticks of a key. */
export function timerBadge(t) {
  if (!t) return "";
  const what = t.effect === "enable" ? "live in " : "expires in ";
  if (t.expires_at) return markup`<span class="badge warn">${untilSpan(t.expires_at, what)}</span>`;
  if (t.ticks !== undefined) {
    return markup`<span class="badge warn" title="${JSON.stringify(t)}">${what}${t.ticks} ticks of ${
      t.tick_on || "?"
    }</span>`;
  }
  return markup`<span class="badge warn">timer</span>`;
}

/** A state entry's lease: who holds it, its epoch, and a countdown to when it lapses unless renewed. */
export function leaseBadge(l) {
  if (!l) return "";
  return markup`<span class="badge lease" title="leased by ${l.holder}, epoch ${l.epoch}, until ${
    stamp(l.expires_at)
  } unless renewed">held by <span class="holder">${l.holder}</span> · epoch ${l.epoch} · ${
    untilSpan(l.expires_at, "lapses in ")
  }</span>`;
}

/**
 * Re-draws the relative labels once a second; calls onExpired when a countdown reaches zero (a timer
 * fired on the server, so the room is worth re-reading). Returns the function that stops it.
 */
export function startTicker(onExpired) {
  const tick = () => {
    let expired = false;
    for (const el of document.querySelectorAll("[data-ago]")) el.textContent = ago(el.dataset.ago);
    for (const el of document.querySelectorAll("[data-until]")) {
      el.textContent = el.dataset.prefix + until(el.dataset.until);
      if (Date.parse(el.dataset.until) <= Date.now() && !el.dataset.fired) {
        el.dataset.fired = "1";
        expired = true;
      }
    }
    if (expired) onExpired();
  };
  const id = setInterval(tick, 1000);
  return () => clearInterval(id);
}
