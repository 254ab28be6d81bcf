import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from django.contrib.auth import get_user_model
from django.test import Client

from tests.browser import browser, make_page  # noqa: F401  (fixtures of the browser tests)
from tests.fake_upstream import FakeUpstream, Script
from tests.live import LiveClient


@pytest.fixture(scope="session")
def fake_upstream_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(fake_upstream_server, settings):
    """The fake provider, reset, with the product's settings pointing at it."""
    fake_upstream_server.reset()
    settings.OPENAI_BASE_URL = fake_upstream_server.base_url
    yield fake_upstream_server
    # Let nothing queued leak into the next test.
    for script in fake_upstream_server.scripts:
        script.release.set()
    fake_upstream_server.reset()


@pytest.fixture
def script():
    return Script


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="owner-password")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", password="outsider-password")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(outsider):
    client = Client()
    client.force_login(outsider)
    return client


class ThreadedUvicorn:
    """The ASGI application under a real uvicorn server, in a thread of the test process."""

    def __init__(self):
        from chatproject.asgi import application

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        self.application = application
        config = uvicorn.Config(application, lifespan="on", log_level="warning", loop="asyncio", http="h11")
        self.server = uvicorn.Server(config)
        self.loop = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="uvicorn")

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self._socket]))

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        # The start-up's second look for abandoned answers (chat.relay.on_startup) would come half
        # a minute later, in whatever test runs then and against its database: not here.
        from chat import relay

        self.loop.call_soon_threadsafe(relay.stop_watching)
        return self

    def stop(self):
        self.server.should_exit = True
        self._thread.join(10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = ThreadedUvicorn().start()
    yield server
    server.stop()


def wait_until_idle(timeout=10):
    """Wait for every answer generated in this process to be finished and saved."""
    from chat.relay import generator

    deadline = time.monotonic() + timeout
    while generator.answers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not generator.answers, "answers still generating"


@pytest.fixture
def live(asgi_server, transactional_db, upstream):
    """Makes LiveClients logged in as a given user, talking to the live ASGI server."""

    def make(user=None):
        return LiveClient(asgi_server.url, user)

    yield make
    # Answers of this test must not write into the next test's database.
    for script in upstream.scripts:
        script.release.set()
    from chat.relay import generator

    for answer in list(generator.answers.values()):
        asgi_server.loop.call_soon_threadsafe(answer.stop)
    wait_until_idle()


@pytest.fixture
def make_user():
    def make(username, password="password-123"):
        return get_user_model().objects.create_user(username, password=password)

    return make
