"""Turning the provider's streamed bytes into deltas."""

import asyncio
import json
import time

import pytest

from chat.upstream import Endpoint, StreamParser, UpstreamError, close_clients, stream_chat
from tests.support.fake_upstream import Script


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


def test_an_error_chunk_is_an_error_in_the_products_words_with_the_providers_for_staff():
    with pytest.raises(UpstreamError, match="The model provider reported an error") as raised:
        StreamParser().feed(sse({"error": {"message": "overloaded"}}))
    assert raised.value.provider_text == "overloaded" and "overloaded" in raised.value.detail


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


def _ask(upstream, **options):
    """stream_chat() against the fake upstream: the deltas as they came, and the parser."""
    provider = Endpoint(upstream.base_url, "test-key")

    async def ask():
        parser = StreamParser()
        batches = []
        try:
            async for deltas in stream_chat(
                provider, parser, model="fake-model", messages=[{"role": "user", "content": "hi"}], **options
            ):
                batches.append((deltas, time.monotonic()))
            return batches, parser
        finally:
            await close_clients()

    return asyncio.run(ask())


def test_the_deltas_come_as_the_provider_sends_them(upstream):
    upstream.push(Script(tokens=3, interval=0.2))
    batches, parser = _ask(upstream)
    assert [delta for deltas, _ in batches for delta in deltas] == [("content", f"t{i} ") for i in range(3)]
    # One read per token, each as it arrived, not the whole body at the end.
    assert len(batches) == 3 and batches[-1][1] - batches[0][1] >= 0.3
    assert parser.finish_reason == "stop" and parser.usage["completion_tokens"] == 3


def test_a_compressed_stream_is_decompressed(upstream):
    upstream.push(Script(tokens=3, interval=0.05, gzip=True))
    batches, parser = _ask(upstream)
    assert [delta for deltas, _ in batches for delta in deltas] == [("content", f"t{i} ") for i in range(3)]
    assert parser.done


def test_a_stream_slower_than_the_read_timeout_in_all_is_not_a_stall(upstream, settings):
    # Each gap (0.1 s) is under the read timeout (0.3 s), the whole stream (1.2 s) is not.
    settings.OPENAI_READ_TIMEOUT = 0.3
    upstream.push(Script(tokens=12, interval=0.1))
    batches, parser = _ask(upstream)
    assert sum(len(deltas) for deltas, _ in batches) == 12 and parser.done


def test_a_provider_silent_for_the_read_timeout_is_a_timeout_and_its_connection_closed(upstream, settings):
    settings.OPENAI_READ_TIMEOUT = 0.3
    upstream.push(Script(tokens=5, fault="stall", fault_after=2))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as failure:
        _ask(upstream)
    assert failure.value.kind == "timeout"
    assert 0.3 <= time.monotonic() - started < 1.5
    # Closed rather than handed back to the pool mid-stream.
    assert upstream.wait_for(lambda: upstream.chat_requests[0].disconnected_at)


def test_a_chunk_that_is_not_utf8_is_a_clear_error():
    with pytest.raises(UpstreamError) as failure:
        StreamParser().feed(b'data: {"choices":[{"delta":{"content":"\xff\xfe"}}]}\n\n')
    assert failure.value.kind == "malformed"
