"""
A test stream for the path between a browser and this server, used by `manage.py doctor URL`.

It streams like an answer does (same framing, headers and heartbeats) but involves no model,
no database and no account, so it can be fetched through the public URL to see whether a
proxy on the way buffers the stream or cuts it during a silence. It is cheap and bounded:
at most MAX_TICKS small events and MAX_SILENCE seconds. And it is not for anyone: it takes a
token that `doctor` signs with the server's SECRET_KEY (valid for TOKEN_SECONDS), or a staff
member's session, so that nobody can hold hundreds of sockets open with it.
"""

import asyncio
import time

from django.conf import settings
from django.core import signing
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from chat import sse

TICK_SECONDS = 0.2
MAX_TICKS = 50
MAX_SILENCE = 120.0
TOKEN_SECONDS = 600
_SALT = "chat.diagnostics"


def token():
    """A token for the test stream, valid for TOKEN_SECONDS on every server with this SECRET_KEY."""
    return signing.TimestampSigner(salt=_SALT).sign("doctor")


def _valid(value):
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(value, max_age=TOKEN_SECONDS) == "doctor"
    except signing.BadSignature:
        return False


async def _allowed(request):
    if _valid(request.GET.get("token", "")):
        return True
    user = await request.auser()
    return user.is_staff


def _bounded(request, name, default, convert, upper):
    value = request.GET.get(name, default)
    try:
        value = convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a number.") from None
    if not 0 <= value <= upper:
        raise ValueError(f"'{name}' must be between 0 and {upper:g}.")
    return value


@require_GET
async def stream(request):
    """`ticks` events TICK_SECONDS apart, then `silence` seconds of heartbeats only, then `done`."""
    if not await _allowed(request):
        return JsonResponse({"error": "The test stream is for manage.py doctor (or staff)."}, status=403)
    try:
        ticks = _bounded(request, "ticks", 10, int, MAX_TICKS)
        silence = _bounded(request, "silence", 0, float, MAX_SILENCE)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    # What the app sees of the request, for doctor to compare with the URL it used: a proxy
    # that does not pass Host or X-Forwarded-Proto on shows here.
    hello = {
        "scheme": request.scheme,
        "host": request.get_host(),
        "ticks": ticks,
        "tick_seconds": TICK_SECONDS,
        "silence": silence,
        "heartbeat_seconds": settings.SSE_HEARTBEAT_SECONDS,
    }
    return sse.response(_events(hello, ticks, silence))


async def _events(hello, ticks, silence):
    yield sse.event("hello", hello)
    for number in range(1, ticks + 1):
        await asyncio.sleep(TICK_SECONDS)
        yield sse.event("tick", {"n": number})
    # A silence like a model that thinks before answering: only heartbeats, as a real
    # answer's stream sends them.
    end = time.monotonic() + silence
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(settings.SSE_HEARTBEAT_SECONDS, left))
        # A heartbeat only when silence remains (a timer may wake a hair early at the end).
        if end - time.monotonic() > 0.05:
            yield sse.PING
    yield sse.event("done", {"ticks": ticks, "silence": silence})
