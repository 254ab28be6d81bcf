import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectionLost, Cursor, followStream, isLive, liveAnswer, retryDelay } from "../../static/chat/stream.js";

const meta = (id) => ["meta", { assistant_message_id: id, user_message_id: id - 1 }, null];
const delta = (content, id) => ["delta", { content }, id];
const done = (status = "complete") => ["done", { status }, null];

// A fake server: each response is the events it sends, then an end (`cut`: the connection
// closes early; `fail`: it breaks). read() is what sse.js's readEvents does with a response.
function stream(events, { fail = false } = {}) {
  return { events, fail };
}
async function read(response, onEvent) {
  for (const event of response.events) {
    await null;
    onEvent(...event);
  }
  if (response.fail) throw new TypeError("network error");
}

function server(...resumes) {
  const calls = [];
  return {
    calls,
    async resume(answerId, lastEventId, signal) {
      calls.push({ answerId, lastEventId, signal });
      const next = resumes.shift();
      if (next instanceof Error) throw next;
      if (!next) throw new Error("no more responses");
      return next;
    },
  };
}

function follow(first, fake, options = {}) {
  const seen = [];
  const retries = [];
  const waits = [];
  const cursor = options.cursor || new Cursor();
  const result = followStream(first, {
    cursor,
    read,
    resume: fake.resume,
    onEvent: (name, data, id) => seen.push([name, data, id]),
    onRetry: (attempt) => retries.push(attempt),
    wait: async (ms) => waits.push(ms),
    ...options,
  });
  return { result, seen, retries, waits, cursor };
}

test("a stream that ends with done is read once, without resuming", async () => {
  const fake = server();
  const run = follow(stream([meta(8), delta("Hi", "2-0"), done()]), fake);
  await run.result;
  assert.deepEqual(
    run.seen.map(([name]) => name),
    ["meta", "delta", "done"],
  );
  assert.equal(fake.calls.length, 0);
  assert.equal(run.cursor.answerId, 8);
});

test("a dropped connection resumes after the last event id, and the rest follows", async () => {
  const fake = server(stream([delta("three ", "14-0"), done()]));
  const resumed = [];
  const run = follow(stream([meta(8), delta("one ", "4-0"), delta("two ", "8-0")]), fake, {
    onResumed: () => resumed.push(true),
  });
  await run.result;
  assert.deepEqual(fake.calls.map(({ answerId, lastEventId }) => [answerId, lastEventId]), [[8, "8-0"]]);
  assert.deepEqual(run.retries, [1]);
  assert.deepEqual(resumed, [true]);
  assert.equal(
    run.seen
      .filter(([name]) => name === "delta")
      .map(([, data]) => data.content)
      .join(""),
    "one two three ",
  );
  assert.equal(run.seen.at(-1)[0], "done");
});

test("a connection that breaks mid-stream resumes too, from the newest cursor each time", async () => {
  const fake = server(
    stream([delta("b", "2-0")], { fail: true }),
    stream([delta("c", "3-0"), ["error", { status: "error", message: "upstream" }, null]]),
  );
  const run = follow(stream([meta(5), delta("a", "1-0")], { fail: true }), fake);
  await run.result;
  assert.deepEqual(
    fake.calls.map((call) => call.lastEventId),
    ["1-0", "2-0"],
  );
  assert.deepEqual(run.retries, [1, 2]);
  assert.equal(run.seen.at(-1)[0], "error", "an error event ends the answer like done");
});

test("before any delta, the cursor is the length of the text shown, in code points", async () => {
  // A page reloaded during an answer has its text so far from the conversation.
  const cursor = new Cursor({ id: 12, content: "你好 🚀", reasoning: "hmm" });
  assert.equal(cursor.lastEventId(), "4-3");
  const fake = server(stream([done()]));
  await follow(stream([]), fake, { cursor }).result;
  assert.deepEqual(fake.calls.map(({ answerId, lastEventId }) => [answerId, lastEventId]), [[12, "4-3"]]);
});

