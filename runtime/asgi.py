"""
The ASGI application the server runs: Django's, wrapped for long streams.

- Each HTTP request borrows a thread for its synchronous code from a pool, and gives it back
  when its response starts (runtime.threads): a streaming answer holds no thread.
- The database work of requests and of the tasks they start runs in the database threads
  (runtime.database).
- The lifespan protocol is answered with the product's hooks (runtime.lifespan).
"""

from asgiref.sync import ThreadSensitiveContext

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
        thread = RequestThread(self.threads)

        async def send_and_give_back(message):
            if message["type"] == "http.response.start":
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
        finally:
            thread.give_back()
