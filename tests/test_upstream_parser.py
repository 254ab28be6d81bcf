"""Turning the provider's streamed bytes into deltas."""

import asyncio
import gzip
import json

import aiohttp
import httpx2
import pytest
from openai._constants import RAW_RESPONSE_HEADER

from chat.upstream import (
    Body,
    Provider,
    StreamParser,
    UpstreamError,
    aiohttp_response_under,
    client_for,
    close_clients,
)
from tests.fake_upstream import Script


def sse(*chunks):
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)


def delta(content=None, reasoning=None, finish=None):
    d = {}
    if content is not None:
        d["content"] = content
    if reasoning is not None:
        d["reasoning_content"] = reasoning
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_it_parses_content_finish_reason_and_usage():
    parser = StreamParser()
    data = sse(
        delta(""), delta("Hel"), delta("lo"), delta(finish="stop"), {"choices": [], "usage": {"prompt_tokens": 3}}
    )
    assert parser.feed(data + b"data: [DONE]\n\n") == [("content", "Hel"), ("content", "lo")]
    parser.close()
    assert (parser.finish_reason, parser.usage, parser.done) == ("stop", {"prompt_tokens": 3}, True)


def test_it_reassembles_lines_split_across_reads():
    data = sse(delta("你好"), delta("🎉")) + b"data: [DONE]\n\n"
    parser = StreamParser()
    out = []
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
    assert out == [("content", "你好"), ("content", "🎉")]
    parser.close()


def test_it_separates_reasoning_from_content():
    parser = StreamParser()
    out = parser.feed(sse(delta(reasoning="hmm"), {"choices": [{"delta": {"reasoning": "vllm"}}]}, delta("ok")))
    assert out == [("reasoning", "hmm"), ("reasoning", "vllm"), ("content", "ok")]


def test_it_ignores_comments_event_names_and_crlf():
    parser = StreamParser()
    data = b": keep-alive\r\n\r\nevent: message\r\n" + sse(delta("x")).replace(b"\n", b"\r\n")
    assert parser.feed(data) == [("content", "x")]


def test_a_malformed_chunk_is_an_error():
    with pytest.raises(UpstreamError, match="could not be read"):
        StreamParser().feed(b"data: {oops\n\n")


def test_an_error_chunk_is_an_error():
    with pytest.raises(UpstreamError, match="overloaded"):
        StreamParser().feed(sse({"error": {"message": "overloaded"}}))


def test_a_stream_without_done_or_finish_reason_is_truncated():
    parser = StreamParser()
    parser.feed(sse(delta("partial")))
    with pytest.raises(UpstreamError, match="ended before"):
        parser.close()


def test_a_finish_reason_without_done_is_accepted():
    parser = StreamParser()
    parser.feed(sse(delta("x", finish="length")))
    parser.close()
    assert parser.finish_reason == "length"


def test_a_last_line_without_newline_is_not_lost():
    parser = StreamParser()
    assert parser.feed(b'data: {"choices":[{"delta":{"content":"last"},"finish_reason":"stop"}]}') == []
    assert parser.close() == [("content", "last")]
    assert parser.finish_reason == "stop"


def test_text_before_a_fault_in_the_same_read_is_kept_with_the_error():
    parser = StreamParser()
    with pytest.raises(UpstreamError) as failure:
        parser.feed(sse(delta("kept "), delta("too")) + b"data: {oops\n\n")
    assert failure.value.deltas == [("content", "kept "), ("content", "too")]
    assert failure.value.kind == "malformed"


def _read(response):
    async def read():
        body = Body(response)
        chunks = []
        while chunk := await body.read():
            chunks.append(chunk)
        return chunks

    return asyncio.run(read())


def test_an_unencoded_body_is_passed_on_as_it_arrived():
    data = sse(delta("你好"))
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=_Chunks([data[:7], data[7:]]))
    assert _read(response) == [data[:7], data[7:]]


def test_a_compressed_body_is_decompressed():
    data = sse(delta("t0 "), delta("t1 ")) + b"data: [DONE]\n\n"
    response = httpx2.Response(200, headers={"content-encoding": "gzip"}, stream=_Chunks([gzip.compress(data)]))
    parser = StreamParser()
    out = []
    for chunk in _read(response):
        out += parser.feed(chunk)
    assert out == [("content", "t0 "), ("content", "t1 ")] and parser.done


class _Chunks(httpx2.AsyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


async def _stream(upstream, read_timeout):
    """The SDK's raw streaming response from the fake upstream, its Body, and the client."""
    client = client_for(Provider(upstream.base_url, "test-key"))
    response = await client.post(
        "/chat/completions",
        cast_to=httpx2.Response,
        body={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        options={"headers": {RAW_RESPONSE_HEADER: "stream"}},
    )
    return response, Body(response, read_timeout=read_timeout)


async def _read_all(response, body):
    parser = StreamParser()
    deltas = []
    try:
        while data := await body.read():
            deltas += parser.feed(data)
        return deltas, parser.done
    finally:
        body.close()
        await response.aclose()
        await close_clients()


def test_over_the_sdks_aiohttp_transport_the_body_is_read_from_aiohttp_itself(upstream):
    # Body reads aiohttp's buffer under the SDK's response when it can find it; if a new SDK
    # version moved it, streaming would still work, only slower: this says so.
    upstream.push(Script(tokens=3, interval=0.05))

    async def ask():
        response, body = await _stream(upstream, read_timeout=5)
        reader = getattr(body.read, "__self__", None)
        found = isinstance(reader, aiohttp.StreamReader)
        # The read timeout is the stall watch's: aiohttp no longer arms a timer per chunk.
        watched = body.watch is not None and aiohttp_response_under(response).connection.protocol.read_timeout is None
        return found, watched, *(await _read_all(response, body))

    found, watched, deltas, done = asyncio.run(ask())
    assert found and watched
    assert deltas == [("content", "t0 "), ("content", "t1 "), ("content", "t2 ")] and done


def test_a_stream_slower_than_the_read_timeout_in_all_is_not_a_stall(upstream):
    # Each gap (0.1 s) is under the read timeout (0.3 s), the whole stream (1.2 s) is not.
    upstream.push(Script(tokens=12, interval=0.1))

    async def ask():
        return await _read_all(*await _stream(upstream, read_timeout=0.3))

    deltas, done = asyncio.run(ask())
    assert len(deltas) == 12 and done


def test_a_body_silent_for_the_read_timeout_fails_as_aiohttps_timeout_and_is_not_reused(upstream):
    upstream.push(Script(tokens=5, fault="stall", fault_after=2))

    async def ask():
        response, body = await _stream(upstream, read_timeout=0.3)
        connection = aiohttp_response_under(response).connection
        started = asyncio.get_running_loop().time()
        with pytest.raises(aiohttp.SocketTimeoutError):
            await asyncio.wait_for(_read_all(response, body), 5)
        return asyncio.get_running_loop().time() - started, connection.protocol

    waited, protocol = asyncio.run(ask())
    assert 0.3 <= waited < 1.0
    # Closed rather than handed back to the pool mid-stream.
    assert protocol is None or protocol.should_close
    assert upstream.wait_for(lambda: upstream.chat_requests[0].disconnected_at)


def test_a_chunk_that_is_not_utf8_is_a_clear_error():
    with pytest.raises(UpstreamError) as failure:
        StreamParser().feed(b'data: {"choices":[{"delta":{"content":"\xff\xfe"}}]}\n\n')
    assert failure.value.kind == "malformed"
