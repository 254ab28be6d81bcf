"""
The threads that run a request's synchronous code, lent from a pool and given back as soon
as the response starts.

Under ASGI, Django runs each request's synchronous parts (its middleware, signal receivers,
sync views, closing the response) in one thread of the request's own, so that they run in
order and see the same thread-local state (asgiref's ThreadSensitiveContext). By default
asgiref starts a new thread for every request and keeps it until the request ends: starting
it costs a good part of a short request's CPU, and a thousand answers streaming for minutes
would keep a thousand idle threads. Here a request borrows an idle thread when it first runs
synchronous code, gives it back when its response starts (unless the thread holds a database
connection, see RequestThread), and borrows one again to close the response. asgiref's public
`ThreadSensitiveContext(executor=...)` is the hook for this.
"""

import threading
from concurrent.futures import Executor, ThreadPoolExecutor

from django.db import connections


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
    """
    A request's thread: borrowed from the pool at the first call, until given back. It
    notes, after each call, whether the thread was left holding a database connection: a
    pooled connection must not wait in an idle thread, so such a thread stays with its
    request until the response is closed (when Django's request_finished receivers close
    the connection).
    """

    def __init__(self, pool):
        self.pool = pool
        self.executor = None
        self.holds_connection = False

    def submit(self, fn, /, *args, **kwargs):
        if self.executor is None:
            self.executor = self.pool.take()
        return self.executor.submit(self._run, fn, *args, **kwargs)

    def _run(self, fn, /, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            self.holds_connection = any(c.connection is not None for c in connections.all(initialized_only=True))

    def give_back_if_idle(self):
        """Give the thread back unless it holds a database connection."""
        if not self.holds_connection:
            self.give_back()

    def give_back(self):
        if self.executor is not None:
            executor, self.executor = self.executor, None
            if self.holds_connection:
                # Normally closed by request_finished; a request that ended otherwise must not
                # leave its connection in an idle thread. Runs before any later request's work.
                executor.submit(close_connections)
                self.holds_connection = False
            self.pool.give_back(executor)


def close_connections():
    for connection in connections.all(initialized_only=True):
        connection.close()
