"""Turning the provider's streamed bytes into deltas."""

import asyncio
import gzip
import json

import httpx2
import pytest
from openai._constants import RAW_RESPONSE_HEADER

from chat.upstream import (
    Provider,
    StreamParser,
    UpstreamError,
    aiohttp_reader,
    body_chunks,
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


def _read(chunks):
    async def read():
        return [chunk async for chunk in chunks]

    return asyncio.run(read())


def test_an_unencoded_body_is_passed_on_as_it_arrived():
    data = sse(delta("你好"))
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=_Chunks([data[:7], data[7:]]))
    assert _read(body_chunks(response)) == [data[:7], data[7:]]


def test_a_compressed_body_is_decompressed():
    data = sse(delta("t0 "), delta("t1 ")) + b"data: [DONE]\n\n"
    response = httpx2.Response(200, headers={"content-encoding": "gzip"}, stream=_Chunks([gzip.compress(data)]))
    parser = StreamParser()
    out = []
    for chunk in _read(body_chunks(response)):
        out += parser.feed(chunk)
    assert out == [("content", "t0 "), ("content", "t1 ")] and parser.done


class _Chunks(httpx2.AsyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


def test_over_the_sdks_aiohttp_transport_the_body_is_read_from_aiohttp_itself(upstream):
    # body_chunks() reads aiohttp's buffer under the SDK's response when it can find it; if
    # a new SDK version moved it, streaming would still work, only slower: this says so.
    upstream.push(Script(tokens=3))

    async def ask():
        client = client_for(Provider(upstream.base_url, "test-key"))
        response = await client.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            body={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            options={"headers": {RAW_RESPONSE_HEADER: "stream"}},
        )
        try:
            found = aiohttp_reader(response) is not None
            parser = StreamParser()
            deltas = []
            async for data in body_chunks(response):
                deltas += parser.feed(data)
            return found, deltas, parser.done
        finally:
            await response.aclose()
            await close_clients()

    found, deltas, done = asyncio.run(ask())
    assert found
    assert deltas == [("content", "t0 "), ("content", "t1 "), ("content", "t2 ")] and done


def test_a_chunk_that_is_not_utf8_is_a_clear_error():
    with pytest.raises(UpstreamError) as failure:
        StreamParser().feed(b'data: {"choices":[{"delta":{"content":"\xff\xfe"}}]}\n\n')
    assert failure.value.kind == "malformed"
