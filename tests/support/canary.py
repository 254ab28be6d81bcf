"""
A canary API key for the whole suite (tests/settings.py): nothing the product sends back or
writes may carry it, in any spelling. The servers the tests run (in this process and in
processes of their own) look at every response they send (headers, body, each streamed
piece) and every log line they write; this process also looks at every message saved. What
carries the key is noted in the file CANARY_FOUND names, and the session fails at its end
if anything was noted (tests/conftest.py).
"""

import logging
import os
from urllib.parse import quote

from django.conf import settings
from django.utils.decorators import sync_only_middleware

# Put together here rather than written out, so that no scanner takes it for a real key.
KEY = "-".join(("sk", "test", "canary", "0123456789abcdefXYZ"))
# The spellings a leak could take: the key in any case, URL-encoded, cut short (its first part).
SPELLINGS = (KEY.lower(), quote(KEY, safe="").lower(), KEY[:14].lower())


def carries_key(data):
    """Whether `data` (str or bytes) carries the canary key in any spelling."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data).decode("utf-8", "replace")
    text = str(data).lower()
    return any(spelling in text for spelling in SPELLINGS)


def note(where, data):
    path = os.environ.get("CANARY_FOUND")
    line = f"{where}: {str(data)[:300]!r}\n"
    if path:
        with open(path, "a", encoding="utf-8") as found:
            found.write(line)


def check(where, data):
    if carries_key(data):
        note(where, data)


def _scanned(response, where):
    # Taken now: once replaced, streaming_content would be these pieces themselves.
    source = response.streaming_content
    if response.is_async:

        async def pieces():
            async for piece in source:
                check(where, piece)
                yield piece

    else:

        def pieces():
            for piece in source:
                check(where, piece)
                yield piece

    return pieces()


@sync_only_middleware
def middleware(get_response):
    """First in the tests' MIDDLEWARE: sees every response, the error pages' included."""

    def look(request):
        response = get_response(request)
        where = f"response to {request.method} {request.path}"
        check(where + " (headers)", "\n".join(f"{k}: {v}" for k, v in response.items()))
        if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return response
        if response.streaming:
            response.streaming_content = _scanned(response, where)
        else:
            check(where, response.content)
        return response

    return look


class LogHandler(logging.Handler):
    """A log handler that writes nothing: it notes a line (as the server writes it) that carries the key."""

    def emit(self, record):
        try:
            check(f"log line of {record.name}", self.format(record))
        except Exception:
            self.handleError(record)


def saved_message(sender, instance, **kwargs):
    """A post_save receiver for chat.Message."""
    for field in ("content", "reasoning", "error"):
        check(f"message {instance.pk} {field}", getattr(instance, field))
