// The Messages panel: at most one page (MSG_PAGE) drawn, newest first; "Older"/"Newer" page through
// /context?only=messages, "Latest" returns to the live page. Long bodies collapse behind "show more".
import { markup } from "./html.js";
import { stamp, timeTag } from "./format.js";
import { longText, tree } from "./json_view.js";
import { put } from "./panel.js";
import { api, ROOM_PATH, S } from "./session.js";

export const MSG_PAGE = 200;
const $ = (id) => document.getElementById(id);
let page = null; // null = the latest messages (live); {from, list} = a fixed page

/** Re-reads the fixed page being shown, if any (after the room changed). */
export async function reloadMessagePage() {
  if (page) await loadPage(page.from);
}

async function loadPage(from) {
  const q = new URLSearchParams({
    only: "messages",
    messages_after: String(Math.max(0, from - 1)),
    messages_limit: String(MSG_PAGE),
  });
  const r = await api("GET", `${ROOM_PATH}/context?${q}`);
  if (r.status === 200) page = { from, list: r.json.messages.recent };
}

function message(m) {
  const to = m.to === null || m.to === undefined ? "" : Array.isArray(m.to) ? m.to.join(", ") : m.to;
  const body = typeof m.body === "string" ? longText(m.body, `m:${m.seq}`) : tree(m.body, `m:${m.seq}`);
  const reply = m.reply_to !== null && m.reply_to !== undefined
    ? markup`<span class="badge outline">↩ #${m.reply_to}</span>`
    : "";
  const claim = m.claimed_by
    ? markup`<span class="badge ok" title="claimed ${stamp(m.claimed_at)}">claimed by ${m.claimed_by}</span>`
    : "";
  return markup`<li class="msg" data-seq="${m.seq}"><div class="msg-head"><span class="seq">#${m.seq}</span>
<span class="from">${m.from ?? "room"}</span>${
    to ? markup`<span>→ ${to}</span>` : ""
  }<span class="badge">${m.kind}</span>${reply}${claim}${
    timeTag(m.ts)
  }</div><div class="msg-body">${body}</div></li>`;
}

export function renderMessages(d) {
  const total = d.message_count;
  const list = page ? page.list : d.messages;
  const first = list.length ? list[0].seq : 0;
  const last = list.length ? list[list.length - 1].seq : 0;
  $("c-messages").textContent = total.toLocaleString();
  $("msg-range").textContent = list.length
    ? `#${first.toLocaleString()}–#${last.toLocaleString()} of ${total.toLocaleString()}${
      page ? "" : " · live"
    }`
    : "";
  $("msg-older").disabled = !list.length || first <= 1;
  $("msg-newer").disabled = !page;
  $("msg-latest").disabled = !page;
  put("messages", [list, page && page.from], () => {
    if (!list.length) return markup`<div class="empty">No messages yet.</div>`;
    return markup`<ol class="msgs" reversed>${list.slice().reverse().map(message)}</ol>`;
  });
}

async function showPage(from) {
  if (from === null) page = null;
  else await loadPage(Math.max(1, from));
  $("b-messages").scrollTop = 0;
  if (S.data) renderMessages(S.data);
}

export function initMessages() {
  $("msg-older").addEventListener("click", () => {
    const list = page ? page.list : S.data.messages;
    if (list.length) showPage(list[0].seq - MSG_PAGE);
  });
  $("msg-newer").addEventListener("click", () => {
    if (!page) return;
    const next = page.from + MSG_PAGE;
    showPage(next + MSG_PAGE - 1 >= S.data.message_count ? null : next);
  });
  $("msg-latest").addEventListener("click", () => showPage(null));
}
