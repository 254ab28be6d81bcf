"""
Through Debian's nginx in front of the real gunicorn, configured as servers have it: BaoTa's
http-wide cache and 60 s read timeout with the panel's cache switch on, BaoTa with
deploy/nginx/baota-proxy-snippet.conf pasted in, plain nginx with deploy/nginx/chat.conf, and
an nginx that compresses every type.

Measured here with nginx 1.22: proxy buffering alone passes small chunks on at once; gzip
together with buffering holds a stream to its end; and nginx keeps per-user copies apart by
the app's `Vary: Cookie`, but stores them, so one user can get a stale copy of their own data.
The app's X-Accel-Buffering and X-Accel-Expires headers are what the tests below rely on.
"""

import json

import pytest

from tests.support.fake_upstream import Script
from tests.support.live import LiveClient
from tests.support.nginx import Nginx, baota_site, custom_site, debian_site
from tests.support.servers import Gunicorn, get, production_env

pytestmark = [pytest.mark.gunicorn, pytest.mark.nginx]

# BaoTa cuts a connection silent for 60 s; here for READ_TIMEOUT, to keep the tests fast. The
# app's heartbeat is shortened in proportion.
READ_TIMEOUT = 2
HEARTBEAT = 0.5


@pytest.fixture(scope="module")
def app(django_db_setup, fake_upstream_server, static_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx-app")
    env = production_env(
        OPENAI_BASE_URL=fake_upstream_server.base_url,
        STATIC_ROOT=static_root,
        SSE_HEARTBEAT_SECONDS=HEARTBEAT,
    )
    server = Gunicorn(env, tmp / "gunicorn.log").start()
    yield server
    server.stop()


SITES = {
    "baota-cache-switch-on": lambda port: baota_site(port, read_timeout=f"{READ_TIMEOUT}s"),
    "baota-with-snippet": lambda port: baota_site(port, read_timeout=f"{READ_TIMEOUT}s", snippet=True),
    "debian-chat-conf": debian_site,
    # nginx set to compress every type, as some tuning guides do, with a plain proxy: gzip and
    # proxy buffering together hold a stream back unless the app's X-Accel-Buffering: no is
    # obeyed.
    "gzip-every-type": lambda port: custom_site(port, http="gzip on; gzip_types *;"),
}


@pytest.fixture(scope="module", params=list(SITES))
def proxy(request, app, tmp_path_factory):
    nginx = Nginx(tmp_path_factory.mktemp(request.param), SITES[request.param](app.port)).start()
    nginx.site = request.param
    yield nginx
    nginx.stop()


@pytest.fixture
def baota(app, tmp_path):
    """BaoTa as the panel leaves it with the cache switch on: the hardest case for the app."""
    nginx = Nginx(tmp_path, baota_site(app.port, read_timeout=f"{READ_TIMEOUT}s")).start()
    yield nginx
    nginx.stop()


def test_an_answer_streams_live_through_nginx(proxy, live, owner, upstream):
    upstream.push(Script(tokens=5, interval=0.4))
    client = LiveClient(proxy.url, owner)
    conversation_id = client.create_conversation(model="fake-model")
    # As a browser asks: compressed if the server likes.
    stream = client.open(
        "POST", f"/api/chats/{conversation_id}/messages/", {"content": "hello"}, {"Accept-Encoding": "gzip"}
    )
    assert stream.status == 200
    deltas = []
    for event in stream:
        if event.name == "delta":
            if not deltas:
                # The first piece is already in the browser while the provider is still sending.
                assert not upstream.streamed_requests[0].finished
            deltas.append(event)
        last = event
    stream.close()
    assert last.name == "done" and last.data["status"] == "complete"
    assert "".join(d.data["content"] for d in deltas) == "t0 t1 t2 t3 t4 "
    assert len(deltas) >= 3 and deltas[-1].at - deltas[0].at >= 0.8


def test_a_stream_survives_a_silence_longer_than_the_proxy_read_timeout(baota, live, owner, upstream):
    # The model thinks longer than nginx waits for a byte; heartbeats keep the stream open.
    upstream.push(Script(tokens=2, first_delay=READ_TIMEOUT + 1.5))
    client = LiveClient(baota.url, owner)
    stream = client.send(client.create_conversation(model="fake-model"), "think hard")
    events = stream.events()
    stream.close()
    assert events[-1].name == "done", f"the stream was cut: {events}"
    assert "".join(e.data["content"] for e in events if e.name == "delta") == "t0 t1 "
    assert len(stream.comments) >= 2


def test_a_second_user_never_receives_the_first_users_cached_responses(proxy, live, owner, outsider):
    alice, bob = LiveClient(proxy.url, owner), LiveClient(proxy.url, outsider)
    conversation_id = alice.create_conversation(title="Alice's secret plan")
    bob.create_conversation(title="Bob's shopping list")

    # The same URL, one after the other: BaoTa's cache key ($host$uri$is_args$args) is the same.
    assert _titles(alice) == ["Alice's secret plan"]
    assert _titles(bob) == ["Bob's shopping list"]
    assert _titles(alice) == ["Alice's secret plan"]

    status, alices_page = _page(alice, f"/c/{conversation_id}/")
    assert status == 200 and b'"username": "owner"' in alices_page
    assert _page(bob, f"/c/{conversation_id}/")[0] == 404
    assert _page(alice, "/")[0] == 200
    status, bobs_page = _page(bob, "/")
    assert status == 200 and b'"owner"' not in bobs_page and b'"username": "outsider"' in bobs_page
    assert _page(bob, f"/api/chats/{conversation_id}/")[0] == 404

    # Nor does anyone get a stale copy of their own data...
    alice.create_conversation(title="Alice's second plan")
    assert _titles(alice) == ["Alice's second plan", "Alice's secret plan"]
    # ...and nothing private is written to the shared cache on disk at all.
    cached = b"".join(path.read_bytes() for path in proxy.prefix.rglob("*") if path.is_file() and "cache" in str(path))
    assert b"secret plan" not in cached and b"owner" not in cached


def _titles(client):
    status, headers, body = _request(client, "/api/chats/")
    assert status == 200, body
    return [c["title"] for c in json.loads(body)["results"]]


def _request(client, path):
    page = client.open("GET", path)
    try:
        body = page.response.read()
        assert page.headers.get("x-cache") != "HIT", f"{path} came from the cache"
        return page.status, page.headers, body
    finally:
        page.close()


def _page(client, path):
    status, _, body = _request(client, path)
    return status, body


def test_the_baota_cache_really_caches_what_the_app_does_not_mark_private(baota):
    """The control for the test above: static files, which may be cached, are."""
    first, second = (get(baota.port, "/static/chat/chat.css")[1] for _ in range(2))
    assert first["x-cache"] == "MISS" and second["x-cache"] == "HIT"
    first, second = (get(baota.port, "/accounts/login/")[1] for _ in range(2))
    assert first["x-cache"] != "HIT" and second["x-cache"] != "HIT"
