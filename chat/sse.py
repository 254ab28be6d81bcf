"""
Server-Sent Events framing: the bytes the browser (or a script) reads.

A delta's id is the length of the answer's content and reasoning after it ("<content>-
<reasoning>"), so a client that reconnects with `Last-Event-ID` resumes exactly where it left
off, whichever process serves it: the saved text is always a prefix of the final text.
"""

import json
from json.encoder import encode_basestring

from django.http import StreamingHttpResponse

PING = b": ping\n\n"

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def event(name, data, *, id=None):
    head = f"event: {name}\nid: {id}\n" if id is not None else f"event: {name}\n"
    return f"{head}data: {_encoder.encode(data)}\n\n".encode()


def delta(kind, text, *, id):
    """
    The `delta` event, {"<kind>": text}: the same bytes as event("delta", {kind: text}, id=id),
    built without a JSON encoder, since it is sent for every token of every stream.
    """
    return f'event: delta\nid: {id}\ndata: {{"{kind}":{encode_basestring(text)}}}\n\n'.encode()


def delta_id(content_length, reasoning_length):
    return f"{content_length}-{reasoning_length}"


def parse_delta_id(value):
    """(content_length, reasoning_length) from a Last-Event-ID; (0, 0) when absent or bad."""
    try:
        content, reasoning = (int(part) for part in (value or "").split("-"))
    except ValueError:
        return 0, 0
    return max(content, 0), max(reasoning, 0)


def response(stream):
    """A StreamingHttpResponse of the events (bytes) that the async generator `stream` yields."""
    resp = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    # chat.handler sends these bytes as they come, as long as nothing replaced the stream.
    resp.events = stream
    resp["Cache-Control"] = "no-cache"
    # nginx (and BaoTa's proxy, which is nginx) would otherwise buffer the whole answer.
    resp["X-Accel-Buffering"] = "no"
    return resp
