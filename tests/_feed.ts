/**
 * A change-feed reader for tests: opens `GET /rooms/:id/events` and reads its frames as they arrive
 * (events with their id, event and data lines, comments), closed with `close()` so nothing leaks.
 */
export type SseEvent = { id?: string; event?: string; data?: string; comments: string[] };

/** An open feed: reads frames as they arrive; `close()` cancels the body so nothing leaks. */
export async function openFeed(
  base: string,
  path: string,
  token: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const raw: string[] = [];
  const next = async (): Promise<SseEvent> => {
    while (true) {
      const end = buf.indexOf("\n\n");
      if (end >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        raw.push(frame);
        const ev: SseEvent = { comments: [] };
        for (const line of frame.split("\n")) {
          if (line.startsWith(":")) ev.comments.push(line.slice(1).trim());
          else {
            const i = line.indexOf(":");
            const field = line.slice(0, i), value = line.slice(i + 1).replace(/^ /, "");
            if (field === "id" || field === "event" || field === "data") ev[field] = value;
          }
        }
        return ev;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("feed ended");
      buf += value;
    }
  };
  /** The next `change` events (comments and control frames skipped). */
  const changes = async (n: number) => {
    const out: {
      id: number;
      data: {
        cursor: number;
        changes: { scope: string; key: string; version: number }[];
        messages: unknown[];
        audit: unknown;
      };
    }[] = [];
    while (out.length < n) {
      const ev = await next();
      if (ev.event !== "change") continue;
      out.push({ id: Number(ev.id), data: JSON.parse(ev.data!) });
    }
    return out;
  };
  /** The next event called `name` (others skipped), its data parsed; `id` is undefined without an id line. */
  // deno-lint-ignore no-explicit-any -- event data is whatever the server sent; tests assert on it
  const nextEvent = async (name: string): Promise<{ id?: string; data: any }> => {
    for (;;) {
      const ev = await next();
      if (ev.event === name) return { id: ev.id, data: JSON.parse(ev.data!) };
    }
  };
  return { res, next, changes, nextEvent, raw, close: () => reader.cancel() };
}
