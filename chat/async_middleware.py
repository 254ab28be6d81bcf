"""
Middleware that runs on the event loop under ASGI.

Django runs a middleware that is not async-capable by hopping to a thread and back for each of
its hooks, for every request: about 150 µs of CPU per hop on the benchmark machine, and under
load each hop also waits its turn for the GIL, which delays the first token of every answer.
The stock middleware below only read and write headers and cookies (the session, the user and
the messages are loaded lazily, by whoever uses them), so these subclasses call their hooks
directly on the loop, and hop to a thread only in the cases that touch the database.

WhiteNoise's middleware is sync-only, so under ASGI it would wrap the rest of the chain in a
thread hop (sync_to_async around it, async_to_sync inside it); its subclass here looks up
static files on the loop and only opens them in a thread.

settings.MIDDLEWARE keeps the stock names (`manage.py check --deploy` looks for some of them
by name); chatproject/asgi.py builds its handler with on_event_loop(settings.MIDDLEWARE).
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, locale, security
from whitenoise import middleware as whitenoise

from chat.database import release_connections


class OnEventLoop:
    """For a MiddlewareMixin whose hooks do no I/O (unless `response_needs_thread()` says so)."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode and hasattr(self, "process_view"):
            # Django calls process_view itself, through a thread hop unless it is a coroutine.
            self.process_view = self._process_view_on_loop

    async def _process_view_on_loop(self, request, view, args, kwargs):
        return type(self).process_view(self, request, view, args, kwargs)

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self._process_response_in_thread)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def _process_response_in_thread(self, request, response):
        try:
            return self.process_response(request, response)
        finally:
            # A streamed answer goes on long after this: it must not keep the connection.
            release_connections()

    def response_needs_thread(self, request, response):
        return False


class SecurityMiddleware(OnEventLoop, security.SecurityMiddleware):
    pass


class CsrfViewMiddleware(OnEventLoop, csrf.CsrfViewMiddleware):
    # The token is in a cookie (with CSRF_USE_SESSIONS it would be in the session, and
    # on_event_loop() keeps Django's own). A form's body was read before the view is called.
    pass


class XFrameOptionsMiddleware(OnEventLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class SessionMiddleware(OnEventLoop, sessions.SessionMiddleware):
    def response_needs_thread(self, request, response):
        # Saving the session writes to the database; otherwise only the cookie is touched.
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(OnEventLoop, locale.LocaleMiddleware):
    # Activating a language reads its catalogues from disk once per process, then from memory.
    pass


class CommonMiddleware(OnEventLoop, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(OnEventLoop, auth.AuthenticationMiddleware):
    # request.user and request.auser() are lazy: the user is loaded by the view that needs it.
    pass


class MessageMiddleware(OnEventLoop, messages.MessageMiddleware):
    def response_needs_thread(self, request, response):
        # Storing messages may load and write the session.
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class WhiteNoiseMiddleware(whitenoise.WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            # Development: each request looks on disk.
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)


_ON_EVENT_LOOP = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "whitenoise.middleware.WhiteNoiseMiddleware": WhiteNoiseMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware": SessionMiddleware,
    "django.middleware.locale.LocaleMiddleware": LocaleMiddleware,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": CsrfViewMiddleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": AuthenticationMiddleware,
    "django.contrib.messages.middleware.MessageMiddleware": MessageMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}


def on_event_loop(middleware):
    """The MIDDLEWARE list with the stock middleware named above replaced by these subclasses."""
    replaced = []
    for path in middleware:
        if path == "django.middleware.csrf.CsrfViewMiddleware" and settings.CSRF_USE_SESSIONS:
            replaced.append(path)
        elif path in _ON_EVENT_LOOP:
            cls = _ON_EVENT_LOOP[path]
            replaced.append(f"{cls.__module__}.{cls.__qualname__}")
        else:
            replaced.append(path)
    return replaced
