/**
 * @module bench/_webhook_receiver — the webhook receiver of `deno task bench --only webhooks`, a process of
 * its own (so its CPU is not the load generator's): records each delivery's room, seq and arrival time
 * (epoch ms, sub-ms precision) and answers 204; `GET /arrivals?room=ID` lists them, `DELETE /arrivals`
 * forgets them.
 */
let arrivals: { room: string; seq: number; delivery: string; t: number }[] = [];
const now = () => performance.timeOrigin + performance.now();

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 0),
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`webhook receiver listening on http://127.0.0.1:${port}`),
}, async (req) => {
  const url = new URL(req.url);
  if (req.method === "POST") {
    const t = now();
    const body = JSON.parse(await req.text());
    arrivals.push({ room: body.room, seq: body.seq, delivery: req.headers.get("x-sync-delivery") ?? "", t });
    return new Response(null, { status: 204 });
  }
  if (req.method === "DELETE") {
    arrivals = [];
    return new Response(null, { status: 204 });
  }
  const room = url.searchParams.get("room");
  return Response.json(room ? arrivals.filter((a) => a.room === room) : arrivals);
});
