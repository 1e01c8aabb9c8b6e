// agent-sync room dashboard (SPEC §12): vanilla JS, no dependencies, inlined by dashboard.ts.
// The token is taken from the URL fragment, kept in sessionStorage and sent only as a bearer header.
// Live updates come from the change feed (GET /rooms/:id/events, read with fetch because EventSource
// cannot send headers); each event re-fetches /poll. If the feed fails, /poll is polled every 1.5 s.
(() => {
  "use strict";
  const ROOM = document.body.dataset.room;
  const ROOM_PATH = "/rooms/" + encodeURIComponent(ROOM);
  const STORE = "agent-sync:token:" + ROOM;
  const MSG_PAGE = 200;
  const POLL_MS = 1500;
  const $ = (id) => document.getElementById(id);
  const esc = (v) =>
    String(v).replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
    );
  const plural = (n, w) => `${n.toLocaleString()} ${w}${n === 1 ? "" : "s"}`;

  const S = {
    token: null,
    kind: "admin", // admin | viewer | agent
    perspective: "", // agent id the room token reads as ("" = everything)
    data: null,
    msgPage: null, // null = the latest messages (live); {from, list} = a fixed page
    open: new Map(), // <details data-path> open state across re-renders
    rendered: {}, // panel id -> key of what is drawn (skip unchanged panels)
    live: "",
    stream: null,
    started: false,
  };

  // ---- token --------------------------------------------------------------------------------------
  function takeToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      const t = decodeURIComponent(m[1]).trim();
      if (t) sessionStorage.setItem(STORE, t);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(STORE);
  }

  function showGate(message) {
    $("app").hidden = true;
    $("who").hidden = true;
    $("forget").hidden = true;
    $("persp-wrap").hidden = true;
    $("gate").hidden = false;
    $("gate-error").hidden = !message;
    $("gate-error").textContent = message || "";
    setLive("off", "no token");
    stopStream();
    $("gate-token").focus();
  }

  $("gate-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("gate-token").value.trim();
    if (!t) return;
    $("gate-token").value = "";
    sessionStorage.setItem(STORE, t);
    start();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(STORE);
    S.token = null;
    S.data = null;
    showGate("");
  });

  // ---- HTTP -----------------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { authorization: "Bearer " + S.token };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      return { status: 0, json: { error: "network_error", message: String(e && e.message || e) } };
    }
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { error: "bad_response", message: text.slice(0, 200) };
    }
    return { status: res.status, json };
  }

  const withAgent = (q) => {
    if (S.perspective) q.set("agent", S.perspective);
    return q;
  };

  // ---- loading --------------------------------------------------------------------------------------
  let inflight = null;
  let again = false;
  function refresh() {
    if (inflight) {
      again = true;
      return inflight;
    }
    inflight = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  async function load() {
    if (!S.token) return;
    const q = withAgent(new URLSearchParams({ messages_limit: String(MSG_PAGE), audit_limit: "500" }));
    const r = await api("GET", `${ROOM_PATH}/poll?${q}`);
    if (!S.token) return;
    if (r.status === 401 || (r.status === 403 && !S.perspective)) {
      sessionStorage.removeItem(STORE);
      S.token = null;
      showGate(`${r.json?.message || "This token was refused."} Paste a token for room ${ROOM}.`);
      return;
    }
    if (r.status === 404 && r.json?.error === "room_not_found") {
      banner(`Room ${ROOM} does not exist.`, true);
      return;
    }
    if (r.status === 404 && S.perspective) {
      S.perspective = "";
      again = true;
      return;
    }
    if (r.status !== 200) {
      banner(`Could not load the room: ${r.json?.message || r.status}`, true);
      return;
    }
    S.data = r.json;
    if (S.msgPage) await loadMsgPage(S.msgPage.from);
    banner(null);
    render();
  }

  // ---- live feed ------------------------------------------------------------------------------------
  function setLive(mode, text) {
    S.live = mode;
    const el = $("live");
    el.className = "live " + mode;
    el.lastElementChild.textContent = text;
  }

  function stopStream() {
    if (S.stream) S.stream.abort();
    S.stream = null;
  }

  async function openStream() {
    stopStream();
    const ctrl = new AbortController();
    S.stream = ctrl;
    try {
      const res = await fetch(`${ROOM_PATH}/events`, {
        headers: { authorization: "Bearer " + S.token, accept: "text/event-stream" },
        signal: ctrl.signal,
        cache: "no-store",
      });
      if (!res.ok || !res.body) {
        await res.text().catch(() => {});
        throw new Error("status " + res.status);
      }
      setLive("on", "live");
      refresh(); // catch up on anything between the last poll and the stream opening
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event:\s*(.*)$/m.exec(block);
          if (ev && (ev[1] === "change" || ev[1] === "reset")) refresh();
        }
      }
      throw new Error("the change feed closed");
    } catch (_) {
      if (ctrl.signal.aborted || S.stream !== ctrl) return;
      S.stream = null;
      setLive("polling", "polling");
      setTimeout(() => {
        if (S.token && !S.stream) openStream();
      }, 5000);
    }
  }

  setInterval(() => {
    if (S.token && S.live !== "on" && S.started) refresh();
  }, POLL_MS);

  // ---- rendering helpers ----------------------------------------------------------------------------
  function banner(text, error) {
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

  /** Redraws one panel body only when what it shows changed; keeps its scroll position. */
  function put(id, key, draw) {
    const k = JSON.stringify(key);
    if (S.rendered[id] === k) return;
    S.rendered[id] = k;
    const el = $("b-" + id);
    const top = el.scrollTop;
    el.innerHTML = draw();
    el.scrollTop = top;
  }

  function isOpen(path, dflt) {
    return S.open.has(path) ? S.open.get(path) : dflt;
  }
  document.addEventListener("toggle", (e) => {
    const p = e.target && e.target.dataset && e.target.dataset.path;
    if (p) S.open.set(p, e.target.open);
  }, true);

  function inline(v) {
    if (v === null) return `<span class="j-lit">null</span>`;
    switch (typeof v) {
      case "string":
        return `<span class="j-str">"${esc(v)}"</span>`;
      case "number":
        return `<span class="j-num">${v}</span>`;
      case "boolean":
        return `<span class="j-lit">${v}</span>`;
    }
    if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
    return `{${
      Object.entries(v).map(([k, x]) => `<span class="j-key">${esc(k)}</span>: ${inline(x)}`).join(", ")
    }}`;
  }

  /** A collapsible JSON tree; small values stay on one line. */
  function tree(v, path, depth = 0) {
    if (v === null || typeof v !== "object") return `<span class="jv">${inline(v)}</span>`;
    const arr = Array.isArray(v);
    const keys = arr ? v.map((_, i) => i) : Object.keys(v);
    if (!keys.length) return `<span class="jv">${arr ? "[]" : "{}"}</span>`;
    const flat = JSON.stringify(v);
    if (flat.length <= 60) return `<span class="jv">${inline(v)}</span>`;
    const label = arr ? `[${plural(keys.length, "item")}]` : `{${plural(keys.length, "key")}}`;
    const shown = keys.slice(0, 100);
    const rows = shown.map((k) =>
      `<div><span class="j-key">${esc(k)}</span>: ${tree(v[k], path + "/" + k, depth + 1)}</div>`
    ).join("");
    const more = keys.length > shown.length
      ? `<div class="j-more">… ${keys.length - shown.length} more</div>`
      : "";
    const open = isOpen(path, depth === 0 && keys.length <= 12 && flat.length < 1500);
    return `<details class="j" data-path="${esc(path)}"${open ? " open" : ""}><summary>${
      esc(label)
    }</summary>` +
      `<div class="j-body">${rows}${more}</div></details>`;
  }

  function ago(ts) {
    if (!ts) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return new Date(ts).toLocaleString();
  }
  function until(ts) {
    const s = Math.ceil((Date.parse(ts) - Date.now()) / 1000);
    if (s <= 0) return "now";
    if (s < 120) return `${s}s`;
    if (s < 7200) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h`;
  }
  const clock = (ts) => ts ? new Date(ts).toLocaleTimeString() : "";
  const agoSpan = (ts) => `<span data-ago="${esc(ts || "")}" title="${esc(ts || "")}">${ago(ts)}</span>`;
  const untilSpan = (ts, prefix) =>
    `<span data-until="${esc(ts)}" data-prefix="${esc(prefix)}" title="${esc(ts)}">${esc(prefix)}${
      until(ts)
    }</span>`;

  // ticking labels (heartbeats, cooldowns, timers) without re-rendering the panels
  setInterval(() => {
    let expired = false;
    for (const el of document.querySelectorAll("[data-ago]")) el.textContent = ago(el.dataset.ago);
    for (const el of document.querySelectorAll("[data-until]")) {
      el.textContent = el.dataset.prefix + until(el.dataset.until);
      if (Date.parse(el.dataset.until) <= Date.now() && !el.dataset.fired) {
        el.dataset.fired = "1";
        expired = true;
      }
    }
    if (expired) refresh();
  }, 1000);

  function timerBadge(t) {
    if (!t) return "";
    const what = t.effect === "enable" ? "live in " : "expires in ";
    if (t.expires_at) return `<span class="badge warn">${untilSpan(t.expires_at, what)}</span>`;
    if (t.ticks !== undefined) {
      return `<span class="badge warn" title="${esc(JSON.stringify(t))}">${esc(what)}${
        esc(t.ticks)
      } ticks of ${esc(t.tick_on || "?")}</span>`;
    }
    return `<span class="badge warn">timer</span>`;
  }

  // ---- panels ---------------------------------------------------------------------------------------
  function render() {
    const d = S.data;
    if (!d) return;
    renderHeader(d);
    renderAgents(d);
    renderState(d);
    renderMessages(d);
    renderActions(d);
    renderViews(d);
    renderAudit(d);
  }

  function renderHeader(d) {
    const who = $("who");
    who.hidden = false;
    const label = S.kind === "admin"
      ? "room token · full access"
      : S.kind === "viewer"
      ? "view token · read-only"
      : `agent · ${d.self}`;
    who.textContent = label;
    who.className = "badge " + (S.kind === "viewer" ? "outline" : "accent");
    $("forget").hidden = false;
    const wrap = $("persp-wrap");
    wrap.hidden = S.kind !== "admin";
    if (S.kind === "admin") {
      const sel = $("persp");
      const opts = [["", "everything (room token)"], ...d.agents.map((a) => [a.id, a.id])];
      const key = JSON.stringify(opts);
      if (sel.dataset.key !== key) {
        sel.dataset.key = key;
        sel.innerHTML = opts.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join("");
      }
      sel.value = S.perspective;
    }
    const b = $("banner");
    if (S.perspective) {
      b.hidden = false;
      b.dataset.kind = "persp";
      b.className = "banner";
      b.textContent =
        `Viewing as ${S.perspective}: exactly what ${S.perspective} can see (other agents' private scopes hidden). Actions and the CEL console act as ${S.perspective}.`;
    } else if (b.dataset.kind === "persp") {
      b.hidden = true;
      b.dataset.kind = "";
    }
    $("c-cel").textContent = `as ${S.perspective || d.self}`;
  }

  $("persp").addEventListener("change", (e) => {
    S.perspective = e.target.value;
    S.rendered = {};
    refresh();
  });

  function renderAgents(d) {
    const me = S.perspective || d.self;
    $("c-agents").textContent = String(d.agents.length);
    put("agents", [d.agents, me, Math.floor(Date.now() / 60000)], () => {
      if (!d.agents.length) return `<div class="empty">No agents have joined yet.</div>`;
      return `<div class="agents">${
        d.agents.map((a) => {
          const grants = (a.grants || []).map((g) => `<span class="badge outline">${esc(g)}</span>`).join(
            " ",
          );
          return `<div class="agent${a.id === me ? " me" : ""}" data-agent="${esc(a.id)}">
<div class="line1"><span class="dot ${esc(a.status)}" title="${esc(a.status)}"></span><span class="name">${
            esc(a.name || a.id)
          }</span>${a.name && a.name !== a.id ? `<span class="seq">${esc(a.id)}</span>` : ""}${
            a.id === me ? `<span class="badge accent">you</span>` : ""
          }</div>
<div class="sub"><span class="status">${esc(a.status)}</span>${
            a.role ? `<span class="badge">${esc(a.role)}</span>` : ""
          }<span>♥ ${agoSpan(a.last_heartbeat)}</span></div>
${a.waiting_on ? `<div class="waiting-on">waiting on <code>${esc(a.waiting_on)}</code></div>` : ""}
${grants ? `<div class="sub">grants ${grants}</div>` : ""}</div>`;
        }).join("")
      }</div>`;
    });
  }

  function scopeKind(scope, d) {
    if (scope.startsWith("_")) return `<span class="badge">system</span>`;
    const me = S.perspective || d.self;
    if (scope === me) return `<span class="badge accent">private · yours</span>`;
    return `<span class="badge warn">private</span>`;
  }

  function renderState(d) {
    const filter = $("state-filter").value.trim().toLowerCase();
    const rows = d.state.filter((r) =>
      !filter || r.key.toLowerCase().includes(filter) || r.scope.toLowerCase().includes(filter)
    );
    const scopes = new Map();
    for (const r of rows) {
      if (!scopes.has(r.scope)) scopes.set(r.scope, []);
      scopes.get(r.scope).push(r);
    }
    const order = [...scopes.keys()].sort((a, b) =>
      (a === "_shared" ? -2 : a.startsWith("_") ? -1 : 0) -
        (b === "_shared" ? -2 : b.startsWith("_") ? -1 : 0) ||
      a.localeCompare(b)
    );
    $("c-state").textContent = `${plural(d.state.length, "key")} · ${
      plural(new Set(d.state.map((r) => r.scope)).size, "scope")
    }`;
    put("state", [rows, filter, S.perspective, [...S.open]], () => {
      if (!order.length) {
        return `<div class="empty">${filter ? "No key matches the filter." : "No state yet."}</div>`;
      }
      return order.map((scope) => {
        const list = scopes.get(scope);
        const path = "scope:" + scope;
        return `<details class="scope" data-path="${esc(path)}" data-scope="${esc(scope)}"${
          isOpen(path, true) ? " open" : ""
        }>
<summary><span class="scope-name">${esc(scope)}</span>${scopeKind(scope, d)}<span class="count">${
          plural(list.length, "key")
        }</span></summary>
<div class="rows">${
          list.map((r) =>
            `<div class="row" data-key="${esc(r.key)}"><div class="k">${
              esc(r.key)
            }</div><div class="v"><div class="val">${
              tree(r.value, `v:${r.scope}/${r.key}`)
            }</div><div class="meta"><span class="badge outline" title="updated ${esc(r.updated_at)}">v${
              esc(r.version)
            }</span>${timerBadge(r.timer)}${
              r.enabled
                ? `<span class="badge ok" title="${esc(r.enabled)}">enabled if ${
                  esc(short(r.enabled, 28))
                }</span>`
                : ""
            }</div></div></div>`
          ).join("")
        }</div></details>`;
      }).join("");
    });
  }
  $("state-filter").addEventListener("input", () => S.data && renderState(S.data));

  function short(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  // messages: at most MSG_PAGE rendered; "Older"/"Newer" page through /context?only=messages
  async function loadMsgPage(from) {
    const q = new URLSearchParams({
      only: "messages",
      messages_after: String(Math.max(0, from - 1)),
      messages_limit: String(MSG_PAGE),
    });
    const r = await api("GET", `${ROOM_PATH}/context?${q}`);
    if (r.status === 200) S.msgPage = { from, list: r.json.messages.recent };
  }

  function renderMessages(d) {
    const total = d.message_count;
    const list = S.msgPage ? S.msgPage.list : d.messages;
    const first = list.length ? list[0].seq : 0;
    const last = list.length ? list[list.length - 1].seq : 0;
    $("c-messages").textContent = total.toLocaleString();
    $("msg-range").textContent = list.length
      ? `#${first.toLocaleString()}–#${last.toLocaleString()} of ${total.toLocaleString()}${
        S.msgPage ? "" : " · live"
      }`
      : "";
    $("msg-older").disabled = !list.length || first <= 1;
    $("msg-newer").disabled = !S.msgPage;
    $("msg-latest").disabled = !S.msgPage;
    put("messages", [list, S.msgPage && S.msgPage.from], () => {
      if (!list.length) return `<div class="empty">No messages yet.</div>`;
      return `<ol class="msgs" reversed>${
        list.slice().reverse().map((m) => {
          const to = m.to === null || m.to === undefined ? "" : Array.isArray(m.to) ? m.to.join(", ") : m.to;
          const body = typeof m.body === "string"
            ? `<div class="msg-body">${esc(m.body)}</div>`
            : `<div class="msg-body">${tree(m.body, "m:" + m.seq)}</div>`;
          return `<li class="msg" data-seq="${m.seq}"><div class="msg-head"><span class="seq">#${m.seq}</span>` +
            `<span class="from">${esc(m.from ?? "room")}</span>${to ? `<span>→ ${esc(to)}</span>` : ""}` +
            `<span class="badge">${esc(m.kind)}</span>` +
            (m.reply_to !== null && m.reply_to !== undefined
              ? `<span class="badge outline">↩ #${esc(m.reply_to)}</span>`
              : "") +
            (m.claimed_by
              ? `<span class="badge ok" title="${esc(m.claimed_at || "")}">claimed by ${
                esc(m.claimed_by)
              }</span>`
              : "") +
            `<time datetime="${esc(m.ts)}" title="${esc(m.ts)}">${esc(clock(m.ts))}</time></div>${body}</li>`;
        }).join("")
      }</ol>`;
    });
  }

  async function pageMessages(from) {
    if (from === null) S.msgPage = null;
    else await loadMsgPage(Math.max(1, from));
    $("b-messages").scrollTop = 0;
    if (S.data) renderMessages(S.data);
  }
  $("msg-older").addEventListener("click", () => {
    const list = S.msgPage ? S.msgPage.list : S.data.messages;
    if (list.length) pageMessages(list[0].seq - MSG_PAGE);
  });
  $("msg-newer").addEventListener("click", () => {
    if (!S.msgPage) return;
    const next = S.msgPage.from + MSG_PAGE;
    pageMessages(next + MSG_PAGE - 1 >= S.data.message_count ? null : next);
  });
  $("msg-latest").addEventListener("click", () => pageMessages(null));

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
    return `<code title="${esc(JSON.stringify(w))}">${esc(text)}</code>`;
  }

  function paramSummary(name, p) {
    const bits = [p.type || "any"];
    if (p.required) bits.push("required");
    if (p.enum) bits.push(p.enum.map((x) => JSON.stringify(x)).join("|"));
    if (p.default !== undefined) bits.push(`= ${JSON.stringify(p.default)}`);
    return `<code title="${esc(p.description || "")}">${esc(name)}: ${esc(bits.join(" "))}</code>`;
  }

  function actionState(a) {
    if (a.cooldown) {
      if (a.cooldown.available_at) {
        return `<span class="badge warn">cooldown ${untilSpan(a.cooldown.available_at, "")}</span>`;
      }
      if (a.cooldown.ticks_remaining !== undefined) {
        return `<span class="badge warn">cooldown · ${esc(a.cooldown.ticks_remaining)} ticks</span>`;
      }
      return `<span class="badge warn">dormant</span>`;
    }
    if (!a.enabled) return `<span class="badge">disabled</span>`;
    return a.available
      ? `<span class="badge ok">available</span>`
      : `<span class="badge bad">unavailable</span>`;
  }

  function actionCard(a, compact) {
    const params = Object.entries(a.params || {});
    const canInvoke = S.kind !== "viewer";
    const btn = canInvoke ? `<button class="small" data-invoke="${esc(a.id)}">Invoke…</button>` : "";
    if (compact) {
      return `<div class="card" data-action="${esc(a.id)}"><div class="line1"><span class="title">${
        esc(a.id)
      }</span><span class="right">${btn}</span></div><div class="desc">${
        esc(a.description || "")
      }</div></div>`;
    }
    const detail = [];
    if (params.length) {
      detail.push(
        `<span>params</span><span class="params">${
          params.map(([k, p]) => paramSummary(k, p)).join("")
        }</span>`,
      );
    }
    if (a.writes && a.writes.length) {
      detail.push(`<span>writes</span><span class="writes">${a.writes.map(writeSummary).join("")}</span>`);
    }
    if (a.if) detail.push(`<span>if</span><span><code>${esc(a.if)}</code></span>`);
    if (a.registrar) detail.push(`<span>by</span><span>${esc(a.registrar)} · scope ${esc(a.scope)}</span>`);
    return `<div class="card" data-action="${esc(a.id)}"><div class="line1"><span class="title">${
      esc(a.id)
    }</span>${actionState(a)}<span class="right">${btn}</span></div>${
      a.description ? `<div class="desc">${esc(a.description)}</div>` : ""
    }${detail.length ? `<div class="detail">${detail.join("")}</div>` : ""}</div>`;
  }

  function renderActions(d) {
    const custom = d.actions.filter((a) => !a.builtin);
    const builtin = d.actions.filter((a) => a.builtin);
    $("c-actions").textContent = `${custom.length} custom · ${builtin.length} built-in`;
    put("actions", [d.actions, S.kind, S.perspective, [...S.open].filter(([k]) => k === "builtins")], () => {
      const list = custom.length
        ? `<div class="cards">${custom.map((a) => actionCard(a, false)).join("")}</div>`
        : `<div class="empty">No custom actions registered.</div>`;
      return list +
        `<details class="builtins" data-path="builtins"${isOpen("builtins", false) ? " open" : ""}>` +
        `<summary>${plural(builtin.length, "built-in action")}</summary><div class="cards">${
          builtin.map((a) => actionCard(a, true)).join("")
        }</div></details>`;
    });
  }

  function hintOf(render) {
    if (!render) return { type: "" };
    if (typeof render === "string") return { type: render };
    if (typeof render === "object" && !Array.isArray(render)) {
      return { ...render, type: String(render.type || "") };
    }
    return { type: "" };
  }

  function viewValue(v) {
    const h = hintOf(v.render);
    const val = v.value;
    const t = h.type.toLowerCase();
    if (v.error) return `<div class="error-text">${esc(v.error)}</div>`;
    if ((t === "progress" || t === "meter" || t === "bar") && typeof val === "number") {
      const max = typeof h.max === "number" && h.max > 0 ? h.max : val <= 1 ? 1 : 100;
      const pct = Math.max(0, Math.min(100, (val / max) * 100));
      return `<div class="big">${esc(val)}<span class="hint"> / ${
        esc(max)
      }</span></div><div class="meter"><i style="width:${pct.toFixed(1)}%"></i></div>`;
    }
    if ((t === "badge" || t === "status" || t === "tag") && (typeof val !== "object" || val === null)) {
      const cls = val === true || val === "ok" || val === "healthy" ? "ok" : val === false ? "bad" : "accent";
      return `<span class="badge ${cls}" style="font-size:13px">${esc(String(val))}</span>`;
    }
    if ((t === "list") && Array.isArray(val)) {
      return `<ul>${
        val.slice(0, 100).map((x) => `<li>${typeof x === "string" ? esc(x) : inline(x)}</li>`).join("")
      }</ul>`;
    }
    if (t === "table" && val && typeof val === "object") {
      const rows = Array.isArray(val) ? val : Object.entries(val).map(([k, x]) => ({ key: k, value: x }));
      const cols = [...new Set(rows.flatMap((r) => r && typeof r === "object" ? Object.keys(r) : ["value"]))]
        .slice(0, 8);
      return `<table class="kv"><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>${
        rows.slice(0, 100).map((r) =>
          `<tr>${
            cols.map((c) =>
              `<td>${inline(r && typeof r === "object" ? r[c] ?? null : c === "value" ? r : null)}</td>`
            ).join("")
          }</tr>`
        ).join("")
      }</table>`;
    }
    if (t === "json" || (val !== null && typeof val === "object")) return tree(val, "view:" + v.id);
    if (typeof val === "string") return `<div class="big" style="font-size:16px">${esc(val)}</div>`;
    return `<div class="big">${inline(val)}</div>`;
  }

  function renderViews(d) {
    $("c-views").textContent = String(d.views.length);
    put("views", [d.views, [...S.open].filter(([k]) => k.startsWith("view:"))], () => {
      if (!d.views.length) return `<div class="empty">No views registered.</div>`;
      return `<div class="cards">${
        d.views.map((v) => {
          const h = hintOf(v.render);
          return `<div class="card" data-view="${esc(v.id)}"><div class="line1"><span class="title">${
            esc(v.id)
          }</span>` +
            `<span class="badge">${esc(v.scope)}</span>${
              h.type ? `<span class="badge outline">${esc(h.type)}</span>` : ""
            }${v.error ? `<span class="badge bad">error</span>` : ""}${timerBadge(v.timer)}</div>` +
            (v.description ? `<div class="desc">${esc(v.description)}</div>` : "") +
            `<div class="view-value">${viewValue(v)}</div></div>`;
        }).join("")
      }</div>`;
    });
  }

  function syncSelect(sel, values, label) {
    const key = JSON.stringify(values);
    if (sel.dataset.key === key) return;
    sel.dataset.key = key;
    const cur = sel.value;
    sel.innerHTML = `<option value="">${esc(label)}</option>` +
      values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
    sel.value = values.includes(cur) ? cur : "";
  }

  function renderAudit(d) {
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
        return `<div class="empty">${
          d.audit.length ? "Nothing matches the filter." : "No invocations yet."
        }</div>`;
      }
      return `<ol class="audit">${
        rows.map((a) => {
          const result = a.ok
            ? `<span class="badge ok">ok</span>`
            : `<span class="badge bad" title="${esc(a.error || "")}">refused · ${esc(a.status)}${
              a.error ? " " + esc(a.error) : ""
            }</span>`;
          const params = a.params && Object.keys(a.params).length ? JSON.stringify(a.params) : "";
          return `<li data-seq="${a.seq}" data-ok="${a.ok ? "1" : "0"}"><span class="seq">#${a.seq}</span>` +
            `<span class="what">${esc(a.agent)} · <b>${esc(a.action)}</b>${
              a.builtin ? "" : ` <span class="badge outline">custom</span>`
            }</span><span>${result}</span>` +
            (params ? `<span class="params" title="${esc(params)}">${esc(params)}</span>` : "") +
            `${params ? "" : "<span></span>"}<time datetime="${esc(a.ts)}">${esc(clock(a.ts))}</time></li>`;
        }).join("")
      }</ol>`;
    });
  }
  for (const id of ["audit-agent", "audit-action", "audit-ok"]) {
    $(id).addEventListener("change", () => S.data && renderAudit(S.data));
  }

  // ---- CEL console ----------------------------------------------------------------------------------
  $("cel-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const expr = $("cel-expr").value.trim();
    if (!expr) return;
    const body = { expr };
    if (S.perspective) body.agent = S.perspective;
    const r = await api("POST", `${ROOM_PATH}/eval`, body);
    const li = document.createElement("li");
    const as = S.perspective || (S.data && S.data.self) || "";
    let res;
    if (r.status === 200 && !r.json.error) {
      res = `<div class="res" data-ok="1">${tree(r.json.value, "cel:" + Date.now())}</div>`;
    } else {
      const msg = r.json &&
        (r.json.error && r.json.message ? `${r.json.error}: ${r.json.message}` : r.json.error);
      res = `<div class="res error-text" data-ok="0">${esc(msg || "error " + r.status)}${
        r.json && r.json.detail ? ` — ${esc(r.json.detail)}` : ""
      }</div>`;
    }
    li.innerHTML = `<div class="expr"><code>${esc(expr)}</code> <span class="hint">as ${
      esc(as)
    }</span></div>${res}`;
    const out = $("cel-out");
    out.prepend(li);
    while (out.children.length > 20) out.lastElementChild.remove();
  });

  // ---- invoke dialog (room and agent tokens only) ---------------------------------------------------
  let invoking = null;
  document.addEventListener("click", (e) => {
    const jump = e.target.closest && e.target.closest("[data-jump]");
    if (jump) $("p-" + jump.dataset.jump).scrollIntoView({ behavior: "smooth", block: "start" });
    const b = e.target.closest && e.target.closest("[data-invoke]");
    if (!b || S.kind === "viewer" || !S.data) return;
    const a = S.data.actions.find((x) => x.id === b.dataset.invoke);
    if (!a) return;
    invoking = a.id;
    const params = {};
    for (const [k, p] of Object.entries(a.params || {})) {
      if (p.default !== undefined) params[k] = p.default;
      else if (p.required) {
        params[k] = p.enum ? p.enum[0] : p.type === "number" || p.type === "integer" ? 0 : "";
      }
    }
    $("invoke-title").textContent = a.id;
    $("invoke-as").textContent = `as ${S.perspective || S.data.self}${
      a.description ? " — " + a.description : ""
    }`;
    $("invoke-params").value = JSON.stringify(params, null, 2);
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
    refresh();
  });

  // ---- start ----------------------------------------------------------------------------------------
  function start() {
    S.token = takeToken();
    if (!S.token) return showGate("");
    S.kind = S.token.startsWith("view_") ? "viewer" : S.token.startsWith("as_") ? "agent" : "admin";
    S.perspective = "";
    S.rendered = {};
    S.started = true;
    $("gate").hidden = true;
    $("app").hidden = false;
    document.body.dataset.kind = S.kind;
    setLive("polling", "connecting");
    refresh();
    openStream();
  }
  start();
})();
