"""
The database from async code: the threads that run the ORM for the event loop.

Under ASGI the event loop must never wait for the database, so each piece of database work
runs in a worker thread as one unit, and gives its connection back at the end: an answer
streams for minutes, and must hold no connection meanwhile. `in_database_thread` is the one
way the product runs database work from async code (as Channels' database_sync_to_async).

On SQLite one thread per process does all of this work. SQLite lets one writer in at a time
and makes the others sleep and retry, and Python runs one thread at a time anyway: with a
thread per request, a writer waiting its turn for the interpreter holds the database lock
while the others back off, and under load the first token of every answer waits for that.
With one thread, a process's database work queues in arrival order and each transaction runs
straight through. PostgreSQL and MySQL queries wait on the network, so there several threads
(DATABASE_THREADS) share the work.

The database threads serve the code that runs under the server (runtime.asgi marks each
request's context, runtime.tasks each background task's). Anywhere else (Django's test client,
a management command, a shell) the work runs where Django's own sync_to_async would run it:
in the calling thread, which may be inside a transaction of its own.
"""

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import wraps

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

_executor = None
_executor_lock = threading.Lock()
_served = contextvars.ContextVar("served_by_the_runtime", default=False)


def executor():
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                threads = settings.DATABASE_THREADS or (1 if connection.vendor == "sqlite" else 10)
                _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="database")
    return _executor


def use_database_threads():
    """From now on in this context, in_database_thread() runs its work in the database threads."""
    _served.set(True)


def release_connections():
    """
    Close this thread's database connections (with a pool: hand them back), unless a
    transaction is open on them.
    """
    for wrapper in connections.all(initialized_only=True):
        if not wrapper.in_atomic_block:
            wrapper.close()


def in_database_thread(function):
    """`function` as a coroutine function that runs it, as one unit, in a database thread."""

    @wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            release_connections()

    in_threads = sync_to_async(run, thread_sensitive=False, executor=_DatabaseThreads())
    in_caller = sync_to_async(run)

    @wraps(function)
    async def hop(*args, **kwargs):
        if _served.get():
            return await in_threads(*args, **kwargs)
        return await in_caller(*args, **kwargs)

    return hop


class _DatabaseThreads:
    """The database threads, as an executor: started on first use, once the settings and the
    database are known."""

    def submit(self, *args, **kwargs):
        return executor().submit(*args, **kwargs)
