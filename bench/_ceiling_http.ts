/**
 * @module bench/_ceiling_http — the HTTP ceiling: a bare `Deno.serve` answering a small JSON object, run as
 * its own process by bench.ts and loaded with the same load generator as the real server.
 */
const body = JSON.stringify({ ok: true, action: "ceiling", writes: [] });
Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, () => new Response(body, { headers: { "content-type": "application/json; charset=utf-8" } }));
