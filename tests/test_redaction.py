"""
Secrets out of what the product writes (chat/redaction.py): the API key in any spelling, and
anything shaped like one, in a person's error, a saved answer and a log line.
"""

import io
import logging
from urllib.parse import quote

import pytest

from chat.models import Conversation
from chat.redaction import REPLACEMENT, RedactingFormatter, redact
from tests.support import canary
from tests.support.waiting import eventually

KEY = "-".join(("sk", "test", "canary", "1234567890/abc+DEF=="))


@pytest.fixture
def key(settings):
    settings.OPENAI_API_KEY = KEY
    return KEY


@pytest.mark.parametrize(
    "spelling",
    [
        KEY,
        KEY.upper(),
        KEY.lower(),
        quote(KEY, safe=""),
        quote(KEY, safe="").lower(),
        KEY[:20] + "*",
        KEY[:28] + "…",
        KEY[:11] + "*" * 21,
    ],
)
def test_the_key_goes_in_any_spelling(key, spelling):
    text = f"Incorrect API key provided: {spelling}. You can find your key at the dashboard."
    assert redact(text) == f"Incorrect API key provided: {REPLACEMENT}. You can find your key at the dashboard."


def test_a_key_not_configured_but_shaped_like_one_goes_too(key):
    assert redact("also " + "-".join(("sk", "another", "Secret_0123456789")) + " here") == f"also {REPLACEMENT} here"


def test_a_key_of_another_shape_goes_when_configured(settings):
    settings.OPENAI_API_KEY = "3f9a2c7e1b6d4f08a5e2.Zk81QbXc"
    assert redact("key 3F9A2C7E1B6D4F08A5E2.ZK81QBXC, or 3f9a2c7e1b6d****") == f"key {REPLACEMENT}, or {REPLACEMENT}"


def test_text_without_a_secret_is_left_as_it_is(key):
    text = "The model's maximum context length is 8192 tokens; task-list skills sk- are fine."
    assert redact(text) == text
    assert redact("") == "" and redact(None) is None


def test_log_lines_and_their_tracebacks_lose_the_key(key):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("the provider said %s", KEY.upper())
        try:
            raise RuntimeError(f"AuthenticationError('Incorrect API key provided: {KEY[:20]}***')")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "canary" not in written.lower() and written.count(REPLACEMENT) == 2
    assert "Traceback" in written and "RuntimeError" in written


def test_the_servers_log_lines_pass_the_redaction(settings):
    formatter = settings.LOGGING["formatters"]["plain"]
    assert formatter["()"] == "chat.redaction.RedactingFormatter"


def test_a_failed_title_request_logs_no_key(live, owner, upstream, script, settings, caplog, key):
    caplog.set_level(logging.INFO, logger="chat")
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(script(status=401, error_message=f"Incorrect API key provided: {KEY[:20]}***"))
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "what is the capital of France")

    def logged():
        return "\n".join(record.getMessage() for record in caplog.records)

    # The title is asked once the answer has begun, and may fail after the answer's end.
    assert eventually(lambda: "no title from the model" in logged())
    assert "canary" not in logged().lower()
    assert Conversation.objects.get(pk=conversation_id).title == "what is the capital of France"


def test_an_error_the_provider_streams_is_saved_and_shown_without_the_key(live, owner, upstream, script, key):
    upstream.push(script(tokens=3, fault="error_event", fault_after=1, error_message=f"Overloaded {KEY.upper()}"))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "Hello")
    assert events[-1].name == "error" and "canary" not in events[-1].data["message"].lower()
    saved = Conversation.objects.get(pk=conversation_id).messages.get(role="assistant")
    assert "canary" not in saved.error.lower()
    assert "Overloaded" in saved.error_detail and "canary" not in saved.error_detail.lower()


def test_the_suites_canary_notices_a_key_in_any_spelling_and_nothing_else(tmp_path, monkeypatch):
    found = tmp_path / "found.txt"
    monkeypatch.setenv("CANARY_FOUND", str(found))
    for spelling in (canary.KEY, canary.KEY.upper(), quote(canary.KEY, safe=""), canary.KEY[:16] + "***"):
        canary.check("a response", f"said: {spelling}".encode())
    canary.check("a response", b"The model provider rejected the API key (HTTP 401).")
    assert len(found.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("https://user:hunter2@proxy.example.com/v1 failed", "https://user:***@proxy.example.com/v1 failed"),
        ("postgres://chat:hunter2@db/chat", "postgres://chat:***@db/chat"),
        ("https://api.example.com/v1 and user@example.com", "https://api.example.com/v1 and user@example.com"),
    ],
)
def test_a_password_in_a_url_goes(text, shown):
    assert redact(text) == shown


def test_doctor_prints_no_password_of_a_provider_url(settings, db):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.OPENAI_BASE_URL = "http://user:hunter2@127.0.0.1:9/v1"
    settings.OPENAI_MODELS = ["fake-model"]
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("doctor", stdout=out, no_color=True)
    assert "127.0.0.1:9" in out.getvalue() and "hunter2" not in out.getvalue()
