// Keeps the page current: the change feed while it is open, /poll every 1.5 s while it is not (with a
// reconnect every 5 s). A feed refused with 401/404, or an `error` event, ends everything for good.
import { readFeed } from "./feed.js";

const POLL_MS = 1500;
const RECONNECT_MS = 5000;
const FATAL = new Set([401, 404]);

/**
 * handlers: setStatus(mode, text) for the indicator; onChange() to re-read the room (a commit, a reset,
 * or a poll tick while the feed is down); onPresence(data) for presence events; onFatal({error, message})
 * once, when the room or the token is gone. Returns {stop}.
 */
export function startLive(path, token, { setStatus, onChange, onPresence, onFatal }) {
  let ctrl = null;
  let live = false;
  let stopped = false;
  let retry = 0;
  const poller = setInterval(() => {
    if (!live && !stopped) onChange();
  }, POLL_MS);

  function stop() {
    if (stopped) return;
    stopped = true;
    live = false;
    clearInterval(poller);
    clearTimeout(retry);
    ctrl?.abort();
  }

  function fatal(body, status) {
    stop();
    onFatal(body?.error ? body : { error: `http_${status}`, message: `the change feed answered ${status}` });
  }

  async function connect() {
    ctrl = new AbortController();
    const end = await readFeed(path, token, ctrl.signal, {
      onOpen() {
        live = true;
        setStatus("on", "live");
        onChange(); // catch up on anything between the last read and the feed opening
      },
      onEvent(ev) {
        if (stopped) return;
        if (ev.event === "change" || ev.event === "reset") onChange(ev.data);
        else if (ev.event === "presence") onPresence(ev.data);
        else if (ev.event === "error") fatal(ev.data, 0);
      },
    });
    if (stopped || end.aborted) return;
    live = false;
    if (end.refused && FATAL.has(end.refused.status)) return fatal(end.refused.json, end.refused.status);
    setStatus("polling", "polling");
    retry = setTimeout(connect, RECONNECT_MS);
  }

  setStatus("polling", "connecting");
  connect();
  return { stop };
}
