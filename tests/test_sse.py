"""SSE framing: the bytes every stream is made of."""

import json

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
