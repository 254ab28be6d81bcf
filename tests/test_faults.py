"""
Every way the provider can fail gives the person a clear message, keeps their message and
whatever part of the answer came, and tells the operator the detail in the log. No traceback
and no API key ever reaches the browser.
"""

import json
import logging
import re
import socket

import pytest

from chat.models import Message
from tests.support import canary
from tests.support.live import parse

API_KEY = canary.KEY


def read_raw(stream):
    """The whole response body, and its events as (name, data) pairs."""
    raw = stream.response.read()
    stream.close()
    return raw, [(event.name, event.data) for event in parse(raw)]


def ask_failing(live, owner, content="Will this fail?", **fields):
    client = live(owner)
    conversation_id = client.create_conversation(**fields)
    stream = client.send(conversation_id, content)
    assert stream.status == 200
    raw, events = read_raw(stream)
    return raw, events


def assert_failed_cleanly(raw, events, *, message, partial="", question="Will this fail?"):
    assert API_KEY.encode() not in raw
    assert b"Traceback" not in raw and b"Error(" not in raw
    name, data = events[-1]
    assert name == "error", events
    assert data["status"] == "error"
    assert message in data["message"]
    streamed = "".join(d.get("content", "") for n, d in events if n == "delta")
    assert streamed == partial
    assert Message.objects.get(role="user").content == question
    answer = Message.objects.get(role="assistant")
    assert answer.status == Message.Status.ERROR
    assert answer.error == data["message"]
    assert answer.content == partial
    assert answer.duration_ms is not None
    return answer, data


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.WARNING, logger="chat")
    return caplog


def logged(log):
    return "\n".join(record.getMessage() for record in log.records if record.name.startswith("chat"))


