/**
 * The dashboard's Server-Sent-Events framing (dashboard/feed.js parseEvents): the events of the change
 * feed — `change` with an id, `presence` and `error` without one — split off a stream read in chunks.
 */
import assert from "node:assert/strict";
import { parseEvents } from "../../dashboard/feed.js";

Deno.test("parseEvents() splits change, presence and error events and parses their JSON data", () => {
  const stream = "retry: 1000\n: connected to demo at cursor 3\n\n" +
    'id: 4\nevent: change\ndata: {"cursor":4,"changes":[],"agents":[{"id":"carol"}]}\n\n' +
    'event: presence\ndata: {"cursor":4,"agents":[{"id":"bob","status":"waiting","waiting_on":"x"}]}\n\n' +
    ": heartbeat\n\n" +
    'event: error\ndata: {"error":"room_not_found","message":"room demo not found"}\n\n';
  const { events, rest } = parseEvents(stream);
  assert.equal(rest, "");
  assert.deepEqual(events, [
    { event: "change", id: "4", data: { cursor: 4, changes: [], agents: [{ id: "carol" }] } },
    {
      event: "presence",
      id: null,
      data: { cursor: 4, agents: [{ id: "bob", status: "waiting", waiting_on: "x" }] },
    },
    { event: "error", id: null, data: { error: "room_not_found", message: "room demo not found" } },
  ]);
});

Deno.test("parseEvents() keeps an incomplete event for the next chunk, whatever the line endings", () => {
  const first = parseEvents('id: 7\r\nevent: change\r\ndata: {"cursor"');
  assert.deepEqual(first.events, []);
  const second = parseEvents(first.rest + ':7}\r\n\r\nevent: reset\ndata: {"cursor":9}\n');
  assert.deepEqual(second.events, [{ event: "change", id: "7", data: { cursor: 7 } }]);
  const third = parseEvents(second.rest + "\n");
  assert.deepEqual(third.events, [{ event: "reset", id: null, data: { cursor: 9 } }]);
  // a CRLF split between two chunks is one line ending, not an empty line
  const split = parseEvents("event: reset\r");
  assert.deepEqual(parseEvents(split.rest + '\ndata: {"cursor":1}\r\n\r\n').events, [
    { event: "reset", id: null, data: { cursor: 1 } },
  ]);
});

Deno.test("parseEvents() joins multi-line data and keeps text that is not JSON", () => {
  const { events } = parseEvents("event: note\ndata: line one\ndata:line two\n\n");
  assert.deepEqual(events, [{ event: "note", id: null, data: "line one\nline two" }]);
});
