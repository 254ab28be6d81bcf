"""Tasks that outlive the request that started them: answers, their saves, pub/sub listeners."""

import asyncio
import contextvars

from runtime.database import use_database_threads


def start(coroutine):
    """
    Run `coroutine` as a task of its own, in a fresh context: it must not inherit the request's
    thread for synchronous code (asgiref's ThreadSensitiveContext lives in the context, and
    ends with the request), nor anything else of the request's. Its database work goes to the
    database threads.
    """
    context = contextvars.Context()
    context.run(use_database_threads)
    return asyncio.get_running_loop().create_task(coroutine, context=context)
