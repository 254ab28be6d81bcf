"""
Server-Sent Events: the bytes the browser (or a script) reads, and the reading of them back
(by `manage.py doctor` and the tests), as they arrive.
"""

import json
import time
import zlib
from dataclasses import dataclass, field
from json.encoder import encode_basestring

from django.http import StreamingHttpResponse

PING = b": ping\n\n"

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def event(name, data, *, id=None):
    head = f"event: {name}\nid: {id}\n" if id is not None else f"event: {name}\n"
    return f"{head}data: {_encoder.encode(data)}\n\n".encode()


def encode_text(text):
    """`text` as a JSON string, its non-ASCII characters as they are (the stream is UTF-8)."""
    return encode_basestring(text)


def delta(kind, text, *, id):
    """
    The `delta` event, {"<kind>": text}: the same bytes as event("delta", {kind: text}, id=id),
    built without a JSON encoder, since it is sent for every token of every stream.
    """
    return f'event: delta\nid: {id}\ndata: {{"{kind}":{encode_basestring(text)}}}\n\n'.encode()


def response(stream):
    """A response of the events (bytes) that the async iterator `stream` yields."""
    resp = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    # nginx (and BaoTa's proxy, which is nginx) would otherwise buffer the whole answer.
    resp["X-Accel-Buffering"] = "no"
    return resp


@dataclass
class Event:
    name: str
    data: object
    id: str = None
    # time.monotonic() when its last byte arrived.
    at: float = 0.0


@dataclass
class Reader:
    """
    Reads an event stream as it arrives, as a browser does: feed() takes the bytes of each
    read (gzip or deflate compressed, when a proxy compressed the stream) and returns the
    events they complete, with their data decoded from JSON and the time they arrived. The
    comment lines (heartbeats, ": ping") are kept in `comments`, each as (line, arrival time).
    """

    content_encoding: str = ""
    comments: list = field(default_factory=list)
    _buffer: bytes = b""
    _decoder: object = None

    def __post_init__(self):
        encoding = (self.content_encoding or "").lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(wbits=31)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise ValueError(f"cannot decode a stream encoded as {encoding!r}")

    def feed(self, data, *, at=None):
        at = time.monotonic() if at is None else at
        self._buffer += self._decoder.decompress(data) if self._decoder else data
        self._buffer = self._buffer.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            name, data_lines, event_id = "message", [], None
            for line in block.decode("utf-8", "replace").split("\n"):
                if line.startswith(":"):
                    self.comments.append((line, at))
                    continue
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    name = value
                elif key == "data":
                    data_lines.append(value)
                elif key == "id":
                    event_id = value
            if data_lines:
                events.append(Event(name, json.loads("\n".join(data_lines)), event_id, at))
        return events
