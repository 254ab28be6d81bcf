"""
The ASGI lifespan protocol, which Django does not speak: uvicorn sends `startup` when a worker
starts and `shutdown` when it stops gracefully (SIGTERM, a reload).

At start-up, answers left half-written by a process that was killed are marked interrupted.
On SIGTERM the answers in flight get CHAT_DRAIN_SECONDS to finish, then are saved as far as
they got (interrupted). The drain starts at the signal itself, not at the lifespan
`shutdown` event: uvicorn sends that only once every open response has ended, and the
streams that follow an answer end only with the answer.
"""

import asyncio
import logging
import signal
import threading

from django.conf import settings

from chat import broker as brokers
from chat import upstream
from chat.database import in_database_thread
from chat.models import Message
from chat.relay import relay

logger = logging.getLogger(__name__)


@in_database_thread
def mark_abandoned_answers():
    count = Message.objects.mark_abandoned_interrupted()
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


def _drain_on_signal():
    """
    Start draining the answers as soon as the server is told to stop. The server's own
    handler (uvicorn's, which stops accepting connections) still runs first.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach only the main thread; a server in a thread has none
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        server_handler = signal.getsignal(signum)
        if not callable(server_handler):
            continue

        def handler(signum, frame, server_handler=server_handler):
            server_handler(signum, frame)
            loop.call_soon_threadsafe(relay.start_draining, settings.CHAT_DRAIN_SECONDS)

        signal.signal(signum, handler)


async def _start_broker():
    if broker := brokers.get():
        try:
            await asyncio.wait_for(broker.listening.wait(), 3)
        except TimeoutError:
            logger.warning("Redis at REDIS_URL does not answer; stop and follow go through the database meanwhile")


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
                await _start_broker()
                _drain_on_signal()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher:
                    self._watcher.cancel()
                await relay.drain(settings.CHAT_DRAIN_SECONDS)
                await upstream.close_clients()
                await send({"type": "lifespan.shutdown.complete"})
                return
