"""
The ASGI lifespan protocol, which Django does not speak: uvicorn sends `startup` when a worker
starts and `shutdown` when it stops gracefully (SIGTERM, a reload).
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.models import Message
from chat.relay import relay, release_connections

logger = logging.getLogger(__name__)


@sync_to_async(thread_sensitive=False)
def mark_abandoned_answers():
    try:
        count = Message.objects.mark_abandoned_interrupted()
    finally:
        release_connections()
    if count:
        logger.warning("marked %s answers interrupted: the process generating them had stopped", count)


async def _watch_abandoned():
    # An answer of a process killed just before this one started still looks alive for a
    # while; look again once it cannot be.
    await asyncio.sleep(settings.CHAT_ABANDONED_SECONDS + 1)
    try:
        await mark_abandoned_answers()
    except Exception:
        logger.exception("could not check for interrupted answers")


class LifespanMiddleware:
    def __init__(self, app):
        self.app = app
        self._watcher = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await mark_abandoned_answers()
                except Exception as exc:
                    # A database that is down at start-up must not keep the server from
                    # starting (it may come up later); /healthz reports it.
                    logger.warning("could not check for interrupted answers: %s", exc)
                self._watcher = asyncio.create_task(_watch_abandoned())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher:
                    self._watcher.cancel()
                await relay.drain(settings.CHAT_DRAIN_SECONDS)
                await send({"type": "lifespan.shutdown.complete"})
                return