@pytest.fixture
def closed_port(settings):
    """The provider's port, where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    return port


def test_connection_refused_says_the_provider_cannot_be_reached(live, owner, upstream, closed_port, log):
    raw, events = ask_failing(live, owner)
    answer, _ = assert_failed_cleanly(
        raw, events, message="The model service is unavailable right now; try again or pick another model."
    )
    assert str(closed_port) in logged(log) and "Check OPENAI_BASE_URL" in logged(log)
    # What to check is for staff and the log, not the person.
    assert "OPENAI_BASE_URL" not in answer.error and "OPENAI_BASE_URL" in answer.error_detail


def test_unknown_host_says_the_provider_cannot_be_reached(live, owner, upstream, settings, log):
    # .invalid never resolves (RFC 6761): the resolver answers at once, without any network.
    settings.OPENAI_BASE_URL = "http://provider.example.invalid/v1"
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="The model service is unavailable right now")
    assert "provider.example.invalid" in logged(log) and "does not resolve" in logged(log)


def test_silence_before_the_first_token_is_a_timeout(live, owner, upstream, script, settings, log):
    settings.OPENAI_READ_TIMEOUT = 0.4
    upstream.push(script(tokens=3, first_delay=3))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="did not answer within 0.4 seconds")
    assert "timeout" in logged(log).lower()
    assert upstream.wait_for(lambda: upstream.chat_requests[0].disconnected_at)


def test_a_stall_mid_stream_keeps_the_text_so_far(live, owner, upstream, script, settings, log):
    settings.OPENAI_READ_TIMEOUT = 0.4
    upstream.push(script(tokens=5, fault="stall", fault_after=2))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="stopped sending the answer", partial="t0 t1 ")
    assert "timeout" in logged(log).lower()
    # The stalled request was closed, not left hanging on the provider.
    assert upstream.wait_for(lambda: upstream.chat_requests[0].disconnected_at)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "did not accept this site's credentials (HTTP 401); pick another model, or tell the administrator."),
        (403, "refused access to this model (HTTP 403); pick another model"),
        (404, "does not offer the model 'fake-model' (HTTP 404); pick another model"),
        (500, "answered with an error (HTTP 500)"),
        (503, "answered with an error (HTTP 503)"),
    ],
)
def test_http_error_statuses_have_a_clear_message(live, owner, upstream, script, log, status, message):
    upstream.push(script(status=status, error_message=f"Incorrect API key provided: {API_KEY}"))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message=message)
    assert f"{status}" in logged(log)
    # The provider echoed the key; the log must not repeat it either.
    assert API_KEY not in logged(log)


def test_the_providers_explanation_is_for_staff_and_the_log_not_the_person(live, owner, upstream, script, log):
    upstream.push(script(status=400, error_message="This model's maximum context length is 8192 tokens."))
    raw, events = ask_failing(live, owner)
    _, data = assert_failed_cleanly(raw, events, message="HTTP 400")
    assert "maximum context length" not in data["message"]
    answer = Message.objects.get(pk=events[0][1]["assistant_message_id"])
    assert "maximum context length" not in answer.error and "maximum context length" not in json.dumps(answer.as_json())
    assert answer.error_detail == "This model's maximum context length is 8192 tokens."
    assert "maximum context length is 8192 tokens" in logged(log)


def test_rate_limit_says_when_to_try_again(live, owner, upstream, script, log):
    upstream.push(script(status=429, headers={"Retry-After": "7"}, error_message="Rate limit reached"))
    raw, events = ask_failing(live, owner)
    _, data = assert_failed_cleanly(raw, events, message="rate limiting requests (HTTP 429)")
    assert "Try again in 7 seconds" in data["message"]
    assert "429" in logged(log)


CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


def ask_failing_in_chinese(live, owner):
    client = live(owner)
    conversation_id = client.create_conversation()
    stream = client.open(
        "POST", f"/api/chats/{conversation_id}/messages/", {"content": "Will this fail?"}, headers=CHINESE
    )
    assert stream.status == 200
    return read_raw(stream)


def test_a_person_reading_chinese_is_told_in_chinese_and_the_log_stays_english(live, owner, upstream, script, log):
    upstream.push(script(status=429, headers={"Retry-After": "7"}, error_message="Rate limit reached"))
    raw, events = ask_failing_in_chinese(live, owner)
    _, data = assert_failed_cleanly(raw, events, message="模型服务商正在限制请求频率（HTTP 429）。")
    # When to try again, in the product's words; the provider's own are for staff.
    assert data["message"] == "模型服务商正在限制请求频率（HTTP 429）。 请在 7 秒后重试。"
    assert "429" in logged(log) and not re.search("[\u4e00-\u9fff]", logged(log))


def test_a_provider_that_cannot_be_reached_is_told_in_chinese(live, owner, upstream, closed_port, log):
    from django.utils import translation

    from chat.upstream.errors import MESSAGES

    raw, events = ask_failing_in_chinese(live, owner)
    # Its Chinese from the catalogue (locale/), the words of what the person can do.
    with translation.override("zh-hans"):
        chinese = translation.gettext(MESSAGES["connect"])
    _, data = assert_failed_cleanly(raw, events, message=chinese)
    assert "OPENAI" not in data["message"]
    assert str(closed_port) in logged(log) and not re.search("[\u4e00-\u9fff]", logged(log))


def test_a_malformed_chunk_keeps_the_text_so_far(live, owner, upstream, script, log):
    upstream.push(script(tokens=5, fault="malformed", fault_after=2))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="could not be read", partial="t0 t1 ")
    assert "this is not json" in logged(log)


def test_a_stream_cut_without_done_or_finish_reason_is_an_error(live, owner, upstream, script, log):
    upstream.push(script(tokens=5, fault="truncate", fault_after=3))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="ended before the model provider finished", partial="t0 t1 t2 ")
    assert "without [DONE]" in logged(log)


def test_a_finish_reason_without_done_is_a_complete_answer(live, owner, upstream, script):
    upstream.push(script(tokens=4, fault="no_done", fault_after=2))
    client = live(owner)
    events = client.ask(client.create_conversation(), "Hi")
    assert events[-1].name == "done" and events[-1].data["status"] == "complete"
    assert Message.objects.get(role="assistant").content == "t0 t1 "


def test_a_connection_reset_mid_stream_keeps_the_text_so_far(live, owner, upstream, script, log):
    upstream.push(script(tokens=5, fault="reset", fault_after=2))
    raw, events = ask_failing(live, owner)
    assert_failed_cleanly(raw, events, message="connection to the model provider broke off", partial="t0 t1 ")
    assert logged(log)


def test_an_error_chunk_keeps_the_providers_reason_for_staff(live, owner, upstream, script, log):
    upstream.push(script(tokens=5, fault="error_event", fault_after=1, error_message=f"Overloaded {API_KEY}"))
    raw, events = ask_failing(live, owner)
    _, data = assert_failed_cleanly(raw, events, message="reported an error", partial="t0 ")
    assert "Overloaded" not in data["message"]
    answer = Message.objects.get(pk=events[0][1]["assistant_message_id"])
    assert answer.error_detail == "Overloaded [API key]"
    assert "Overloaded" in logged(log) and API_KEY not in logged(log)


def test_a_failed_answer_is_not_sent_back_as_history_and_the_next_message_works(live, owner, upstream, script):
    upstream.push(script(status=500), script(words=["Fine now."]))
    client = live(owner)
    conversation_id = client.create_conversation()
    read_raw(client.send(conversation_id, "First"))
    events = client.ask(conversation_id, "Second")
    assert events[-1].data["status"] == "complete"
    assert upstream.chat_requests[1].body["messages"] == [
        {"role": "user", "content": "First"},
        {"role": "user", "content": "Second"},
    ]
    statuses = list(Message.objects.order_by("id").values_list("role", "status"))
    assert statuses == [("user", "complete"), ("assistant", "error"), ("user", "complete"), ("assistant", "complete")]


def test_the_error_is_replayed_to_a_stream_opened_later(live, owner, upstream, script):
    upstream.push(script(tokens=5, fault="malformed", fault_after=2))
    client = live(owner)
    raw, events = read_raw(client.send(client.create_conversation(), "Hi"))
    answer = Message.objects.get(role="assistant")
    raw, replay = read_raw(client.open("GET", f"/api/messages/{answer.pk}/stream/"))
    assert [name for name, _ in replay] == ["meta", "delta", "error"]
    assert replay[1][1] == {"content": "t0 t1 "}
    assert replay[-1][1]["message"] == events[-1][1]["message"]
    assert API_KEY.encode() not in raw
