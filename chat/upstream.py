"""
The OpenAI-compatible upstream: one client per provider, and the turning of its streamed
bytes into content and reasoning deltas.

The SDK makes the request (auth, retries before the first byte, error statuses), over its
aiohttp transport; the stream itself is parsed here from raw bytes instead of through the
SDK's per-chunk pydantic models, which cost more CPU than everything else in the relay.
"""

import asyncio
import email.utils
import hashlib
import logging
import math
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import httpx2
import openai
import orjson
from django.conf import settings
from django.utils.translation import gettext, gettext_noop
from openai._constants import RAW_RESPONSE_HEADER

logger = logging.getLogger(__name__)

DEMO_MODEL = "demo"


class UpstreamError(Exception):
    """
    A failure of the provider, with a message that is safe to show to the person (never a
    traceback, never the API key) and the detail for the server log.
    """

    def __init__(self, public_message, *, detail="", kind="provider"):
        super().__init__(public_message)
        self.public_message = redact(public_message)
        self.detail = redact(detail or public_message)
        self.kind = kind
        # Deltas that arrived together with the fault, not yet passed on.
        self.deltas = []

    @classmethod
    def of(cls, kind, *, detail="", **values):
        """The error of `kind`, told in the language of the person who asked (the answer's
        task runs in the context of their request) and logged in English."""
        return cls(public_message(kind, **values), detail=detail or MESSAGES[kind].format(**values), kind=kind)


def public_message(kind, **values):
    """The message of `kind` (a key of MESSAGES) in the current language."""
    return gettext(MESSAGES[kind]).format(**values)


@dataclass
class Provider:
    base_url: str
    api_key: str

    @classmethod
    def for_model(cls, model, *, server=None):
        """
        The provider that serves `model`. The demo model is served by this very process
        (chat.demo), reached over loopback on the address the request came in on, so the
        demo goes through exactly the same relay as a real provider.
        """
        if model == DEMO_MODEL:
            host, port = server or ("127.0.0.1", 8000)
            if ":" in host:
                host = f"[{host}]"
            return cls(f"http://{host}:{port}/demo/v1", demo_api_key())
        return cls(settings.OPENAI_BASE_URL or "https://api.openai.com/v1", settings.OPENAI_API_KEY or "none")


def demo_api_key():
    """A key only this deployment knows, so the demo endpoint is not an open relay."""
    return "demo-" + hashlib.sha256(f"demo:{settings.SECRET_KEY}".encode()).hexdigest()[:32]


_clients = {}


def client_for(provider):
    # One client (and so one connection pool) per provider and event loop: aiohttp sessions
    # belong to the loop that made them.
    key = (
        id(asyncio.get_running_loop()),
        provider.base_url,
        provider.api_key,
        settings.OPENAI_MAX_RETRIES,
        settings.OPENAI_READ_TIMEOUT,
        settings.OPENAI_CONNECT_TIMEOUT,
    )
    client = _clients.get(key)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=provider.api_key,
            base_url=provider.base_url,
            max_retries=settings.OPENAI_MAX_RETRIES,
            timeout=openai.Timeout(settings.OPENAI_READ_TIMEOUT, connect=settings.OPENAI_CONNECT_TIMEOUT),
            # aiohttp caps a session at 100 connections unless told otherwise, and hundreds
            # of answers may stream from one provider at once.
            http_client=openai.DefaultAioHttpClient(
                limits=httpx2.Limits(max_connections=10_000, max_keepalive_connections=100)
            ),
        )
        _clients[key] = client
    return client


