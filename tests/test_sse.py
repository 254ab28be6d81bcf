"""SSE framing: the bytes every stream is made of."""

import json
import zlib

import pytest

from chat import sse


@pytest.mark.parametrize(
    "text",
    [
        "t0 ",
        "",
        'quote " and backslash \\',
        "line\nbreak\r\n",
        "你好 🎉",
        "\x00\x1f control",
        "\u2028\u2029",
        "</script>",
    ],
)
@pytest.mark.parametrize("kind", ["content", "reasoning"])
def test_a_delta_is_the_same_bytes_as_the_generic_event(kind, text):
    assert sse.delta(kind, text, id="12-3") == sse.event("delta", {kind: text}, id="12-3")


def test_a_delta_is_one_event_whose_data_is_json():
    raw = sse.delta("content", "a\nb", id="3-0").decode()
    assert raw.endswith("\n\n") and raw.count("\n\n") == 1
    lines = raw[:-2].split("\n")
    assert lines[:2] == ["event: delta", "id: 3-0"]
    assert json.loads(lines[2].removeprefix("data: ")) == {"content": "a\nb"}


def test_an_event_keeps_non_ascii_text_as_utf8():
    assert sse.event("meta", {"title": "你好"}) == 'event: meta\ndata: {"title":"你好"}\n\n'.encode()


# --- Reading a stream back (chat.sse.Reader: doctor and the tests) -------------------------


def test_the_reader_returns_each_event_when_its_last_byte_arrives():
    raw = sse.event("meta", {"id": 1}) + sse.PING + sse.delta("content", "你好", id="2-0")
    reader = sse.Reader()
    seen = []
    # One byte at a time, each read at its own time: an event is complete only at its blank line.
    for at, byte in enumerate(raw):
        for event in reader.feed(bytes([byte]), at=float(at)):
            seen.append(event)
    assert seen == [
        sse.Event("meta", {"id": 1}, None, float(raw.index(b"\n\n") + 1)),
        sse.Event("delta", {"content": "你好"}, "2-0", float(len(raw) - 1)),
    ]
    assert reader.comments == [(": ping", float(raw.index(sse.PING) + len(sse.PING) - 1))]


def test_the_reader_reads_crlf_and_data_on_several_lines():
    raw = b": keep-alive\r\n\r\nevent: x\r\nid: 7\r\ndata: [1,\r\ndata: 2]\r\n\r\nevent: empty\r\n\r\n"
    reader = sse.Reader()
    events = reader.feed(raw, at=1.5)
    assert events == [sse.Event("x", [1, 2], "7", 1.5)]
    assert reader.comments == [(": keep-alive", 1.5)]


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "identity", None])
def test_the_reader_decodes_a_compressed_stream_piece_by_piece(encoding):
    if encoding in ("gzip", "x-gzip"):
        compressor = zlib.compressobj(wbits=31)
    elif encoding == "deflate":
        compressor = zlib.compressobj()
    else:
        compressor = None
    reader = sse.Reader(encoding)
    names = []
    for n in range(3):
        piece = sse.event("tick", {"n": n})
        if compressor:
            piece = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
        names.append([event.data["n"] for event in reader.feed(piece)])
    # Every event comes out of the read that brought it, not at the end of the stream.
    assert names == [[0], [1], [2]]


def test_the_reader_refuses_an_encoding_it_cannot_decode():
    with pytest.raises(ValueError, match="'br'"):
        sse.Reader("br")