test("the cursor counts the text of deltas without ids, content and reasoning apart", () => {
  const cursor = new Cursor();
  cursor.apply("meta", { assistant_message_id: 3 }, null);
  cursor.apply("delta", { reasoning: "思考" }, null);
  cursor.apply("delta", { content: "👍 ok" }, null);
  assert.equal(cursor.answerId, 3);
  assert.equal(cursor.lastEventId(), "4-2");
  cursor.apply("delta", { content: "!" }, "9-2");
  assert.equal(cursor.lastEventId(), "9-2", "the server's id wins once there is one");
});

test("a stream without the answer's id cannot be resumed", async () => {
  const fake = server();
  const run = follow(stream([]), fake);
  await assert.rejects(run.result, ConnectionLost);
  assert.equal(fake.calls.length, 0);
});

test("it gives up after six failed attempts, waiting longer each time", async () => {
  const unreachable = () => Object.assign(new Error("unreachable"), { status: 0 });
  const fake = server(...Array.from({ length: 6 }, unreachable));
  const run = follow(stream([meta(4)]), fake);
  const error = await run.result.then(
    () => null,
    (rejected) => rejected,
  );
  assert.ok(error instanceof ConnectionLost);
  assert.equal(error.status, -1);
  assert.equal(fake.calls.length, 6);
  assert.deepEqual(run.waits, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.deepEqual(run.waits, [1, 2, 3, 4, 5, 6].map(retryDelay));
});

test("a server error while resuming is retried; a refusal (4xx) is not", async () => {
  const busy = Object.assign(new Error("busy"), { status: 503 });
  const retried = server(busy, stream([done()]));
  await follow(stream([meta(4)]), retried).result;
  assert.equal(retried.calls.length, 2);

  const gone = Object.assign(new Error("not found"), { status: 404 });
  const refused = server(gone);
  await assert.rejects(follow(stream([meta(4)]), refused).result, (error) => error === gone);
  assert.equal(refused.calls.length, 1);
});

test("aborting while it waits to resume stops it with an AbortError", async () => {
  const controller = new AbortController();
  const fake = server(stream([done()]));
  const run = follow(stream([meta(4)]), fake, { signal: controller.signal, wait: undefined, delay: () => 60_000 });
  setTimeout(() => controller.abort(), 10);
  await assert.rejects(run.result, { name: "AbortError" });
  assert.equal(fake.calls.length, 0);
});

test("the signal is passed to every resumed request", async () => {
  const controller = new AbortController();
  const fake = server(stream([done()]));
  await follow(stream([meta(4)]), fake, { signal: controller.signal }).result;
  assert.equal(fake.calls[0].signal, controller.signal);
});

test("an answer that is stopping is still live, like one streaming", () => {
  assert.equal(isLive("streaming"), true);
  assert.equal(isLive("stopping"), true);
  for (const status of ["complete", "stopped", "error", "interrupted", undefined]) assert.equal(isLive(status), false);
});

test("opening a conversation follows its answer that is stopping", () => {
  const messages = [
    { id: 1, role: "user", status: "complete" },
    { id: 2, role: "assistant", status: "stopped" },
    { id: 3, role: "user", status: "complete" },
    { id: 4, role: "assistant", status: "stopping" },
  ];
  assert.equal(liveAnswer(messages), messages[3]);
  assert.equal(liveAnswer(messages.slice(0, 3)), null);
  assert.equal(liveAnswer([{ id: 6, role: "assistant", status: "streaming" }]).id, 6);
});

test("a stopping answer's stream is followed through a drop to its done", async () => {
  // Asked to stop through another process: the stream goes on until that process saves the
  // last of the text and the answer ends as stopped.
  const message = { id: 21, role: "assistant", status: "stopping", content: "partial", reasoning: "" };
  const fake = server(stream([delta(" more", "12-0"), done("stopped")]));
  const run = follow(stream([meta(21)]), fake, { cursor: new Cursor(message) });
  await run.result;
  assert.deepEqual(fake.calls.map(({ answerId, lastEventId }) => [answerId, lastEventId]), [[21, "7-0"]]);
  assert.deepEqual(run.seen.at(-1), ["done", { status: "stopped" }, null]);
});
