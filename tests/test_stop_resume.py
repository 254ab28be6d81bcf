"""
Stop means stop, a disconnect is not a stop, a reload resumes, and a silent model gets
heartbeats: one server process (the cross-process cases are in test_multiprocess.py).
"""

import json
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from chat.models import Conversation, Message
from tests.support.live import read_until, text_of
from tests.support.servers import wait_until_idle


def start_answer(client, upstream, script, **script_fields):
    """Send a message whose answer is held by the provider; return the open stream, its
    event iterator, the meta event and the script (release it to let the answer finish)."""
    held = script(**script_fields)
    upstream.push(held)
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "Tell me a long story")
    assert stream.status == 200
    events = iter(stream)
    meta = next(events)
    assert meta.name == "meta"
    return stream, events, meta, held


# --- Stop -----------------------------------------------------------------------------------


def test_stop_closes_the_upstream_request_at_once_and_keeps_the_text(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, _ = start_answer(client, upstream, script, tokens=20, hold_at=3)
    message_id = meta.data["assistant_message_id"]
    received = read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")

    asked = time.monotonic()
    status, body = client.json("POST", f"/api/messages/{message_id}/stop/")
    assert (status, body) == (200, {"id": message_id, "status": "stopped"})
    upstream.assert_closed_early(asked, within=1.0, timeout=2)

    rest = list(events)
    stream.close()
    assert rest[-1].name == "done"
    assert rest[-1].data["status"] == "stopped"
    assert text_of(received + rest) == "t0 t1 t2 "
    answer = Message.objects.get(pk=message_id)
    assert (answer.status, answer.content) == ("stopped", "t0 t1 t2 ")
    assert answer.duration_ms is not None
    assert Message.objects.get(role="user").content == "Tell me a long story"


def test_stop_is_idempotent(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, _ = start_answer(client, upstream, script, tokens=20, hold_at=2)
    message_id = meta.data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 ")
    for _ in range(3):
        status, body = client.json("POST", f"/api/messages/{message_id}/stop/")
        assert (status, body) == (200, {"id": message_id, "status": "stopped"})
    stream.events()
    stream.close()
    wait_until_idle()
    assert Message.objects.get(pk=message_id).content == "t0 t1 "
    assert client.json("POST", f"/api/messages/{message_id}/stop/") == (200, {"id": message_id, "status": "stopped"})
    assert len(upstream.chat_requests) == 1


def test_stopping_a_finished_answer_changes_nothing(live, owner, upstream):
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    message_id = events[0].data["assistant_message_id"]
    before = Message.objects.get(pk=message_id)
    assert client.json("POST", f"/api/messages/{message_id}/stop/") == (200, {"id": message_id, "status": "complete"})
    after = Message.objects.get(pk=message_id)
    assert (after.status, after.content, after.updated_at) == ("complete", before.content, before.updated_at)


def test_it_refuses_to_stop_another_users_answer(live, owner, outsider, upstream, script):
    client = live(owner)
    stream, events, meta, held = start_answer(client, upstream, script, tokens=4, hold_at=2)
    message_id = meta.data["assistant_message_id"]
    status, body = live(outsider).json("POST", f"/api/messages/{message_id}/stop/")
    assert status == 404 and "error" in body
    # Nor is a person's own question an answer that could be stopped.
    status, _ = client.json("POST", f"/api/messages/{meta.data['user_message_id']}/stop/")
    assert status == 404
    held.release.set()
    rest = list(events)
    stream.close()
    assert rest[-1].data["status"] == "complete"
    assert Message.objects.get(pk=message_id).content == "t0 t1 t2 t3 "


def test_stop_needs_a_post_with_csrf_and_a_login(live, owner, upstream):
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    message_id = events[0].data["assistant_message_id"]
    assert client.json("GET", f"/api/messages/{message_id}/stop/")[0] == 405
    assert client.json("POST", f"/api/messages/{message_id}/stop/", csrf=False)[0] == 403
    assert live().json("POST", f"/api/messages/{message_id}/stop/")[0] == 401


# --- Disconnect -----------------------------------------------------------------------------


def test_a_closed_connection_does_not_stop_the_answer(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, held = start_answer(client, upstream, script, tokens=8, hold_at=3)
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    stream.close()
    time.sleep(0.3)
    held.release.set()
    wait_until_idle()
    answer = Message.objects.get(pk=meta.data["assistant_message_id"])
    assert (answer.status, answer.content) == ("complete", "t0 t1 t2 t3 t4 t5 t6 t7 ")
    assert answer.finish_reason == "stop" and answer.completion_tokens == 8
    assert upstream.chat_requests[0].finished


def test_a_client_that_hangs_up_while_its_question_is_saved_still_gets_it_answered(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation()
    body = json.dumps({"content": "Are you there?"}).encode()
    request = (
        f"POST /api/chats/{conversation_id}/messages/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: sessionid={client.cookies['sessionid']}; csrftoken={client.csrf}\r\n"
        f"X-CSRFToken: {client.csrf}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    # The conversation is locked, so saving the turn waits; the client hangs up meanwhile,
    # which cancels the view.
    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=conversation_id)
        with socket.create_connection(("127.0.0.1", client.port)) as raw:
            raw.sendall(request)
            time.sleep(0.3)  # the request is read, and the view waits for the lock
        time.sleep(0.3)  # Django has seen the hang-up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = Message.objects.filter(conversation_id=conversation_id, role="assistant").first()
        if answer and answer.status != "streaming":
            break
        time.sleep(0.05)
    wait_until_idle()
    assert Message.objects.get(conversation_id=conversation_id, role="user").content == "Are you there?"
    answer = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert (answer.status, answer.content) == ("complete", "t0 t1 t2 t3 t4 ")


def test_a_closed_connection_stops_the_answer_when_so_configured(live, owner, upstream, script, settings):
    settings.CHAT_STOP_ON_DISCONNECT = True
    client = live(owner)
    stream, events, meta, _ = start_answer(client, upstream, script, tokens=8, hold_at=3)
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
    stream.close()
    request = upstream.chat_requests[0]
    assert upstream.wait_for(lambda: request.disconnected_at, timeout=3)
    wait_until_idle()
    answer = Message.objects.get(pk=meta.data["assistant_message_id"])
    assert (answer.status, answer.content) == ("stopped", "t0 t1 t2 ")


def test_a_slow_reader_still_gets_the_end_of_the_answer(live, owner, upstream, script):
    # The reader takes nothing while the answer streams, so the server is still writing
    # to it, held up by the full socket, when the answer ends.
    upstream.push(script(words=[f"{i:04d}" + "x" * 60_000 for i in range(100)]))
    client = live(owner)
    conversation_id = client.create_conversation()
    body = json.dumps({"content": "Flood me"}).encode()
    headers = client._headers()
    request = (
        f"POST /api/chats/{conversation_id}/messages/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "Connection: close\r\n\r\n"
    ).encode() + body
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((client.host, client.port))
        sock.sendall(request)
        assert upstream.wait_for(lambda: upstream.chat_requests and upstream.chat_requests[0].finished, timeout=30)
        wait_until_idle(timeout=30)
        assert Message.objects.get(role="assistant").status == "complete"
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
    assert b"event: done" in received
    assert received.endswith(b"\r\n0\r\n\r\n")  # the response ended properly


# --- Reload and resume ----------------------------------------------------------------------


def test_a_reload_replays_the_answer_and_follows_it_live(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, held = start_answer(client, upstream, script, tokens=6, hold_at=3)
    message_id = meta.data["assistant_message_id"]
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")

    # The page is reloaded: the conversation shows the answer as streaming...
    status, chat = client.json("GET", f"/api/chats/{meta.data['conversation_id']}/")
    assert chat["messages"][-1]["status"] == "streaming"
    # ...and its stream replays what came so far, then follows live.
    again = client.open("GET", f"/api/messages/{message_id}/stream/")
    assert again.status == 200 and again.headers["content-type"].startswith("text/event-stream")
    replay = iter(again)
    assert next(replay).data == {"assistant_message_id": message_id, "conversation_id": meta.data["conversation_id"]}
    first = next(replay)
    assert (first.name, first.data, first.id) == ("delta", {"content": "t0 t1 t2 "}, "9-0")
    held.release.set()
    rest = list(replay)
    again.close()
    stream.close()
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"
    assert text_of([first] + rest) == "t0 t1 t2 t3 t4 t5 " == Message.objects.get(pk=message_id).content


def test_last_event_id_resumes_without_gap_or_duplicate(live, owner, upstream, script):
    client = live(owner)
    words = ["Hello", ", ", "世界", " 🎉", " and", " more", " words", "."]
    stream, events, meta, held = start_answer(
        client, upstream, script, reasoning=["Let me ", "think..."], words=words, hold_at=4
    )
    message_id = meta.data["assistant_message_id"]
    before_drop = read_until(events, lambda seen: text_of(seen) == "Hello, 世界 🎉")
    stream.close()  # the connection drops
    last_id = before_drop[-1].id
    assert last_id == f"{len('Hello, 世界 🎉')}-{len('Let me think...')}"

    resumed = client.open("GET", f"/api/messages/{message_id}/stream/", headers={"Last-Event-ID": last_id})
    replay = iter(resumed)
    next(replay)  # meta
    time.sleep(0.2)
    held.release.set()
    after = list(replay)
    resumed.close()
    assert after[-1].name == "done"
    assert text_of(before_drop) + text_of(after) == "".join(words)
    assert text_of(before_drop, "reasoning") + text_of(after, "reasoning") == "Let me think..."
    # Each id is the position after its event, so a second drop could resume again.
    assert after[-2].id == f"{len(''.join(words))}-{len('Let me think...')}"


def test_last_event_id_in_the_middle_of_a_delta_gets_exactly_the_rest(live, owner, upstream, script):
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    message_id = events[0].data["assistant_message_id"]
    full = text_of(events)
    for offset in (0, 1, 4, len(full) - 1, len(full), len(full) + 5):
        resumed = client.open("GET", f"/api/messages/{message_id}/stream/?last_event_id={offset}-0")
        after = resumed.events()
        resumed.close()
        assert full[:offset] + text_of(after) == full, offset
        assert after[-1].name == "done" and after[-1].data["status"] == "complete"


def test_the_stream_of_a_finished_answer_replays_it_and_ends(live, owner, upstream, script):
    upstream.push(script(reasoning=["hmm"], words=["Done", "."]))
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    message_id = events[0].data["assistant_message_id"]
    replay = client.open("GET", f"/api/messages/{message_id}/stream/").events()
    assert [e.name for e in replay] == ["meta", "delta", "delta", "done"]
    assert (text_of(replay, "reasoning"), text_of(replay)) == ("hmm", "Done.")
    assert replay[-1].data == events[-1].data
    assert replay[-2].id == "5-3"


def test_it_refuses_the_stream_of_another_users_answer(live, owner, outsider, upstream):
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    message_id = events[0].data["assistant_message_id"]
    assert live(outsider).json("GET", f"/api/messages/{message_id}/stream/")[0] == 404
    assert live().json("GET", f"/api/messages/{message_id}/stream/")[0] == 401
    assert client.json("GET", "/api/messages/999999/stream/")[0] == 404


def follow_from_the_database(client, owner):
    """An answer generated "by another process" (rows written here), and a stream that
    follows it from the database, past its saved text."""
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    chat.messages.create(role="user", content="Question")
    answer = chat.messages.create(role="assistant", status="streaming", content="Half ")
    stream = client.open("GET", f"/api/messages/{answer.pk}/stream/")
    events = iter(stream)
    assert next(events).name == "meta"
    assert text_of(read_until(events, lambda seen: text_of(seen) == "Half ")) == "Half "
    return answer, stream, events


@contextmanager
def messages_table_away():
    """The messages' table out of reach, as if the database failed, while the block runs."""
    table = connection.ops.quote_name(Message._meta.db_table)
    away = connection.ops.quote_name("chat_message_away")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")


def test_a_stream_following_another_process_rides_out_a_database_fault(live, owner):
    """
    The stream of an answer that another process generates reads it from the database as
    that process saves it. A moment when the database fails (a restart, a deadlock's victim
    on MySQL) leaves a gap in the reads, not the end of the stream.
    """
    answer, stream, events = follow_from_the_database(live(owner), owner)
    with messages_table_away():
        time.sleep(1)  # several reads of the stream fail meanwhile
    Message.objects.filter(pk=answer.pk).update(content="Half and whole.", status="complete", duration_ms=5)

    rest = list(events)
    stream.close()
    assert text_of(rest) == "and whole."
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"


def test_a_stream_following_another_process_ends_when_the_database_stays_down(live, owner, settings):
    answer, stream, events = follow_from_the_database(live(owner), owner)
    # As long as an answer may go unsaved before it counts as abandoned (set only now: the
    # answer must not look abandoned before the database goes away).
    settings.CHAT_ABANDONED_SECONDS = 0.5
    with messages_table_away():
        started = time.monotonic()
        rest = list(events)  # the server ends the stream, without a last event
        waited = time.monotonic() - started
    stream.close()
    assert [e.name for e in rest if e.name in ("done", "error")] == []
    assert 0.5 <= waited < 3


# --- Answers whose process died -------------------------------------------------------------


def abandoned_answer(owner, settings, content="half an ans"):
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    chat.messages.create(role="user", content="Question")
    answer = chat.messages.create(role="assistant", status="streaming", content=content)
    long_ago = timezone.now() - timedelta(seconds=settings.CHAT_ABANDONED_SECONDS + 5)
    Message.objects.filter(pk=answer.pk).update(updated_at=long_ago)
    return chat, answer


def test_an_answer_whose_process_died_reads_as_interrupted(live, owner, upstream, settings):
    chat, answer = abandoned_answer(owner, settings)
    status, body = live(owner).json("GET", f"/api/chats/{chat.pk}/")
    assert body["messages"][-1]["status"] == "interrupted"
    assert body["messages"][-1]["content"] == "half an ans"
    assert Message.objects.get(pk=answer.pk).status == "interrupted"


def test_the_stream_of_an_answer_whose_process_died_ends_as_interrupted(live, owner, upstream, settings):
    chat, answer = abandoned_answer(owner, settings)
    events = live(owner).open("GET", f"/api/messages/{answer.pk}/stream/").events()
    assert [e.name for e in events] == ["meta", "delta", "done"]
    assert events[-1].data["status"] == "interrupted"


def test_stopping_an_answer_whose_process_died_marks_it_interrupted(live, owner, upstream, settings):
    chat, answer = abandoned_answer(owner, settings)
    assert live(owner).json("POST", f"/api/messages/{answer.pk}/stop/") == (
        200,
        {"id": answer.pk, "status": "interrupted"},
    )


def test_an_answer_whose_process_died_can_be_regenerated_at_once(live, owner, upstream, script, settings):
    chat, answer = abandoned_answer(owner, settings)
    upstream.push(script(words=["Whole", " answer."]))
    client = live(owner)
    stream = client.open("POST", f"/api/messages/{answer.pk}/regenerate/", {})
    events = stream.events()
    stream.close()
    assert events[-1].data["status"] == "complete" and text_of(events) == "Whole answer."
    # The half answer is not sent back to the model; it is kept as the answer's earlier version.
    assert upstream.chat_requests[0].body["messages"] == [{"role": "user", "content": "Question"}]
    assert list(chat.messages.shown().order_by("id").values_list("role", "status", "content")) == [
        ("user", "complete", "Question"),
        ("assistant", "complete", "Whole answer."),
    ]
    assert events[0].data["versions"] == [answer.pk, events[0].data["assistant_message_id"]]


def test_an_answer_still_generating_cannot_be_regenerated(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, held = start_answer(client, upstream, script, tokens=4, hold_at=2)
    status, body = client.json("POST", f"/api/messages/{meta.data['assistant_message_id']}/regenerate/", {})
    assert status == 409
    assert body["error"] == "This answer is still being generated: stop it first."
    status, body = client.json(
        "POST", f"/api/messages/{meta.data['assistant_message_id']}/regenerate/", {}, headers={"Accept-Language": "zh"}
    )
    assert (status, body["error"]) == (409, "这条回答仍在生成中，请先停止它。")
    held.release.set()
    list(events)
    stream.close()


# --- Keep-alive -----------------------------------------------------------------------------


def test_a_silent_model_gets_heartbeats_at_the_configured_interval(live, owner, upstream, script, settings):
    upstream.push(script(tokens=2, first_delay=2.0))
    client = live(owner)
    stream = client.send(client.create_conversation(), "Think hard")
    events = stream.events()
    stream.close()
    assert events[-1].name == "done"
    first_delta = next(e.at for e in events if e.name == "delta")
    pings = [at for comment, at in stream.comments if comment == ": ping" and at < first_delta]
    interval = settings.SSE_HEARTBEAT_SECONDS
    # 2 s of silence at 0.3 s: about six pings, none of the gaps much longer than the interval.
    assert len(pings) >= 4
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < interval * 2.5


def test_heartbeats_go_on_while_the_database_is_busy(live, owner, upstream, script, settings):
    upstream.push(script(tokens=2, first_delay=2.5))
    client = live(owner)
    stream = client.send(client.create_conversation(), "Think hard")
    events = iter(stream)
    meta = next(events)
    locked = threading.Event()
    lock_times = []

    def hold_a_lock_on_the_answer():
        # A long write transaction on the answer's row (the whole file on SQLite): the
        # relay's progress saves wait for it.
        with transaction.atomic():
            Message.objects.filter(pk=meta.data["assistant_message_id"]).update(model="fake-model")
            lock_times.append(time.monotonic())
            locked.set()
            time.sleep(1.5)
            lock_times.append(time.monotonic())

    holder = threading.Thread(target=hold_a_lock_on_the_answer)
    holder.start()
    assert locked.wait(5)
    rest = list(events)
    stream.close()
    holder.join()
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"
    start, end = lock_times
    during_lock = [at for comment, at in stream.comments if start + 0.3 < at < end]
    assert len(during_lock) >= 2, (lock_times, stream.comments)


# --- Deleting a conversation --------------------------------------------------------------


def test_deleting_a_conversation_stops_its_answer_first(live, owner, upstream, script):
    client = live(owner)
    stream, events, meta, _ = start_answer(client, upstream, script, tokens=20, hold_at=3)
    read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")

    asked = time.monotonic()
    status, _ = client.json("DELETE", f"/api/chats/{meta.data['conversation_id']}/")
    assert status == 204
    upstream.assert_closed_early(asked, within=1.0, timeout=2)
    rest = list(events)
    stream.close()
    assert rest[-1].name == "done" and rest[-1].data["status"] == "stopped"
    wait_until_idle()
    assert not Conversation.objects.filter(pk=meta.data["conversation_id"]).exists()
    assert not Message.objects.exists()
