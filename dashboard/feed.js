// The change feed (GET /rooms/:id/events), read with fetch because EventSource cannot send a bearer
// header. parseEvents() is the pure Server-Sent-Events framing; readFeed() runs one connection.

/**
 * Splits complete events off a buffer: `{events: [{event, data, id}], rest}`. `data` is the joined data
 * lines (JSON-parsed when it parses), `event` defaults to "message"; comment-only blocks are dropped.
 */
export function parseEvents(buf) {
  const events = [];
  const cr = buf.endsWith("\r") ? "\r" : ""; // its "\n" may come in the next chunk
  buf = buf.slice(0, buf.length - cr.length).replace(/\r\n?/g, "\n");
  let i;
  while ((i = buf.indexOf("\n\n")) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    let event = "message", id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (!data.length && event === "message") continue;
    const text = data.join("\n");
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    events.push({ event, data: parsed, id });
  }
  return { events, rest: buf + cr };
}

/**
 * Opens the feed and calls onEvent for each event until it ends. Resolves how it ended:
 * `{aborted}` (we closed it), `{refused: {status, json}}` (an HTTP error answer, e.g. 404
 * room_not_found) or `{dropped}` (a network error or the server closed it: worth reconnecting).
 */
export async function readFeed(path, token, signal, { onOpen, onEvent }) {
  try {
    const res = await fetch(path, {
      headers: { authorization: "Bearer " + token, accept: "text/event-stream" },
      signal,
      cache: "no-store",
    });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => "");
      let json = null;
      try {
        json = JSON.parse(text);
      } catch { /* not an error body */ }
      return { refused: { status: res.status, json } };
    }
    onOpen();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { dropped: true };
      const { events, rest } = parseEvents(buf + value);
      buf = rest;
      for (const ev of events) onEvent(ev);
    }
  } catch (e) {
    return signal.aborted ? { aborted: true } : { dropped: true, error: e };
  }
}
