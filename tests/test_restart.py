"""
Restarts with answers in flight, on a real server process (gunicorn, as deployed): SIGTERM
lets them finish or saves them as far as they got; after SIGKILL they are marked interrupted
at the next start, and the conversation goes on.
"""

import time

import pytest

from chat.models import Message
from tests.support.live import LiveClient, read_until, text_of
from tests.support.servers import Gunicorn, env_with_test_settings

pytestmark = pytest.mark.gunicorn


@pytest.fixture
def server(fake_upstream_server, transactional_db, upstream, tmp_path):
    """Starts server processes with the given settings; stops what is left of them after."""
    started = []

    def start(**settings):
        process = Gunicorn(
            env_with_test_settings(fake_upstream_server, **settings), tmp_path / f"server-{len(started)}.log"
        )
        started.append(process)
        return process.start()

    yield start
    for script in upstream.scripts:
        script.release.set()
    for process in started:
        process.stop()


def test_sigterm_lets_the_answers_in_flight_finish(server, owner, upstream, script):
    process = server(CHAT_DRAIN_SECONDS=20)
    client = LiveClient(process.url, owner)
    upstream.push(script(tokens=10, interval=0.1), script(tokens=10, interval=0.1))
    followed = client.send(client.create_conversation(), "First")
    events = iter(followed)
    followed_id = next(events).data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 ")
    # The other one's reader went away: only the server still cares for its answer.
    left = client.send(client.create_conversation(), "Second")
    left_id = next(iter(left)).data["assistant_message_id"]
    left.close()

    process.process.send_signal(15)
    rest = list(events)
    followed.close()
    assert process.process.wait(20) == 0
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"
    full = "".join(f"t{i} " for i in range(10))
    assert "t0 " + text_of(rest) == full
    for message_id in (followed_id, left_id):
        answer = Message.objects.get(pk=message_id)
        assert (answer.status, answer.content, answer.finish_reason) == ("complete", full, "stop")
    assert all(request.finished for request in upstream.chat_requests)


def test_sigterm_saves_an_answer_that_outlasts_the_drain_time_as_interrupted(server, owner, upstream, script):
    process = server(CHAT_DRAIN_SECONDS=1)
    client = LiveClient(process.url, owner)
    upstream.push(script(tokens=200, interval=0.1))
    stream = client.send(client.create_conversation(), "A very long one")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    before = read_until(events, lambda seen: "t2 " in text_of(seen))

    signalled = time.monotonic()
    process.process.send_signal(15)
    rest = list(events)
    stream.close()
    assert process.process.wait(20) == 0
    # Cut short after the drain time, far before the 20 s the answer would have taken.
    assert time.monotonic() - signalled < 10
    assert rest[-1].name == "done" and rest[-1].data["status"] == "interrupted"
    answer = Message.objects.get(pk=message_id)
    assert answer.status == "interrupted"
    assert answer.content == text_of(before + rest)
    assert answer.content.startswith("t0 t1 t2 ") and len(answer.content) < len("t0 " * 200)
    request = upstream.chat_requests[0]
    assert upstream.wait_for(lambda: request.disconnected_at) and not request.finished


def test_after_sigkill_the_answer_is_marked_interrupted_at_the_next_start_and_can_be_retried(
    server, owner, upstream, script
):
    settings = {"CHAT_ABANDONED_SECONDS": 1}
    process = server(**settings)
    client = LiveClient(process.url, owner)
    upstream.push(script(tokens=10, hold_at=3))
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "Doomed question")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    # Wait for the partial text to be saved, as it is every CHAT_SAVE_INTERVAL.
    deadline = time.monotonic() + 5
    while Message.objects.get(pk=message_id).content != "t0 t1 t2 " and time.monotonic() < deadline:
        time.sleep(0.05)

    process.kill()
    stream.close()
    answer = Message.objects.get(pk=message_id)
    # Nobody could mark it: it is left streaming, with the text saved before the kill.
    assert (answer.status, answer.content) == ("streaming", "t0 t1 t2 ")
    request = upstream.chat_requests[0]
    assert upstream.wait_for(lambda: request.disconnected_at)

    time.sleep(1.5)
    process = server(**settings)
    answer = Message.objects.get(pk=message_id)
    assert (answer.status, answer.content) == ("interrupted", "t0 t1 t2 ")
    client = LiveClient(process.url, owner)
    status, chat = client.json("GET", f"/api/chats/{conversation_id}/")
    assert [m["status"] for m in chat["messages"]] == ["complete", "interrupted"]

    # Retrying answers the question again in its place.
    upstream.push(script(words=["Safe", " now."]))
    retry = client.open("POST", f"/api/messages/{message_id}/regenerate/", {})
    events = retry.events()
    retry.close()
    assert events[-1].data["status"] == "complete" and text_of(events) == "Safe now."
    assert upstream.chat_requests[-1].body["messages"] == [{"role": "user", "content": "Doomed question"}]
    status, chat = client.json("GET", f"/api/chats/{conversation_id}/")
    assert [(m["status"], m["content"]) for m in chat["messages"]] == [
        ("complete", "Doomed question"),
        ("complete", "Safe now."),
    ]


def test_an_answer_of_a_killed_process_is_marked_interrupted_by_the_survivor(server, owner, upstream, script):
    settings = {"CHAT_ABANDONED_SECONDS": 1}
    doomed, survivor = server(**settings), server(**settings)
    upstream.push(script(tokens=10, hold_at=3))
    client = LiveClient(doomed.url, owner)
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "Doomed question")
    events = iter(stream)
    message_id = next(events).data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    # A reader on the other process, as after a reload.
    follower = LiveClient(survivor.url, owner).open("GET", f"/api/messages/{message_id}/stream/")
    doomed.kill()
    stream.close()
    # It does not spin for ever: once the answer has not been refreshed for
    # CHAT_ABANDONED_SECONDS, the stream ends it as interrupted.
    seen = follower.events()
    follower.close()
    assert seen[-1].name == "done" and seen[-1].data["status"] == "interrupted"
    assert Message.objects.get(pk=message_id).status == "interrupted"
