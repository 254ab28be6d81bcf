import os

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.support import canary, servers
from tests.support.browser import browser, make_page  # noqa: F401  (fixtures of the browser tests)
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.live import LiveClient
from tests.support.servers import ThreadedUvicorn, collect_static, production_env, wait_until_idle


@pytest.fixture(scope="session", autouse=True)
def canary_key(tmp_path_factory):
    """
    The suite's API key is a canary (tests/support/canary.py): the session fails at its end
    if any response, log line or saved message of it carried the key, in any spelling.
    """
    from django.db.models.signals import post_save

    from chat.models import Message

    found = tmp_path_factory.mktemp("canary") / "found.txt"
    found.touch()
    os.environ["CANARY_FOUND"] = str(found)
    post_save.connect(canary.saved_message, sender=Message)
    yield canary.KEY
    post_save.disconnect(canary.saved_message, sender=Message)
    leaks = found.read_text(encoding="utf-8")
    assert not leaks, f"the API key reached what the product sends or writes:\n{leaks}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before its fixtures: a server of a slow tier (gunicorn, nginx) refuses to start for a
    # test not marked with it (tests/support/servers.py).
    servers.running_test_markers = {marker.name for marker in item.iter_markers()}


@pytest.fixture(autouse=True)
def fresh_catalogue():
    """
    The models offered and the allowances are read again in each test: a test's providers,
    models and allowances go with its database rollback, which sends no signal the caches
    would notice.
    """
    from chat import catalogue, limits

    catalogue.reset()
    limits.reset()  # the allowances, cached in the same way
    yield
    catalogue.reset()
    limits.reset()


@pytest.fixture(autouse=True)
def language_of_the_settings():
    """
    Each test begins in the settings' language: a request of the test client in another
    (Accept-Language) leaves its language active in the test's thread (LocaleMiddleware
    activates it and nothing deactivates it), where the next test's own calls would speak it.
    """
    from django.utils import translation

    translation.deactivate()
    yield


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test's uploads in a folder of its own (the `default` storage is MEDIA_ROOT's)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def warm_catalogue(db):
    """
    The models offered, built already, as in a server up for a moment: a request's queries
    are counted without the catalogue's build, which a process makes once every few seconds.
    """
    from chat import catalogue

    return catalogue.current()


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


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """What `manage.py collectstatic`, a step of every deployment, makes (production settings)."""
    return collect_static(tmp_path_factory.mktemp("static"), production_env())


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


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = ThreadedUvicorn().start()
    yield server
    server.stop()


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
