"""What an operator reads in the log: one line per chat turn, never what people wrote, never the key."""

import re
import time

import pytest

from tests.support.fake_upstream import Script

TURN = re.compile(
    r"^chat turn user=(?P<user>\d+) conversation=\d+ message=(?P<message>\d+) model=(?P<model>\S+) "
    r"status=(?P<status>\w+) prompt_tokens=(?P<prompt>\S+) completion_tokens=(?P<completion>\S+) "
    r"estimated=(?P<estimated>\w+) "
    r"first_token_ms=(?P<ttft>\S+) duration_ms=(?P<duration>\d+)$"
)
PROMPT = "please keep my merger plans for Acme confidential"


def turn_lines(caplog, message_id, timeout=5):
    # The line is written as the answer is saved, a moment after the stream's last event.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [r for r in caplog.records if r.getMessage().startswith("chat turn ")]
        if any(f"message={message_id} " in r.getMessage() for r in lines):
            return lines
        time.sleep(0.02)
    pytest.fail(f"no log line for message {message_id}: {caplog.text}")


def assert_nothing_secret(caplog, settings):
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert "merger plans" not in text, record
        assert settings.OPENAI_API_KEY not in text, record


def test_each_turn_logs_one_line_with_its_numbers_and_not_the_prompt(live, owner, upstream, caplog, settings):
    upstream.push(Script(tokens=4, first_delay=0.05))
    client = live(owner)
    events = client.ask(client.create_conversation(model="fake-model"), PROMPT)
    message_id = events[0].data["assistant_message_id"]

    [record] = turn_lines(caplog, message_id)
    assert record.name == "chat.relay" and record.levelname == "INFO"
    fields = TURN.match(record.getMessage()).groupdict()
    assert fields["user"] == str(owner.pk) and fields["message"] == str(message_id)
    assert (fields["model"], fields["status"]) == ("fake-model", "complete")
    assert (fields["prompt"], fields["completion"]) == ("11", "4")
    assert int(fields["ttft"]) >= 50 and int(fields["duration"]) >= int(fields["ttft"])
    assert_nothing_secret(caplog, settings)


def test_a_failed_turn_logs_its_status_and_not_the_prompt(live, owner, upstream, caplog, settings):
    upstream.push(Script(status=429, error_message="slow down"))
    client = live(owner)
    events = client.ask(client.create_conversation(model="fake-model"), PROMPT)
    assert events[-1].name == "error"

    [record] = turn_lines(caplog, events[0].data["assistant_message_id"])
    fields = TURN.match(record.getMessage()).groupdict()
    assert (fields["status"], fields["prompt"], fields["ttft"]) == ("error", "None", "None")
    assert any("429" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert_nothing_secret(caplog, settings)
