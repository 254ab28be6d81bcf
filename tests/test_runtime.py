"""
The runtime (runtime/README.md): the threads behind a request's synchronous code
(runtime/threads.py) and behind the database work of requests and answers (runtime/database.py).
"""

import asyncio
import http.client
import re
import socket
import threading
import time
from pathlib import Path

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.core.checks import run_checks
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.db import connection
from django.utils.deprecation import MiddlewareMixin

from runtime import internals, tasks
from runtime.asgi import Application
from runtime.database import in_database_thread
from runtime.threads import RequestThread, ThreadPool
from tests.support.fake_upstream import Script
from tests.support.live import LiveClient, read_text


def test_requests_reuse_the_threads_of_earlier_requests(live, owner):
    client = live(owner)
    conversation_id = client.create_conversation()
    seen = threading.local()
    new_threads = []

    def count_new_thread(**kwargs):
        # Django sends request_started in the request's thread.
        if not getattr(seen, "before", False):
            seen.before = True
            new_threads.append(threading.current_thread().name)

    request_started.connect(count_new_thread)
    try:
        for _ in range(20):
            status, _ = client.json("GET", f"/api/chats/{conversation_id}/")
            assert status == 200
    finally:
        request_started.disconnect(count_new_thread)
    # One after another, twenty requests need one thread (and asgiref alone would start 20).
    assert len(new_threads) <= 2, new_threads


def test_a_streaming_answer_holds_no_request_thread(live, owner, upstream):
    gate = Script(tokens=4, hold_at=2)
    upstream.push(gate)
    client = live(owner)
    stream = client.send(client.create_conversation(model="fake-model"), "hold on")
    events = iter(stream)
    read_text(events, "t0 t1 ")
    # The answer is streaming and waits for the provider: its request gave its thread back.
    assert Application.threads.lent == 0
    gate.release.set()
    assert [e.name for e in events][-1] == "done"
    stream.close()


def test_the_pool_keeps_only_so_many_idle_threads():
    pool = ThreadPool(keep=2)
    executors = [pool.take() for _ in range(3)]
    assert len({id(executor) for executor in executors}) == 3 and pool.lent == 3
    for executor in executors:
        pool.give_back(executor)
    assert pool.lent == 0
    # The third was shut down, the two kept are handed out again.
    assert {id(pool.take()), id(pool.take())} == {id(executors[0]), id(executors[1])}
    assert executors[2]._shutdown


def test_database_work_runs_in_the_database_threads_in_arrival_order(transactional_db):
    order = []

    @in_database_thread
    def work(number):
        order.append(number)
        time.sleep(0.02)  # as if waiting on the database: the others arrive meanwhile
        return threading.get_ident()

    async def many():
        return await asyncio.gather(*(work(n) for n in range(10)))

    async def served():
        # As the server runs it: in a request, or in a task a request started.
        return await tasks.start(many())

    threads = asyncio.run(served())
    assert threading.get_ident() not in threads
    if connection.vendor == "sqlite":
        # One writer at a time: one thread, which takes the work as it comes.
        assert len(set(threads)) == 1
        assert order == list(range(10))
    else:
        assert 1 < len(set(threads)) <= 10


def test_outside_the_server_database_work_runs_in_the_calling_thread(db):
    """
    Django's test client and management commands call async code from a thread that may be
    inside a transaction of its own (as this test is): the work must see it.
    """

    @in_database_thread
    def work():
        return threading.get_ident(), connection.in_atomic_block

    thread, in_transaction = async_to_sync(work)()
    assert thread == threading.get_ident() and in_transaction


def test_a_thread_given_back_keeps_no_database_connection(transactional_db):
    pool = ThreadPool(keep=1)

    def leave_a_connection_open():
        connection.ensure_connection()
        return threading.get_ident()

    def connection_is_open():
        return threading.get_ident(), connection.connection is not None

    earlier = RequestThread(pool)
    first_thread = earlier.submit(leave_a_connection_open).result()
    earlier.give_back()
    later = RequestThread(pool)
    thread, still_open = later.submit(connection_is_open).result()
    later.give_back()
    # The same thread, whose connection went back (to the pool, with one) when it was given back.
    assert thread == first_thread and not still_open


def test_the_framework_members_the_runtime_relies_on_are_unchanged():
    """
    runtime/README.md: an upgrade of Django, asgiref, the openai SDK, httpx2 or aiohttp that
    changes a member the runtime overrides or relies on must be read before it is taken.
    """
    changed = []
    for path, known in internals.MEMBERS.items():
        digest = internals.source_hash(path)
        if digest not in known:
            changed.append(f"{path}: {digest} (known: {', '.join(known.values())})")
    assert not changed, "changed since checked (see runtime/README.md, Upgrading):\n" + "\n".join(changed)


class Recording(MiddlewareMixin):
    """A stock-style middleware that remembers the mode Django loaded it in."""

    loaded = []

    def __init__(self, get_response):
        super().__init__(get_response)
        Recording.loaded.append(iscoroutinefunction(self))


def test_the_stock_middleware_chain_is_loaded_as_one_synchronous_pass(settings):
    # Just above the last middleware: if it runs synchronously, so does every one above it.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE[:-1], f"{__name__}.Recording", settings.MIDDLEWARE[-1]]
    ASGIHandler()
    without_the_last = [*settings.MIDDLEWARE[:-1]]
    settings.MIDDLEWARE = without_the_last
    ASGIHandler()
    # In one synchronous pass; without the sync-only last one, hook by hook in async mode.
    assert Recording.loaded[-2:] == [False, True]


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


def test_deploy_checks_still_find_the_security_middleware():
    found = {message.id for message in run_checks(include_deployment_checks=True)}
    assert not found & {"security.W001", "security.W002", "security.W003"}


def test_the_csrf_check_still_refuses_a_post_without_the_token_under_asgi(asgi_server, transactional_db, owner):
    client = LiveClient(asgi_server.url, owner)
    status, body = client.json("POST", "/api/chats/", {}, csrf=False)
    assert status == 403 and "CSRF" in body["error"]
    status, _ = client.json("POST", "/api/chats/", {})
    assert status == 201


def raw_request(port, head, body=b"", *, timeout=5):
    """Send `head` (and `body`) on a new connection; the status line of the answer and its time."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0].decode(), time.monotonic() - started


def test_a_body_larger_than_any_endpoint_takes_is_refused_before_it_is_read(asgi_server, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    # 300 MiB announced, a few bytes sent: the answer comes without waiting for the rest.
    head = (
        b"POST /api/chats/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 314572800\r\n\r\n"
    )
    status, took = raw_request(asgi_server.port, head, b'{"title": "')
    assert status == "HTTP/1.1 413 Request Entity Too Large" or status.startswith("HTTP/1.1 413"), status
    assert took < 2


def test_a_chunked_body_that_grows_past_the_limit_is_refused(asgi_server, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    head = b"POST /api/chats/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 60_000
    body = b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2
    status, _ = raw_request(asgi_server.port, head, body)
    assert status.startswith("HTTP/1.1 413"), status


def test_a_body_within_the_limit_goes_through(live, owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    client = live(owner)
    status, body = client.json("POST", "/api/chats/", {"title": "x" * 150})
    assert status == 201 and body["title"] == "x" * 150
