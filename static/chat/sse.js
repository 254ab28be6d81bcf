// Server-Sent Events read from a fetch() response (EventSource can neither POST nor send
// headers). Free of the DOM: tests/js/sse.test.mjs feeds it chunks in Node.

// Splits a stream of text into events. Chunks may end anywhere, even inside a line.
export class SSEParser {
  constructor() {
    this.buffer = "";
  }

  // The events completed by `chunk`, each {name, data, id}: `data` parsed as JSON, `name`
  // "message" when the event has none, `id` null when it has none. Heartbeats (comment
  // lines) and events without data are left out.
  push(chunk) {
    this.buffer += chunk.replace(/\r/g, "");
    const events = [];
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event = parseBlock(block);
      if (event) events.push(event);
    }
    return events;
  }
}

function parseBlock(block) {
  let name = "message";
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")), id } : null;
}

// Calls onEvent(name, data, id) for each event of an SSE response, as it arrives.
// Resolves when the stream ends; rejects if the connection breaks.
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SSEParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const event of parser.push(decoder.decode(value, { stream: true }))) {
      onEvent(event.name, event.data, event.id);
    }
  }
}
