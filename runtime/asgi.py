"""
The ASGI application the server runs: Django's, wrapped for long streams.

- Each HTTP request borrows a thread for its synchronous code from a pool, and gives it back
  when its response starts (runtime.threads): a streaming answer holds no thread.
- The database work of requests and of the tasks they start runs in the database threads
  (runtime.database).
- The lifespan protocol is answered with the product's hooks (runtime.lifespan).
- A request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused (413) before it is read:
  Django reads the whole body of every request, on the event loop, before any of its limits
  applies, and would read hundreds of megabytes for nobody. The paths that take files may
  have larger limits of their own (settings.UPLOAD_BODY_LIMITS: {path: bytes}); Django leaves
  a multipart body's files out of its own limit.
"""

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings

from runtime.database import use_database_threads
from runtime.lifespan import Lifespan
from runtime.threads import RequestThread, ThreadPool


class Application:
    # Enough for the requests that run synchronous code at one moment; a burst beyond it
    # starts threads as asgiref would, and lets them go afterwards.
    threads = ThreadPool(keep=64)

    def __init__(self, django_application, *, on_startup=(), on_stop_signal=(), on_shutdown=()):
        self.django_application = django_application
        self.lifespan = Lifespan(on_startup=on_startup, on_stop_signal=on_stop_signal, on_shutdown=on_shutdown)

    async def __call__(self, scope, receive, send):
        use_database_threads()
        if scope["type"] == "lifespan":
            return await self.lifespan(scope, receive, send)
        if scope["type"] != "http":
            return await self.django_application(scope, receive, send)
        limit = body_limit(scope["path"])
        if limit is not None:
            if declared_length(scope) > limit:
                return await refuse_as_too_large(send)
            receive = BodyLimit(receive, limit)
        thread = RequestThread(self.threads)
        started = False

        async def send_and_give_back(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # The response is made: the middleware and the view are done with the thread.
                # A streamed answer runs none of the request's synchronous code for minutes;
                # closing the response borrows a thread again.
                thread.give_back_if_idle()
            await send(message)

        try:
            # The outermost ThreadSensitiveContext decides (Django's own inside it is then a
            # no-op): the request's synchronous code runs in the lent thread.
            async with ThreadSensitiveContext(executor=thread):
                await self.django_application(scope, receive, send_and_give_back)
            if limit is not None and receive.exceeded and not started:
                await refuse_as_too_large(send)
        finally:
            thread.give_back()


def body_limit(path):
    """The largest body taken at `path`: its own (UPLOAD_BODY_LIMITS), else DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None:
        return None
    return getattr(settings, "UPLOAD_BODY_LIMITS", {}).get(path, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def declared_length(scope):
    """The request's Content-Length, 0 when it has none (or one that is no number)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


class BodyLimit:
    """
    The ASGI receive of a request, which ends the request (as a client that went away would:
    Django stops reading it) once its body grows past `limit` bytes: a chunked body has no
    Content-Length to check first.
    """

    def __init__(self, receive, limit):
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.exceeded = False

    async def __call__(self):
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                return {"type": "http.disconnect"}
        return message


async def refuse_as_too_large(send):
    body = b'{"error": "The request is too large."}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
