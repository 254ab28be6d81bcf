import assert from "node:assert/strict";
import { test } from "node:test";

import { SSEParser, readEvents } from "../../static/chat/sse.js";

test("events are parsed with their name, JSON data and id", () => {
  const parser = new SSEParser();
  const events = parser.push(
    'event: meta\ndata: {"assistant_message_id": 7}\n\n' + 'event: delta\nid: 3-0\ndata: {"content": "Hi"}\n\n',
  );
  assert.deepEqual(events, [
    { name: "meta", data: { assistant_message_id: 7 }, id: null },
    { name: "delta", data: { content: "Hi" }, id: "3-0" },
  ]);
});

test("an event cut across chunks comes out once it is complete", () => {
  const parser = new SSEParser();
  assert.deepEqual(parser.push("event: del"), []);
  assert.deepEqual(parser.push('ta\nid: 1-0\ndata: {"content"'), []);
  assert.deepEqual(parser.push(': "x"}\n'), []);
  assert.deepEqual(parser.push("\nevent: done\n"), [{ name: "delta", data: { content: "x" }, id: "1-0" }]);
  assert.deepEqual(parser.push('data: {"status": "complete"}\n\n'), [
    { name: "done", data: { status: "complete" }, id: null },
  ]);
});

test("heartbeats, events without data and carriage returns are handled as the spec says", () => {
  const parser = new SSEParser();
  const events = parser.push(': heartbeat\n\nevent: nothing\n\r\nevent:title\r\ndata:{"title":"T"}\r\n\r\n');
  assert.deepEqual(events, [{ name: "title", data: { title: "T" }, id: null }]);
});

test("an event without a name is a message; data lines are joined with newlines", () => {
  const parser = new SSEParser();
  assert.deepEqual(parser.push('data: {"a":\ndata: 1}\n\n'), [{ name: "message", data: { a: 1 }, id: null }]);
});

function responseOf(chunks) {
  const encoder = new TextEncoder();
  return new Response(
    new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
        controller.close();
      },
    }),
  );
}

test("readEvents reads a fetch() response to its end, even with a character split between chunks", async () => {
  const bytes = new TextEncoder().encode('event: delta\nid: 2-0\ndata: {"content": "你好"}\n\n');
  const cut = bytes.indexOf(0xe4) + 1; // inside 你
  const seen = [];
  await readEvents(responseOf([bytes.slice(0, cut), bytes.slice(cut), "event: done\ndata: {}\n\n"]), (...event) =>
    seen.push(event),
  );
  assert.deepEqual(seen, [
    ["delta", { content: "你好" }, "2-0"],
    ["done", {}, null],
  ]);
});
