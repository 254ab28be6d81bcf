"""
The body of a streamed provider response, read straight from aiohttp's buffer.

The openai SDK hands out an httpx response; over its aiohttp transport, httpx's public
aiter_raw() reads each chunk through four async iterators (httpx's, its bound stream's, the
SDK's transport's, aiohttp's iter_chunked), and aiohttp cancels and schedules a timer for its
read timeout on every chunk: about 45 µs for every token of every answer on the benchmark
machine, a fifth of what relaying a token costs in all (docs/benchmarks.md). Here `read` is
aiohttp's own readany(), and the read timeout is kept by a StallWatch checked a few times per
timeout instead. Over any other transport, or when the private members below are not where
they were, the body is read with aiter_raw(), as it would be anyway.

Private members read (runtime/README.md; tripwire in runtime/internals.py):
- httpx2's BoundAsyncStream._stream: the transport's stream under httpx's.
- openai's vendored httpx_aiohttp AiohttpResponseStream._aiohttp_response: aiohttp's response.
"""

import asyncio

import aiohttp


def reader(http_response, *, read_timeout=None):
    """
    An async function that returns the next bytes of the body (decoded), b"" at its end, and
    a function to call once done with it.
    """
    encoding = http_response.headers.get("content-encoding", "identity").strip().lower()
    identity = encoding in ("", "identity")
    aiohttp_response = _aiohttp_response_under(http_response) if identity else None
    if aiohttp_response is None:
        chunks = aiter(http_response.aiter_raw() if identity else http_response.aiter_bytes())

        async def next_chunk():
            while (chunk := await anext(chunks, None)) is not None:
                if chunk:
                    return chunk
            return b""

        return next_chunk, lambda: None
    stream = aiohttp_response.content
    connection = aiohttp_response.connection
    protocol = connection.protocol if connection is not None else None
    watch = None
    if read_timeout and protocol is not None and not stream.is_eof():
        watch = StallWatch(stream, protocol, read_timeout)
    return stream.readany, (watch.cancel if watch else lambda: None)


def _aiohttp_response_under(http_response):
    """The aiohttp response under the SDK's, or None over another transport."""
    stream = getattr(http_response.stream, "_stream", None)  # httpx's BoundAsyncStream
    response = getattr(stream, "_aiohttp_response", None)  # the SDK's aiohttp transport
    if isinstance(response, aiohttp.ClientResponse) and isinstance(response.content, aiohttp.StreamReader):
        return response
    return None


class StallWatch:
    """
    aiohttp's read timeout for a streamed body, checked a few times per timeout instead of
    re-armed for every chunk. The body fails as aiohttp's own timeout makes it fail
    (SocketTimeoutError, the connection closed, not reused), once no byte arrived for
    `seconds` (at most a quarter more).
    """

    def __init__(self, stream, protocol, seconds):
        self._stream = stream
        self._protocol = protocol
        # aiohttp's own timer (ResponseHandler.read_timeout, a public property), which it
        # re-arms in data_received(), goes with the next read.
        self._protocol.read_timeout = None
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._seen = self._stream.total_bytes
        self._quiet_since = self._loop.time()
        self._handle = self._loop.call_later(seconds / 4, self._check)

    def _check(self):
        if self._stream.is_eof():
            # The body is complete, and the connection may already serve another request.
            return
        now = self._loop.time()
        if self._stream.total_bytes != self._seen:
            self._seen = self._stream.total_bytes
            self._quiet_since = now
        elif now - self._quiet_since >= self._seconds:
            exc = aiohttp.SocketTimeoutError("Timeout on reading data from socket")
            self._protocol.set_exception(exc)
            self._stream.set_exception(exc)
            return
        self._handle = self._loop.call_at(min(now + self._seconds / 4, self._quiet_since + self._seconds), self._check)

    def cancel(self):
        self._handle.cancel()
