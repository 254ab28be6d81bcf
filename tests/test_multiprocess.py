"""
Two real server processes share one database: a stop request or a reloaded page that lands
on the process that does not generate the answer still works, through the database, and
through Redis when REDIS_URL is set (then at once: the database is polled only every 30 s),
and through the database again when that Redis is down.
"""

import os
import socket
import time
import uuid

import pytest
import redis

from chat.models import Conversation, Message
from tests.support.live import LiveClient, read_until, text_of
from tests.support.servers import Gunicorn, env_with_test_settings

pytestmark = pytest.mark.gunicorn

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_settings():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"these tests need Redis at {REDIS_URL} (set TEST_REDIS_URL): {exc}")
    return {
        "REDIS_URL": REDIS_URL,
        # Channels of this run only: other runs may share the Redis.
        "REDIS_PREFIX": f"test-{uuid.uuid4().hex}:",
        # Slow enough that only Redis can make a stop or a stream prompt.
        "CHAT_STOP_POLL_INTERVAL": 30,
        "CHAT_SAVE_INTERVAL": 30,
        "CHAT_ABANDONED_SECONDS": 300,
    }


def unreachable_redis_settings():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    return {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}


@pytest.fixture(scope="module", params=["database", "redis", "redis-down"])
def processes(request, django_db_setup, fake_upstream_server, tmp_path_factory):
    """
    Two server processes: the first generates the answers, the second is the other one.
    With Redis configured but down, everything still works through the database.
    """
    settings = {"database": dict, "redis": redis_settings, "redis-down": unreachable_redis_settings}[request.param]()
    logs = tmp_path_factory.mktemp(f"servers-{request.param}")
    servers = []
    try:
        for name in ("generating", "other"):
            servers.append(
                Gunicorn(env_with_test_settings(fake_upstream_server, **settings), logs / f"{name}.log").start()
            )
        yield request.param, servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def clients(processes, transactional_db, upstream, owner):
    mode, generating, other = processes
    yield mode, LiveClient(generating.url, owner), LiveClient(other.url, owner)
    # Nothing of this test may still be generated when the next one starts.
    for script in upstream.scripts:
        script.release.set()
    for script in [upstream.default]:
        script.release.set()
    deadline = time.monotonic() + 10
    while Message.objects.filter(status="streaming").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_stop_through_the_other_process_closes_the_upstream_request(clients, upstream, script):
    mode, generating, other = clients
    upstream.push(script(tokens=30, hold_at=3))
    stream = generating.send(generating.create_conversation(), "Tell me a long story")
    events = iter(stream)
    meta = next(events)
    message_id = meta.data["assistant_message_id"]
    received = read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    follower = other.open("GET", f"/api/messages/{message_id}/stream/")
    followed = iter(follower)
    assert next(followed).name == "meta"
    # Past the generating process's first look at the database for stop requests.
    time.sleep(0.5)

    asked = time.monotonic()
    status, body = other.json("POST", f"/api/messages/{message_id}/stop/")
    assert (status, body) == (200, {"id": message_id, "status": "stopped"})
    upstream.assert_closed_early(asked, within=1.0, timeout=5)

    rest = list(events)
    stream.close()
    assert rest[-1].name == "done" and rest[-1].data["status"] == "stopped"
    assert text_of(received + rest) == "t0 t1 t2 "
    answer = Message.objects.get(pk=message_id)
    assert (answer.status, answer.content) == ("stopped", "t0 t1 t2 ")
    assert answer.duration_ms is not None
    # The stream on the other process ends the same way, with all the text and no more.
    tail = list(followed)
    follower.close()
    assert tail[-1].name == "done" and tail[-1].data["status"] == "stopped"
    assert text_of(tail) == "t0 t1 t2 "
    # Again: nothing changes.
    assert other.json("POST", f"/api/messages/{message_id}/stop/") == (200, {"id": message_id, "status": "stopped"})


def test_reload_on_the_other_process_replays_and_follows_live(clients, upstream, script):
    mode, generating, other = clients
    upstream.push(held := script(tokens=12, hold_at=3, interval=0.1))
    stream = generating.send(generating.create_conversation(), "Tell me a long story")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")

    follower = other.open("GET", f"/api/messages/{message_id}/stream/")
    followed = iter(follower)
    assert next(followed).name == "meta"
    held.release.set()
    seen = read_until(followed, lambda seen: "t5 " in text_of(seen))
    if mode == "redis":
        # Live through Redis: the database has not been given this text yet.
        assert "t5" not in Message.objects.get(pk=message_id).content
    seen += list(followed)
    follower.close()
    list(events)
    stream.close()
    full = "".join(f"t{i} " for i in range(12))
    assert seen[-1].name == "done" and seen[-1].data["status"] == "complete"
    assert seen[-1].data["usage"] == {"prompt_tokens": 11, "completion_tokens": 12, "estimated": False}
    assert text_of(seen) == full == Message.objects.get(pk=message_id).content
    # Every delta's id is where the text stands after it.
    for index, event in enumerate(seen):
        if event.name == "delta":
            assert event.id == f"{len(text_of(seen[: index + 1]))}-0"


def test_resume_on_the_other_process_sends_only_the_rest(clients, upstream, script):
    mode, generating, other = clients
    upstream.push(held := script(reasoning=["Think", "ing."], tokens=10, hold_at=4, interval=0.05))
    stream = generating.send(generating.create_conversation(), "Tell me a long story")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    before = read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 t3 ")
    stream.close()  # the connection drops; the next one lands on the other process

    resumed = other.open("GET", f"/api/messages/{message_id}/stream/", headers={"Last-Event-ID": before[-1].id})
    after = iter(resumed)
    assert next(after).name == "meta"
    held.release.set()
    rest = list(after)
    resumed.close()
    full = "".join(f"t{i} " for i in range(10))
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"
    assert text_of(before) + text_of(rest) == full == Message.objects.get(pk=message_id).content
    assert "".join(e.data.get("reasoning", "") for e in before + rest if e.name == "delta") == "Thinking."


def test_several_streams_on_the_other_process_all_get_the_whole_answer(clients, upstream, script):
    mode, generating, other = clients
    upstream.push(held := script(tokens=10, hold_at=2, interval=0.05))
    stream = generating.send(generating.create_conversation(), "Tell me a long story")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 ")
    followers = [
        other.open("GET", f"/api/messages/{message_id}/stream/", headers={"Last-Event-ID": last_id})
        for last_id in ("", "3-0", "6-0")
    ]
    for follower in followers:
        assert follower.status == 200
    held.release.set()
    full = "".join(f"t{i} " for i in range(10))
    for follower, offset in zip(followers, (0, 3, 6), strict=True):
        seen = follower.events()
        follower.close()
        assert seen[-1].name == "done"
        assert full[:offset] + text_of(seen) == full
    list(events)
    stream.close()


def test_deleting_through_the_other_process_closes_the_upstream_request(clients, upstream, script):
    mode, generating, other = clients
    upstream.push(script(tokens=20, hold_at=3))
    conversation_id = generating.create_conversation()
    stream = generating.send(conversation_id, "Tell me a long story")
    events = iter(stream)
    next(events)
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    # Past the generating process's first look at the database for stop requests.
    time.sleep(0.5)

    asked = time.monotonic()
    status, _ = other.json("DELETE", f"/api/chats/{conversation_id}/")
    assert status == 204
    upstream.assert_closed_early(asked, within=1.5, timeout=5)
    rest = list(events)
    stream.close()
    assert rest[-1].name == "done" and rest[-1].data["status"] == "stopped"
    assert not Conversation.objects.filter(pk=conversation_id).exists()
