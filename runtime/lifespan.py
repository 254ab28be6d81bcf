"""
The ASGI lifespan protocol, which Django does not speak: uvicorn sends `startup` when a worker
starts and `shutdown` when it stops gracefully (SIGTERM, a reload).

Three kinds of hooks, each a coroutine function or a plain function:
- on_startup: before the worker accepts requests. A hook that fails is logged and the worker
  starts anyway: a database that is down at start-up must not keep the server from starting
  (it may come up later, and /healthz reports it).
- on_stop_signal: at SIGTERM or SIGINT itself, right after the server's own handler (which
  stops accepting connections). uvicorn sends the lifespan `shutdown` only once every open
  response has ended, and a stream that follows an answer ends only with the answer: work
  that must start when the stop is asked for (draining the answers) goes here.
- on_shutdown: at the lifespan `shutdown`, once the responses have ended.
"""

import asyncio
import inspect
import logging
import signal
import threading

logger = logging.getLogger(__name__)


async def _call(hook):
    result = hook()
    if inspect.isawaitable(result):
        await result


class Lifespan:
    def __init__(self, *, on_startup=(), on_stop_signal=(), on_shutdown=()):
        self.on_startup = list(on_startup)
        self.on_stop_signal = list(on_stop_signal)
        self.on_shutdown = list(on_shutdown)

    async def __call__(self, scope, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self.on_startup:
                    try:
                        await _call(hook)
                    except Exception as exc:
                        logger.warning("start-up: %s failed: %r", getattr(hook, "__qualname__", hook), exc)
                self._hook_stop_signals()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    try:
                        await _call(hook)
                    except Exception:
                        logger.exception("shutdown: %s failed", getattr(hook, "__qualname__", hook))
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _hook_stop_signals(self):
        if not self.on_stop_signal or threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread; a server in a thread has none
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            server_handler = signal.getsignal(signum)
            if not callable(server_handler):
                continue

            def handler(signum, frame, server_handler=server_handler):
                server_handler(signum, frame)
                for hook in self.on_stop_signal:
                    loop.call_soon_threadsafe(hook)

            signal.signal(signum, handler)
