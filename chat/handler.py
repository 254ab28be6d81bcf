"""
Django's ASGI handler, with the threads that run a request's synchronous code reused, and not
held by a response while it streams.

Under ASGI, Django runs each request's synchronous parts (signal receivers, sync views and
middleware, closing the response) in a thread of the request's own, so that they run in order
and see the same thread-local state (asgiref's ThreadSensitiveContext). asgiref starts a new
thread for every request and keeps it until the request ends: for a chat turn, starting it
costs a good part of the request's CPU, and a thousand answers streaming at once would keep a
thousand threads. Here a request borrows an idle thread when it runs synchronous code, keeps
it until its response starts streaming, and borrows one again to close the response.
"""

import contextvars
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import aclosing

from asgiref.sync import ThreadSensitiveContext
from django.core import signals
from django.core.handlers import asgi
from django.db import close_old_connections, reset_queries


class ThreadPool:
    """Idle single-thread executors, at most `keep` of them."""

    def __init__(self, keep):
        self.keep = keep
        self.lent = 0
        self._idle = []
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            self.lent += 1
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor):
        with self._lock:
            self.lent -= 1
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)


class RequestThread(Executor):
    """A request's thread: borrowed from the pool on the first call, until given back."""

    def __init__(self, pool):
        self.pool = pool
        self.executor = None

    def submit(self, fn, /, *args, **kwargs):
        if self.executor is None:
            self.executor = self.pool.take()
            # A thread lent anew may come with what an earlier request left in it.
            return self.executor.submit(_tidied, fn, *args, **kwargs)
        return self.executor.submit(fn, *args, **kwargs)

    def give_back(self):
        if self.executor is not None:
            self.pool.give_back(self.executor)
            self.executor = None


def _tidied(fn, /, *args, **kwargs):
    """fn(), after what Django's request_started receivers do for the request's thread."""
    reset_queries()
    close_old_connections()
    return fn(*args, **kwargs)


def tidy_threads_when_lent():
    """
    Tidy a request's thread when it is lent (RequestThread.submit) instead of in Django's
    request_started receivers, which cost every request a thread hop of its own at its start
    (about 150 µs of CPU here), whether or not it runs any synchronous code. Both receivers
    only tidy the database connections of the current thread. Called by chatproject/asgi.py;
    the receivers of request_finished stay: they close what the request opened.
    """
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)


_request_thread = contextvars.ContextVar("request_thread")


class ASGIHandler(asgi.ASGIHandler):
    # Enough for the requests that run synchronous code at one moment; a burst beyond it
    # starts threads as Django would, and lets them go afterwards.
    threads = ThreadPool(keep=64)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        thread = RequestThread(self.threads)
        token = _request_thread.set(thread)
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            _request_thread.reset(token)
            thread.give_back()

    async def send_response(self, response, send):
        if response.streaming and (thread := _request_thread.get(None)):
            # The view and the middleware are done with it, and a stream (an answer, for
            # minutes) runs no synchronous code of the request's.
            thread.give_back()
        events = getattr(response, "events", None)
        if events is None or getattr(response, "_iterator", None) is not events:
            return await super().send_response(response, send)
        # An event stream of chat.sse: Django's send_response, without the three layers of
        # generators it puts around each piece of a streaming response (which it needs for
        # sync iterators and str pieces) and which cost a few microseconds for every token.
        headers = [(header.encode("ascii"), value.encode("latin1")) for header, value in response.items()]
        headers += [(b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with aclosing(events):
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})
