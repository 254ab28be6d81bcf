"""The middleware chain under ASGI: on the event loop, and still doing its job."""

import asyncio
import http.client
import re
import threading
from pathlib import Path

import pytest
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.checks import run_checks
from django.http import HttpResponse
from django.test import RequestFactory

from chat import async_middleware

ON_LOOP = [
    async_middleware.SecurityMiddleware,
    async_middleware.SessionMiddleware,
    async_middleware.LocaleMiddleware,
    async_middleware.CommonMiddleware,
    async_middleware.AuthenticationMiddleware,
    async_middleware.MessageMiddleware,
    async_middleware.XFrameOptionsMiddleware,
]


def _run_chain(classes, view, request):
    """The given middleware around an async view, as Django's ASGI handler chains them."""
    handler = view
    for cls in reversed(classes):
        handler = cls(handler)
    assert iscoroutinefunction(handler)
    return asyncio.run(handler(request))


def _recording(cls, threads):
    """`cls`, noting the thread each of its hooks runs in."""

    def record(name):
        def hook(self, *args):
            threads.append(threading.get_ident())
            return getattr(cls, name)(self, *args)

        return hook

    hooks = {name: record(name) for name in ("process_request", "process_response") if hasattr(cls, name)}
    return type(f"Recording{cls.__name__}", (cls,), hooks)


def test_hooks_that_need_no_database_run_on_the_event_loop_thread():
    threads = []

    async def view(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/api/chats/", HTTP_HOST="127.0.0.1")
    response = _run_chain([_recording(cls, threads) for cls in ON_LOOP], view, request)
    assert response.status_code == 200
    hooks = sum(hasattr(cls, "process_request") + hasattr(cls, "process_response") for cls in ON_LOOP)
    assert len(threads) == hooks and set(threads) == {threading.get_ident()}


@pytest.mark.django_db(transaction=True)
def test_saving_a_session_and_storing_messages_leave_the_event_loop():
    threads = []

    async def view(request):
        request.session["seen"] = True  # loads the (empty) session and marks it modified
        request._messages.add(20, "Saved.")
        return HttpResponse("ok")

    chain = [_recording(async_middleware.SessionMiddleware, threads), async_middleware.MessageMiddleware]
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1")
    response = _run_chain(chain, view, request)
    # On the loop, the save would have raised SynchronousOnlyOperation.
    assert response.cookies[settings.SESSION_COOKIE_NAME].value
    assert threads[0] == threading.get_ident() and threads[1] != threading.get_ident()
    assert [str(m) for m in get_messages(_with_cookies(response))] == ["Saved."]


def _with_cookies(response):
    request = RequestFactory().get("/")
    request.COOKIES = {name: morsel.value for name, morsel in response.cookies.items()}
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request._messages = FallbackStorage(request)
    return request


def test_a_sync_chain_still_works_as_before():
    def view(request):
        return HttpResponse("ok")

    handler = view
    for cls in reversed(ON_LOOP):
        handler = cls(handler)
    assert not iscoroutinefunction(handler)
    assert handler(RequestFactory().get("/api/chats/", HTTP_HOST="127.0.0.1")).status_code == 200


def test_the_login_form_works_under_asgi(asgi_server, transactional_db, owner):
    connection = http.client.HTTPConnection("127.0.0.1", asgi_server.port, timeout=10)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    page = response.read().decode()
    csrf_cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    connection.request(
        "POST",
        "/accounts/login/",
        body=f"username=owner&password=owner-password&csrfmiddlewaretoken={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": csrf_cookie},
    )
    response = connection.getresponse()
    response.read()
    cookies = [value.split(";")[0] for name, value in response.getheaders() if name.lower() == "set-cookie"]
    session = next(c for c in cookies if c.startswith(f"{settings.SESSION_COOKIE_NAME}="))
    assert response.status == 302
    connection.request("GET", "/", headers={"Cookie": session})
    response = connection.getresponse()
    assert response.status == 200 and "owner" in response.read().decode()


def test_static_files_are_served_under_asgi(asgi_server):
    connection = http.client.HTTPConnection("127.0.0.1", asgi_server.port, timeout=10)
    connection.request("GET", "/static/chat/chat.css")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == (Path(settings.BASE_DIR) / "static" / "chat" / "chat.css").read_bytes()
    connection.request("GET", "/static/chat/no-such-file.css")
    response = connection.getresponse()
    response.read()
    assert response.status == 404


def test_the_asgi_handler_runs_every_stock_middleware_on_the_loop_and_keeps_the_order():
    replaced = async_middleware.on_event_loop(settings.MIDDLEWARE)
    assert len(replaced) == len(settings.MIDDLEWARE)
    assert [path for path in replaced if not path.startswith("chat.")] == []
    assert replaced.index("chat.async_middleware.SessionMiddleware") < replaced.index(
        "chat.async_middleware.AuthenticationMiddleware"
    )


def test_csrf_in_the_session_keeps_djangos_own_middleware(settings):
    settings.CSRF_USE_SESSIONS = True
    assert "django.middleware.csrf.CsrfViewMiddleware" in async_middleware.on_event_loop(settings.MIDDLEWARE)


def test_deploy_checks_still_find_the_security_middleware():
    found = {message.id for message in run_checks(include_deployment_checks=True)}
    assert not found & {"security.W001", "security.W002", "security.W003"}


def test_the_csrf_check_still_refuses_a_post_without_the_token_under_asgi(asgi_server, transactional_db, owner):
    from tests.live import LiveClient

    client = LiveClient(asgi_server.url, owner)
    status, body = client.json("POST", "/api/chats/", {}, csrf=False)
    assert status == 403 and "CSRF" in body["error"]
    status, _ = client.json("POST", "/api/chats/", {})
    assert status == 201
