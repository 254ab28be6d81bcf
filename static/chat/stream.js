// Following an answer's stream of events to its end, free of the DOM (tests/js/stream.test.mjs
// runs it in Node). A stream that breaks before the answer's end (a flaky network, a proxy
// that cuts long responses) resumes after the last event received, as docs/api.md describes,
// so no text is lost or repeated.
import { length } from "./text.js";

// An answer being generated: "stopping" (a stop was asked for through another server process,
// which has yet to confirm) is still live, like "streaming": its stream goes on to `done`.
const LIVE = new Set(["streaming", "stopping"]);

export function isLive(status) {
  return LIVE.has(status);
}

// The answer of a conversation's messages to follow when it is opened: the last live one.
export function liveAnswer(messages) {
  let live = null;
  for (const message of messages) {
    if (message.role === "assistant" && isLive(message.status)) live = message;
  }
  return live;
}

// Where an answer's stream is: the answer's id (known once `meta` arrives) and the id to
// resume after. That is the last delta's id or, before any, the lengths of the text the page
// already has, in code points as the server counts them ("<content>-<reasoning>").
export class Cursor {
  constructor({ id = null, content = "", reasoning = "" } = {}) {
    this.answerId = id || null;
    this.lastId = null;
    this.content = length(content || "");
    this.reasoning = length(reasoning || "");
  }

  lastEventId() {
    return this.lastId || `${this.content}-${this.reasoning}`;
  }

  // Takes note of an event of the stream.
  apply(name, data, id) {
    if (name === "meta" && data.assistant_message_id) {
      this.answerId = data.assistant_message_id;
    } else if (name === "delta") {
      if (id) this.lastId = id;
      if (data.content) this.content += length(data.content);
      if (data.reasoning) this.reasoning += length(data.reasoning);
    }
  }
}

// The stream ended before the answer did, and resuming it failed.
export class ConnectionLost extends Error {
  constructor() {
    super("The connection to the answer's stream was lost.");
    this.name = "ConnectionLost";
    this.status = -1;
  }
}

export function isTerminal(name) {
  return name === "done" || name === "error";
}

export function retryDelay(attempt) {
  return Math.min(500 * 2 ** attempt, 8000);
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (!signal) return;
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new DOMException("Aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

// Reads `response` (may be null: open a stream first) with `read(response, onEvent)` and
// passes each event to onEvent(name, data, id) until `done` or `error`. When the stream ends
// or breaks first, waits and asks `resume(answerId, lastEventId, signal)` for the rest, up to
// `attempts` times; onRetry(attempt) before each wait, onResumed() once a stream is back.
// Rejects with ConnectionLost when it gives up (or the answer's id never came), with the
// resume's error when the server refuses it (4xx), and with AbortError when `signal` aborts.
export async function followStream(
  response,
  {
    cursor,
    read,
    resume,
    onEvent = () => {},
    signal,
    onRetry = () => {},
    onResumed = () => {},
    attempts = 6,
    delay = retryDelay,
    wait = sleep,
  },
) {
  let ended = false;
  const handle = (name, data, id) => {
    cursor.apply(name, data, id);
    onEvent(name, data, id);
    if (isTerminal(name)) ended = true;
  };
  for (let attempt = 1; ; attempt++) {
    if (response) {
      try {
        await read(response, handle);
      } catch (error) {
        if (error.name === "AbortError") throw error;
      }
      if (ended) return;
    }
    if (!cursor.answerId || attempt > attempts) throw new ConnectionLost();
    onRetry(attempt);
    await wait(delay(attempt), signal);
    try {
      response = await resume(cursor.answerId, cursor.lastEventId(), signal);
      onResumed();
    } catch (error) {
      if (error.name === "AbortError" || (error.status >= 400 && error.status < 500)) throw error;
      response = null;
    }
  }
}
