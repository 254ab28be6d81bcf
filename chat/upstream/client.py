"""
The requests to an OpenAI-compatible provider, made with the openai SDK over its aiohttp
transport: one client per provider (and event loop), the streamed answer and the short
non-streamed request a title takes.

The SDK makes each request (auth, retries before the first byte, error statuses as
APIStatusError, timeouts) through its documented `client.post()` for raw responses:
`chat.completions.create()` first walks the body through its TypedDict transform, which
costs more CPU than the rest of a chat turn (about 2 ms for five messages of history, 15 ms
for forty, on the benchmark machine) to send the same JSON; and its parsed stream would build
a pydantic model per token. The body is read as raw bytes (runtime/httpbody.py) and parsed by
chat.upstream.parser.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass

import httpx2
import openai
import orjson
from django.conf import settings

from chat.upstream.errors import UpstreamError, public_error
from runtime import httpbody

logger = logging.getLogger(__name__)

DEMO_MODEL = "demo"


@dataclass(frozen=True)
class Endpoint:
    """Where a provider's requests go: its base URL, key and extra headers ((name, value) pairs)."""

    base_url: str
    api_key: str
    headers: tuple = ()


def demo_endpoint(server=None):
    """
    The demo model's: it is served by this very process (chat.demo), reached over loopback on
    the address the request came in on, so the demo goes through exactly the same relay as a
    real provider.
    """
    host, port = server or ("127.0.0.1", 8000)
    if ":" in host:
        host = f"[{host}]"
    return Endpoint(f"http://{host}:{port}/demo/v1", demo_api_key())


def demo_api_key():
    """A key only this deployment knows, so the demo endpoint is not an open relay."""
    return "demo-" + hashlib.sha256(f"demo:{settings.SECRET_KEY}".encode()).hexdigest()[:32]


_clients = {}


def client_for(endpoint):
    # One client (and so one connection pool) per provider and event loop: aiohttp sessions
    # belong to the loop that made them.
    key = (
        id(asyncio.get_running_loop()),
        endpoint.base_url,
        endpoint.api_key,
        endpoint.headers,
        settings.OPENAI_MAX_RETRIES,
        settings.OPENAI_READ_TIMEOUT,
        settings.OPENAI_CONNECT_TIMEOUT,
    )
    client = _clients.get(key)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            default_headers=dict(endpoint.headers) or None,
            max_retries=settings.OPENAI_MAX_RETRIES,
            # The read timeout is the longest silence tolerated from the provider, before the
            # first token or between two: aiohttp applies it to every read from the socket.
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


async def stream_chat(endpoint, parser, *, model, messages, max_tokens=0, params=()):
    """
    Yield lists of (kind, text) deltas as the provider streams them; `parser` keeps the
    finish reason and usage. `params` are the model's extra request parameters ((name, value)
    pairs). Raise UpstreamError for every failure.
    """
    body = {
        **dict(params),
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    try:
        client = client_for(endpoint)
        response = await client.post("/chat/completions", cast_to=httpx2.Response, body=body, stream=True)
        # The raw bytes, read as directly as can be: this runs for every token of every answer.
        read, done = httpbody.reader(response, read_timeout=settings.OPENAI_READ_TIMEOUT)
        try:
            while data := await read():
                if deltas := parser.feed(data):
                    yield deltas
        finally:
            done()
            await response.aclose()
        if deltas := parser.close():
            yield deltas
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise public_error(exc, model=model) from exc


async def complete(endpoint, *, model, messages, max_tokens, timeout, params=()):
    """The text of a short, non-streamed answer ("" when there is none). Raises UpstreamError."""
    body = {**dict(params), "model": model, "messages": messages, "max_tokens": max_tokens, "stream": False}
    try:
        client = client_for(endpoint)
        response = await client.post(
            "/chat/completions", cast_to=httpx2.Response, body=body, options={"timeout": timeout}
        )
        choices = orjson.loads(response.content).get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content") or ""
    except asyncio.CancelledError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise UpstreamError.of("malformed", detail=f"malformed completion: {exc!r}") from None
    except Exception as exc:
        raise public_error(exc, model=model) from exc
