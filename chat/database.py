"""
The database from async code: the worker threads that run the ORM for the event loop.

Under ASGI the event loop must never wait for the database, so each piece of database work
runs in a worker thread as one unit, and gives its connection back at the end: an answer
streams for minutes, and must hold no connection meanwhile.

On SQLite one thread per process does all of this work. SQLite lets one writer in at a time
and makes the others sleep and retry, and Python runs one thread at a time anyway: with a
thread per request, a writer waiting its turn for the interpreter holds the database lock
while the others back off, and under load the first token of every answer waits for that.
With one thread, a process's database work queues in arrival order and each transaction runs
straight through. PostgreSQL and MySQL queries wait on the network, so there several threads
(DATABASE_THREADS) share the work.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import wraps

from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.db import connection, connections

_executor = None
_executor_lock = threading.Lock()


def executor():
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                threads = settings.DATABASE_THREADS or (1 if connection.vendor == "sqlite" else 10)
                _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="database")
    return _executor


def release_connections():
    """
    Close this thread's database connections (with a pool: hand them back), unless a
    transaction is open on them.
    """
    for wrapper in connections.all(initialized_only=True):
        if not wrapper.in_atomic_block:
            wrapper.close()


def in_database_thread(function):
    """`function` as a coroutine function that runs it in a database thread."""

    @wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            release_connections()

    in_pool = sync_to_async(run, thread_sensitive=False, executor=_Threads())
    in_caller = sync_to_async(run)

    @wraps(function)
    async def hop(*args, **kwargs):
        # Called from synchronous code through async_to_sync (Django's test client, a
        # management command), the work runs in that calling thread, as Django's own
        # sync_to_async does: it may be inside a transaction of that thread.
        if getattr(AsyncToSync.executors, "current", None) is not None:
            return await in_caller(*args, **kwargs)
        return await in_pool(*args, **kwargs)

    return hop


class _Threads:
    """The database threads, as an executor: they are started on first use, once the settings
    and the database are known."""

    def submit(self, *args, **kwargs):
        return executor().submit(*args, **kwargs)
