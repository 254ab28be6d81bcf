"""
A fake OpenAI-compatible provider for the tests: a real HTTP/1.1 server on a loopback port,
in a thread of its own, that streams `chat.completions` the way OpenAI does (chunked SSE,
`data: [DONE]`, usage when `stream_options.include_usage` is set) and keeps connections alive
as real providers do.

Tests queue what the next requests should do with `push(Script(...))`: how many tokens, how
fast, reasoning first, or a fault (an HTTP error status, a malformed chunk, a stream cut
without [DONE], a reset connection, a stall). Every request is recorded, with whether and when
the client went away.
"""

import asyncio
import json
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from tests.support.waiting import eventually


@dataclass
class Script:
    tokens: int = 5
    # The content pieces; by default "t0 ", "t1 ", ...
    words: list = None
    reasoning: list = field(default_factory=list)
    interval: float = 0.0
    first_delay: float = 0.0
    status: int = 200
    headers: dict = field(default_factory=dict)
    error_message: str = "fake error"
    # None, "malformed", "truncate" (end cleanly without finish reason or [DONE]), "reset"
    # (abort the connection), "stall" (stop sending, keep the connection open), "error_event"
    # (an {"error": ...} chunk), "no_done" (finish reason but no [DONE]).
    fault: str = None
    fault_after: int = 0
    usage: bool = True
    # Send the stream gzip-compressed (Content-Encoding: gzip), each piece flushed as it goes.
    gzip: bool = False
    # Hold the stream before sending token number `hold_at` until `release` is set.
    hold_at: int = None
    release: threading.Event = field(default_factory=threading.Event)

    def pieces(self):
        return self.words if self.words is not None else [f"t{i} " for i in range(self.tokens)]


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    finished: bool = False
    finished_at: float = None
    disconnected_at: float = None


class FakeUpstream:
    def __init__(self):
        self.requests = []
        self.scripts = deque()
        # Non-streamed completions (titles) take their own queue, so that they never take a
        # script meant for the streamed answer they run beside.
        self.completions = deque()
        self.default = Script()
        # The ids GET /models lists; None: the provider has no /models (404), as some don't.
        self.models = ["fake-model"]
        self._loop = None
        self._server = None
        self._thread = None
        self.port = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-upstream")
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self):
        if self._loop:
            asyncio.run_coroutine_threadsafe(self._close_connections(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _close_connections(self):
        # Kept-alive connections of clients still open: close them while the loop still runs.
        self._server.close()
        handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def reset(self):
        self.requests.clear()
        self.scripts.clear()
        self.completions.clear()
        self.default = Script()
        self.models = ["fake-model"]

    def push(self, *scripts):
        self.scripts.extend(scripts)

    @property
    def chat_requests(self):
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def streamed_requests(self):
        """The answers' requests, without the short ones for titles."""
        return [r for r in self.chat_requests if r.body.get("stream")]

    def wait_for(self, predicate, timeout=5.0):
        return eventually(predicate, timeout, interval=0.01)

    def assert_closed_early(self, since, *, within, timeout=5.0):
        """The first chat request was closed before its end, within `within` seconds of `since`."""
        request = self.chat_requests[0]
        assert self.wait_for(lambda: request.disconnected_at, timeout=timeout), "the request was not closed"
        assert request.disconnected_at - since < within
        assert not request.finished

    # --- HTTP ----------------------------------------------------------------------------

    async def _handle(self, reader, writer):
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one_request(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        record = Recorded(path=path, headers=headers, body=data)
        self.requests.append(record)
        if method == "GET" and path.endswith("/models") and self.models is not None:
            models = [{"id": model, "object": "model"} for model in self.models]
            await self._json(writer, 200, {"object": "list", "data": models})
            return True
        if not path.endswith("/chat/completions"):
            await self._json(writer, 404, {"error": {"message": "not found"}})
            return True
        if data.get("stream"):
            script = self.scripts.popleft() if self.scripts else self.default
        else:
            script = self.completions.popleft() if self.completions else self.default
        if script.status != 200:
            await self._json(
                writer,
                script.status,
                {"error": {"message": script.error_message, "type": "fake", "code": script.status}},
                script.headers,
            )
            return True
        if not data.get("stream"):
            # A slow model (a title asked of a busy provider) takes first_delay to answer.
            await asyncio.sleep(script.first_delay)
            text = "".join(script.pieces())
            await self._json(writer, 200, self._completion(data, text))
            record.finished, record.finished_at = True, time.monotonic()
            return True
        return await self._stream(reader, writer, data, script, record)

    async def _json(self, writer, status, payload, extra_headers=None):
        body = json.dumps(payload).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for name, value in (extra_headers or {}).items():
            head += f"{name}: {value}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()

    def _completion(self, data, text):
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": data.get("model", "fake-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }

    async def _stream(self, reader, writer, data, script, record):
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            + (b"Content-Encoding: gzip\r\n" if script.gzip else b"")
            + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        compressor = zlib.compressobj(wbits=31) if script.gzip else None
        gone = asyncio.Event()

        async def watch():
            # A client that closes the connection mid-stream is the sign that it stopped.
            try:
                await reader.read(1)
            except ConnectionError:
                pass
            record.disconnected_at = time.monotonic()
            gone.set()

        watcher = asyncio.create_task(watch())
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": data.get("model"),
        }

        async def send(raw):
            if gone.is_set():
                raise ConnectionError
            if compressor:
                raw = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
            writer.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            await writer.drain()

        async def chunk(delta, finish_reason=None):
            payload = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            await send(f"data: {json.dumps(payload)}\n\n".encode())

        async def pause(seconds):
            try:
                await asyncio.wait_for(gone.wait(), seconds)
            except TimeoutError:
                pass
            if gone.is_set():
                raise ConnectionError

        try:
            await chunk({"role": "assistant", "content": ""})
            await pause(script.first_delay)
            for piece in script.reasoning:
                await chunk({"reasoning_content": piece})
                await pause(script.interval)
            for index, piece in enumerate(script.pieces()):
                if script.fault and index == script.fault_after:
                    return await self._fault(script, writer, send, chunk, gone)
                if script.hold_at == index:
                    while not script.release.is_set():
                        await pause(0.005)
                await chunk({"content": piece})
                record.sent += 1
                await pause(script.interval)
            if script.fault:
                return await self._fault(script, writer, send, chunk, gone)
            await chunk({}, "stop")
            if script.usage and (data.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 11, "completion_tokens": record.sent, "total_tokens": 11 + record.sent}
                await send(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
            await send(b"data: [DONE]\n\n")
            if compressor:
                tail = compressor.flush()
                writer.write(f"{len(tail):x}\r\n".encode() + tail + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            record.finished = True
            return True
        except ConnectionError:
            return False
        finally:
            # Wait until the watcher has let go of the reader, or the next request on this
            # kept-alive connection could not be read.
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _fault(self, script, writer, send, chunk, gone):
        if script.fault == "malformed":
            await send(b"data: {this is not json\n\n")
            await asyncio.sleep(0.05)
        elif script.fault == "error_event":
            await send(f"data: {json.dumps({'error': {'message': script.error_message}})}\n\n".encode())
        elif script.fault == "reset":
            writer.transport.abort()
            return False
        elif script.fault == "stall":
            await gone.wait()
            return False
        elif script.fault == "no_done":
            await chunk({}, "stop")
        # "truncate" and the others end the response cleanly.
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