async def close_clients():
    """Close this event loop's clients and their connections (the server is stopping)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [key for key in _clients if key[0] == loop_id]:
        client = _clients.pop(key)
        try:
            await client.close()
        except Exception as exc:
            logger.info("closing the client of %s: %r", key[1], exc)


@dataclass
class StreamParser:
    """
    Turns the bytes of an OpenAI `chat.completions` stream into deltas.

    `feed()` takes whatever bytes arrived and returns the deltas they complete, as
    (kind, text) pairs where kind is "content" or "reasoning". The finish reason, usage and
    end marker are kept as attributes.
    """

    finish_reason: str = ""
    usage: dict = field(default_factory=dict)
    done: bool = False
    _buffer: bytes = b""

    def feed(self, data):
        deltas = []
        buffer = self._buffer + data
        *lines, self._buffer = buffer.split(b"\n")
        try:
            for line in lines:
                # Only data lines matter; blank lines, comments (": keep-alive") and event
                # names carry nothing for a chat completion.
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self.done = True
                    continue
                if payload:
                    self._chunk(payload, deltas)
        except UpstreamError as exc:
            # The text that came in the same read before the fault is the person's too.
            exc.deltas = deltas
            raise
        return deltas

    def _chunk(self, payload, deltas):
        try:
            # orjson: a quarter of the CPU of json.loads, on every chunk of every answer.
            chunk = orjson.loads(payload)
            if "error" in chunk and chunk["error"]:
                raise UpstreamError(
                    _provider_error_message(chunk["error"]), detail=payload.decode(errors="replace"), kind="provider"
                )
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                # DeepSeek and Qwen call it reasoning_content; vLLM and others, reasoning.
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    deltas.append(("reasoning", reasoning))
                content = delta.get("content")
                if content:
                    deltas.append(("content", content))
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
            if chunk.get("usage"):
                self.usage = chunk["usage"]
        except UpstreamError:
            raise
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise UpstreamError.of("malformed", detail=f"malformed chunk {payload[:200]!r}: {exc}") from None

    def close(self):
        """The stream ended: return the deltas of a last line without a newline, if any, and
        make sure the stream ended properly."""
        deltas = self.feed(b"\n") if self._buffer.strip() else []
        if not self.done and not self.finish_reason:
            exc = UpstreamError.of("truncated", detail="stream ended without [DONE] or a finish reason")
            exc.deltas = deltas
            raise exc
        return deltas


def _provider_error_message(error):
    message = error.get("message") if isinstance(error, dict) else str(error)
    if not message:
        return public_message("provider")
    return public_message("provider said", message=str(message)[:200])


# What the person is shown, in English here and translated when shown (locale/).
MESSAGES = {
    "dns": gettext_noop("Could not find the model provider's server (the name in OPENAI_BASE_URL does not resolve)."),
    "connect": gettext_noop("Could not reach the model provider. Check OPENAI_BASE_URL and the server's network."),
    "tls": gettext_noop(
        "Could not set up a secure connection to the model provider (TLS certificate or proxy problem)."
    ),
    "timeout": gettext_noop("The model provider did not answer within {seconds:g} seconds."),
    "stalled": gettext_noop("The model provider stopped sending the answer for {seconds:g} seconds."),
    "broken": gettext_noop("The connection to the model provider broke off during the answer."),
    "truncated": gettext_noop("The answer ended before the model provider finished it."),
    "malformed": gettext_noop("The model provider sent data that could not be read."),
    "provider": gettext_noop("The model provider reported an error."),
    "provider said": gettext_noop("The model provider reported an error ({message})."),
    "retry": gettext_noop("Try again in {seconds} seconds."),
    401: gettext_noop("The model provider rejected the API key (HTTP 401)."),
    403: gettext_noop("The model provider refused access to this model (HTTP 403)."),
    404: gettext_noop(
        "The model provider does not know the model {model!r} (HTTP 404). Check OPENAI_MODELS and OPENAI_BASE_URL."
    ),
    429: gettext_noop("The model provider is rate limiting requests (HTTP 429)."),
    "status": gettext_noop("The model provider answered with an error (HTTP {status})."),
}


def redact(text):
    """`text` without the API key, should a provider or a library have echoed it."""
    key = settings.OPENAI_API_KEY
    if key and len(key) >= 8 and key in text:
        text = text.replace(key, "[API key]")
    return text


def _chain(exc):
    """`exc` and the exceptions it was raised from, outermost first."""
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _describe(chain):
    return " <- ".join(f"{type(e).__name__}: {e}" for e in chain)


def _status_message(exc, model):
    status = exc.status_code
    if status == 404:
        message = public_message(404, model=model)
    elif status in MESSAGES:
        message = public_message(status)
    else:
        message = public_message("status", status=status)
    # The provider's own words help (a context too long, a quota used up, a region refused),
    # except after a 401, where they tend to quote the key.
    body = exc.body
    explanation = body.get("message") if isinstance(body, dict) else None
    if isinstance(explanation, str) and explanation.strip() and status != 401:
        message += f" {explanation.strip()[:300]}"
    if status == 429 and (seconds := retry_after(exc.response.headers)) is not None:
        message += " " + public_message("retry", seconds=seconds)
    return message


def retry_after(headers):
    """Whole seconds from a Retry-After (seconds or an HTTP date) or retry-after-ms header."""
    try:
        if value := headers.get("retry-after-ms"):
            return max(math.ceil(float(value) / 1000), 1)
        if value := headers.get("retry-after"):
            if value.strip().isdigit():
                return int(value)
            when = email.utils.parsedate_to_datetime(value)
            return max(math.ceil((when - datetime.now(UTC)).total_seconds()), 1)
    except (ValueError, TypeError, OverflowError):
        pass
    return None


def public_error(exc, *, model=""):
    """An UpstreamError for any exception raised while calling the provider."""
    if isinstance(exc, UpstreamError):
        return exc
    chain = _chain(exc)
    detail = _describe(chain)

    def has(*types):
        return any(isinstance(e, types) for e in chain)

    # The SDK's aiohttp transport maps every connection error, refused or reset, to a
    # connect timeout; what happened is told by the original exception underneath.
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(_status_message(exc, model), detail=detail, kind="status")
    if has(aiohttp.ClientConnectorDNSError, socket.gaierror):
        return UpstreamError.of("dns", detail=detail)
    if has(aiohttp.ClientSSLError, ssl.SSLError):
        return UpstreamError.of("tls", detail=detail)
    if has(aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, httpx2.ConnectError):
        return UpstreamError.of("connect", detail=detail)
    if has(aiohttp.ServerTimeoutError, TimeoutError, httpx2.TimeoutException):
        return UpstreamError.of("timeout", detail=detail, seconds=settings.OPENAI_READ_TIMEOUT)
    if has(aiohttp.ClientError, httpx2.HTTPError, OSError, asyncio.IncompleteReadError, openai.APIConnectionError):
        return UpstreamError.of("broken", detail=detail)
    return UpstreamError.of("provider", detail=detail)


class Body:
    """
    The response body as it arrives: `await read()` gives the bytes that came since the last
    read, b"" at the end. Unencoded (as streams almost always are), the raw bytes: aiter_bytes()
    would pass each read through a decoder and a re-chunker for nothing. Over the SDK's aiohttp
    transport, `read` is aiohttp's own readany(), without the async iterators and generators
    that aiter_raw() and iter_any() put around it (a few microseconds for every token of every
    answer), and with the read timeout kept by a StallWatch instead of by aiohttp.
    """

    def __init__(self, http_response, *, read_timeout=None):
        self.watch = None
        identity = http_response.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
        aiohttp_response = aiohttp_response_under(http_response) if identity else None
        if aiohttp_response is None:
            self._chunks = aiter(http_response.aiter_raw() if identity else http_response.aiter_bytes())
            self.read = self._next_chunk
            return
        reader = aiohttp_response.content
        self.read = reader.readany
        connection = aiohttp_response.connection
        protocol = connection.protocol if connection is not None else None
        if read_timeout and protocol is not None and not reader.is_eof():
            self.watch = StallWatch(reader, protocol, read_timeout)

    async def _next_chunk(self):
        while (chunk := await anext(self._chunks, None)) is not None:
            if chunk:
                return chunk
        return b""

    def close(self):
        if self.watch is not None:
            self.watch.cancel()


class StallWatch:
    """
    aiohttp's read timeout for a streamed body, checked a few times per timeout instead of
    re-armed for every chunk: aiohttp cancels and schedules a timer on each read from the
    socket, which is one timer per token of every answer. The body fails as aiohttp's own
    timeout makes it fail (SocketTimeoutError, the connection closed, not reused), once no
    byte arrived for `seconds` (at most a quarter more).
    """

    def __init__(self, reader, protocol, seconds):
        self._reader = reader
        self._protocol = protocol
        # aiohttp's own timer, which data_received() re-arms, goes with the next read.
        self._protocol.read_timeout = None
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._seen = self._reader.total_bytes
        self._quiet_since = self._loop.time()
        self._handle = self._loop.call_later(seconds / 4, self._check)

    def _check(self):
        if self._reader.is_eof():
            # The body is complete, and the connection may already serve another request.
            return
        now = self._loop.time()
        if self._reader.total_bytes != self._seen:
            self._seen = self._reader.total_bytes
            self._quiet_since = now
        elif now - self._quiet_since >= self._seconds:
            exc = aiohttp.SocketTimeoutError("Timeout on reading data from socket")
            self._protocol.set_exception(exc)
            self._reader.set_exception(exc)
            return
        self._handle = self._loop.call_at(min(now + self._seconds / 4, self._quiet_since + self._seconds), self._check)

    def cancel(self):
        self._handle.cancel()


def aiohttp_response_under(http_response):
    """The aiohttp response under the SDK's, or None over another transport."""
    stream = getattr(http_response.stream, "_stream", None)  # httpx's BoundAsyncStream
    response = getattr(stream, "_aiohttp_response", None)  # the SDK's aiohttp transport
    if isinstance(response, aiohttp.ClientResponse) and isinstance(response.content, aiohttp.StreamReader):
        return response
    return None


async def stream_chat(provider, parser, *, model, messages, max_tokens=0):
    """
    Yield lists of (kind, text) deltas as the provider streams them; `parser` keeps the
    finish reason and usage. Raise UpstreamError for every failure.
    """
    body = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    try:
        client = client_for(provider)
        # The SDK's request (auth, retries before the first byte, errors as APIStatusError)
        # through its documented client.post() for raw responses: chat.completions.create()
        # would first walk the body through its TypedDict transform, which costs more CPU
        # than the rest of the request (about 1 ms per message of history), to send the
        # same JSON. The raw-response header keeps the body unread: it is streamed here.
        response = await client.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            body=body,
            options={"headers": {RAW_RESPONSE_HEADER: "stream"}},
        )
        received = Body(response, read_timeout=settings.OPENAI_READ_TIMEOUT)
        try:
            read = received.read
            while data := await read():
                deltas = parser.feed(data)
                if deltas:
                    yield deltas
        finally:
            received.close()
            await response.aclose()
        if deltas := parser.close():
            yield deltas
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise public_error(exc, model=model) from exc
