"""The server's side of issue 18's bugs: one answer at a time, words for people, the setup."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import turns
from chat.errors import Conflict
from chat.models import Conversation, Message
from chat.upstream.errors import MESSAGES, UpstreamError

ROOT = Path(__file__).resolve().parent.parent
STILL_GENERATING = "An answer in this conversation is still being generated: stop it or wait for it to end."


@pytest.fixture
def conversation(owner):
    return Conversation.objects.create(owner=owner, model="fake-model")


def saved(conversation):
    return list(conversation.messages.order_by("id").values_list("role", "content", "status"))


def test_a_question_while_the_answer_is_still_being_generated_is_refused(owner, conversation):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    for status in Message.LIVE_STATUSES:
        Message.objects.filter(pk=turn.answer_id).update(status=status)
        with pytest.raises(Conflict, match=re.escape(STILL_GENERATING)):
            turns.start(owner.pk, conversation.pk, "q1")
    assert [role for role, _content, _status in saved(conversation)] == ["user", "assistant"]


def test_an_answer_whose_process_died_does_not_block_the_next_question(owner, conversation, settings):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    Message.objects.filter(pk=turn.answer_id).update(content="half", updated_at=timezone.now() - timedelta(hours=1))

    again = turns.start(owner.pk, conversation.pk, "q1")

    assert saved(conversation) == [
        ("user", "q0", "complete"),
        ("assistant", "half", "interrupted"),
        ("user", "q1", "complete"),
        ("assistant", "", "streaming"),
    ]
    # An interrupted answer does not go back upstream.
    assert again.messages == [{"role": "user", "content": "q0"}, {"role": "user", "content": "q1"}]


def test_the_check_costs_no_query_of_its_own(owner, conversation, warm_catalogue):
    for number in range(3):
        turn = turns.start(owner.pk, conversation.pk, f"q{number}")
        Message.objects.filter(pk=turn.answer_id).update(content=f"a{number}", status=Message.Status.COMPLETE)
    with CaptureQueriesContext(connection) as captured:
        turn = turns.start(owner.pk, conversation.pk, "q3")
    # As many as before the check: the conversation, the limits' reads, the history, the
    # turn's INSERT and the conversation's UPDATE (and the transaction's own statements).
    messages = [q["sql"] for q in captured.captured_queries if "chat_message" in q["sql"]]
    assert len([sql for sql in messages if sql.startswith("SELECT")]) == 1, messages
    assert turn.messages[-1] == {"role": "user", "content": "q3"}
    assert turn.messages[-2] == {"role": "assistant", "content": "a2"}


def test_the_api_answers_409_to_a_second_question_during_an_answer(live, owner, upstream, script):
    held = script(tokens=5, hold_at=1)
    upstream.push(held)
    client = live(owner)
    conversation_id = client.create_conversation()
    first = client.send(conversation_id, "First")
    assert first.status == 200
    status, data = client.json("POST", f"/api/chats/{conversation_id}/messages/", {"content": "Second"})
    assert status == 409
    assert data["error"] == STILL_GENERATING
    held.release.set()
    first.events()
    first.close()
    assert list(Message.objects.order_by("id").values_list("content", flat=True)) == ["First", "t0 t1 t2 t3 t4 "]


def test_what_people_are_told_of_a_provider_fault_names_no_setting():
    for kind, text in MESSAGES.items():
        assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", text), (kind, text)
    assert MESSAGES["connect"] == "The model service is unavailable right now; try again or pick another model."


def test_staff_and_the_log_get_the_operators_detail():
    error = UpstreamError.of("connect", detail="ConnectError: [Errno 111] Connection refused")
    assert error.public_message == "The model service is unavailable right now; try again or pick another model."
    assert "OPENAI_BASE_URL" in error.provider_text  # saved as the answer's error_detail, for the admin
    assert "OPENAI_BASE_URL" in error.detail and "Connection refused" in error.detail


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({"PORT": "8123"}, "http://127.0.0.1:8123/"),
        ({"GUNICORN_BIND": "0.0.0.0:9000,unix:/run/chat.sock"}, "http://127.0.0.1:9000/"),
        ({"GUNICORN_BIND": "127.0.0.1:7000", "PORT": "8123"}, "http://127.0.0.1:7000/"),
        ({}, "http://127.0.0.1:8000/"),
    ],
)
def test_the_first_start_prints_the_address_gunicorn_listens_on(capsys, db, monkeypatch, environment, url):
    for name in ("PORT", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    call_command("ensureadmin")
    assert f"Log in at {url} " in capsys.readouterr().out


def test_an_env_copied_from_the_example_leaves_the_port_to_port():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assignments = [line for line in example.splitlines() if re.match(r"^[A-Z_]+=", line)]
    assert not [line for line in assignments if line.startswith("GUNICORN_BIND=")]
    # The chat's own port is not offered for a model server.
    assert "127.0.0.1:8000/v1" not in example
