"""
Who may call what, built from the URLconf itself: every URL pattern of the product, with its
path parameters filled with the ids of the owner's own rows, called with every method its view
takes, as the owner, as another person and as nobody. A pattern added later fails
test_every_pattern_is_classified until someone says here who may call it.

And the CSRF matrix: every pattern that takes POST, PATCH or DELETE refuses the owner's own
session without the CSRF token, and changes nothing.
"""

import json

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from chat import tokens
from chat.models import ApiToken, Attachment, Conversation, Feedback, Message, Preset, Profile, Share

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# Who may call each pattern, by its full name. A pattern not listed fails
# test_every_pattern_is_classified.
#   own:     the owner's rows, named by the ids in its path; others get 404 (or 403/405)
#   private: signed-in people only, their own things; no ids in the path
#   admin:   the admin's root; staff only
#   public:  anyone, each with its own rule below
OWN = {
    "chat:conversation",
    "chat:api-conversation",
    "chat:api-send-message",
    "chat:api-stop",
    "chat:api-stream",
    "chat:api-regenerate",
    "chat:api-edit",
    "chat:api-show-version",
    "chat:api-feedback",
    "chat:api-export-conversation",
    "chat:api-share",
    "chat:api-token",
    "chat:api-preset",
    "chat:api-file",
    "chat:revoke-token",
}
PRIVATE = {
    "chat:index",
    "chat:api-conversations",
    "chat:api-models",
    "chat:api-usage",
    "chat:api-tokens",
    "chat:api-export",
    "chat:api-import",
    "chat:api-shares",
    "chat:api-search",
    "chat:api-presets",
    "chat:api-files",
    "chat:tokens",
    "chat:data",
    "chat:account",
    "chat:api-account",
    "password_change",
    "password_change_done",
}
ADMIN = {"admin:index"}
PUBLIC = {
    "login",
    "logout",  # ends only the caller's own session
    "signup",  # 404 unless SIGNUP_ENABLED
    # 404 unless EMAIL_URL; then the link mailed to the account's address (tests/test_account.py)
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "set_language",  # Django's i18n view: a cookie of the caller's own
    "chat:healthz",
    "chat:manifest",  # the web app manifest: the site's name and icons
    "chat:demo-chat-completions",  # needs the demo's API key
    "chat:demo-models",  # needs the demo's API key
    "chat:api-diagnostics-stream",  # needs doctor's signed token (or staff)
    "chat:openai-models",  # needs a personal API token
    "chat:openai-chat-completions",  # needs a personal API token
    "chat:shared",  # a share's page, by its unguessable key (404 for any other)
}
CLASSIFIED = OWN | PRIVATE | ADMIN | PUBLIC
# Public patterns that refuse anybody without their key or token, whatever the session.
KEYED = {
    "chat:demo-chat-completions": (401, 403),
    "chat:demo-models": (401, 403),
    "chat:api-diagnostics-stream": (403,),
    "chat:openai-models": (401,),
    "chat:openai-chat-completions": (401,),
}
# Exempt from CSRF by design: a bearer key, never a cookie, authenticates it (chat/demo.py).
CSRF_EXEMPT = {"chat:demo-chat-completions", "chat:openai-chat-completions"}

# Forms of the pages that answer with a redirect back to their page once done.
FORM_POSTS = {"chat:revoke-token"}

# Which of the owner's messages a `message_id` names, by pattern; the answer otherwise.
QUESTION_ID = {"chat:api-edit"}

# What the other person sends: valid bodies, so that only ownership can refuse them.
OUTSIDER_BODY = {
    "chat:api-conversation": {"title": "taken", "system_prompt": "taken"},
    "chat:api-send-message": {"content": "taken"},
    "chat:api-edit": {"content": "taken"},
    "chat:api-feedback": {"rating": "down", "note": "taken"},
    "chat:api-conversations": {"title": "mine"},
    "chat:api-account": {"custom_instructions": "taken", "display_name": "taken"},
    "chat:api-presets": {"name": "mine"},
}
# What the owner sends: bodies that pass ownership but start no answer (an empty question, a
# model nobody offers), so that no generation outlives the test.
OWNER_BODY = {
    "chat:api-send-message": {"content": ""},
    "chat:api-edit": {"content": ""},
    "chat:api-regenerate": {"model": "no-such-model"},
    "chat:api-conversation": {"title": "Renamed by its owner"},
    "chat:api-feedback": {"rating": "up"},
}

SECRETS = (
    "Owner secret title",
    "Owner secret question",
    "Owner secret answer",
    "Owner secret prompt",
    "Owner secret note",
    "Owner secret preset",
    "Owner secret file",
)


def _walk(patterns, prefix="", namespace="", params=()):
    """(full name, view, path parameters) of every pattern under `patterns`."""
    for entry in patterns:
        here = (*params, *getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace == "admin":
                # The admin's own pages are Django's; its root must refuse non-staff.
                for pattern in entry.url_patterns:
                    if isinstance(pattern, URLPattern) and pattern.name == "index":
                        yield f"{inner}index", pattern.callback, here
                continue
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner, here)
        elif isinstance(entry, URLPattern):
            if entry.callback.__module__.startswith(("django.views.static", "django.contrib.staticfiles")):
                continue  # Django's static and media files
            assert entry.name, f"the pattern {prefix}{entry.pattern} has no name: give it one"
            yield f"{namespace}{entry.name}", entry.callback, here


def allowed_methods(view):
    """The methods a view takes: those of its require_http_methods, its class's, or all."""
    if view_class := getattr(view, "view_class", None):
        names = view_class.http_method_names
        return tuple(m for m in METHODS if m.lower() in names and hasattr(view_class, m.lower()))
    seen = set()
    while view is not None and id(view) not in seen:
        seen.add(id(view))
        for cell in getattr(view, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v.isupper() for v in value):
                return tuple(m for m in METHODS if m in value)
        view = getattr(view, "__wrapped__", None)
    return METHODS


WALKED = list(_walk(get_resolver().url_patterns))
PATTERNS = {name: view for name, view, _ in WALKED}
PARAMS = {name: params for name, _, params in WALKED}
CALLS = [(name, method) for name, view in sorted(PATTERNS.items()) for method in allowed_methods(view)]
OWNER_CALLS = [(name, method) for name, method in CALLS if name in OWN | PRIVATE]
WRITE_CALLS = [(name, method) for name, method in CALLS if method in WRITES]


@pytest.fixture
def rows(owner):
    conversation = Conversation.objects.create(
        owner=owner, model="fake-model", title="Owner secret title", system_prompt="Owner secret prompt"
    )
    question = conversation.messages.create(role="user", content="Owner secret question")
    answer = conversation.messages.create(role="assistant", content="Owner secret answer", status="complete")
    Feedback.objects.create(message=answer, user=owner, rating="down", note="Owner secret note")
    token, _secret = tokens.create(owner.pk, name="Owner's script")
    # Shared: its page is at a key nobody is given here (url_of names another).
    Share.objects.create(conversation=conversation, key="s" * 32, title="Owner secret title", last_message_id=answer.pk)
    Preset.objects.create(owner=owner, name="Owner's preset", system_prompt="Owner secret preset")
    # Sent with the question: DELETE refuses it (400), and GET serves it to the owner alone.
    attachment = Attachment(
        owner=owner, message=question, name="notes.txt", size=17, content_type="text/plain", kind="document"
    )
    attachment.text = "Owner secret file"
    attachment.file.save("notes.txt", ContentFile(b"Owner secret file"), save=True)
    return conversation, question, answer, token


def url_of(name, rows):
    conversation, question, answer, token = rows
    kwargs = {}
    for param in PARAMS[name]:
        if param == "conversation_id":
            kwargs[param] = conversation.pk
        elif param == "message_id":
            kwargs[param] = (question if name in QUESTION_ID else answer).pk
        elif param == "token_id":
            kwargs[param] = token.pk
        elif param == "file_id":
            kwargs[param] = Attachment.objects.get(owner=conversation.owner).pk
        elif param == "preset_id":
            kwargs[param] = Preset.objects.get(owner=conversation.owner).pk
        elif param == "key":
            kwargs[param] = "k" * 32  # a share's page of nobody's: the key is its only protection
        elif param == "uidb64":  # a password reset link's, for the owner
            kwargs[param] = urlsafe_base64_encode(force_bytes(conversation.owner_id))
        elif param == "token":
            kwargs[param] = "set-password"
        else:
            pytest.fail(f"{name}: no id to fill its path parameter {param!r} with; add it to url_of()")
    return reverse(name, kwargs=kwargs)


def snapshot(owner):
    """Everything of the owner's, to compare before and after a call."""
    conversations = list(Conversation.objects.filter(owner=owner).order_by("pk").values())
    messages = list(Message.objects.filter(conversation__owner=owner).order_by("pk").values())
    user = get_user_model().objects.filter(pk=owner.pk).values().first()
    api_tokens = list(ApiToken.objects.filter(user=owner).order_by("pk").values())
    feedback = list(Feedback.objects.filter(message__conversation__owner=owner).order_by("pk").values())
    shared = list(Share.objects.filter(conversation__owner=owner).order_by("pk").values())
    profile = Profile.objects.filter(user=owner).values().first()
    presets = list(Preset.objects.filter(owner=owner).order_by("pk").values())
    attachments = list(Attachment.objects.filter(owner=owner).order_by("pk").values())
    return conversations, messages, user, api_tokens, feedback, shared, profile, presets, attachments


def call(client, method, url, body=None, **extra):
    if method == "GET":
        return client.get(url, **extra)
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json", **extra)


async def read_whole(response):
    return b"".join([chunk async for chunk in response.streaming_content])


def text_of(response):
    if response.streaming:
        if response.headers.get("Content-Disposition", "").startswith("attachment"):
            return async_to_sync(read_whole)(response).decode(errors="replace")
        # An answer's stream is only ever for the owner; nobody else reads one (asserted by the callers).
        return ""
    return response.content.decode(errors="replace")


def assert_no_secrets(response, who):
    body = text_of(response)
    leaked = [secret for secret in SECRETS if secret in body]
    assert not leaked, f"{who} got {leaked} with {response.status_code}"


def test_every_pattern_is_classified():
    names = [name for name, _, _ in WALKED]
    assert len(names) == len(set(names)), f"two patterns share a name: {sorted(names)}"
    unclassified = set(PATTERNS) - CLASSIFIED
    assert not unclassified, f"new URL patterns: say in this test who may call them: {sorted(unclassified)}"
    gone = CLASSIFIED - set(PATTERNS)
    assert not gone, f"classified patterns that no longer exist: {sorted(gone)}"
    # The walk found the views' methods (a view without require_http_methods takes them all).
    assert allowed_methods(PATTERNS["chat:api-conversation"]) == ("GET", "PATCH", "DELETE")
    assert allowed_methods(PATTERNS["chat:api-send-message"]) == ("POST",)
    assert allowed_methods(PATTERNS["chat:api-stream"]) == ("GET",)


@pytest.mark.parametrize(("name", "method"), OWNER_CALLS, ids=[f"{n}-{m}" for n, m in OWNER_CALLS])
def test_the_owner_reaches_their_own(name, method, owner, rows, upstream):
    client = Client()
    client.force_login(owner)
    response = call(client, method, url_of(name, rows), OWNER_BODY.get(name))
    # The call got past sign-in and ownership (400: the harmless bodies above are refused).
    if name in FORM_POSTS:
        assert response.status_code == 302 and not response["Location"].startswith(reverse(settings.LOGIN_URL))
        return
    assert response.status_code in (200, 201, 204, 400), (name, method, response.status_code, text_of(response))


def assert_refused_if_admin_or_keyed(name, method, response):
    """The admin sends a stranger to its login; a keyed endpoint refuses one without its key."""
    status = response.status_code
    if name in ADMIN:
        assert status == 302 and response["Location"].startswith(reverse("admin:login")), (name, method, status)
    elif name in KEYED:
        assert status in KEYED[name], (name, method, status)


def assert_nothing_reached(response, owner, before, upstream, who):
    """`who` was streamed nothing, read nothing secret, changed none of the owner's rows and
    reached no provider."""
    if response.streaming and not response.headers.get("Content-Disposition", "").startswith("attachment"):
        assert not 200 <= response.status_code < 300, f"{who}: was streamed something"
    assert_no_secrets(response, who)
    assert snapshot(owner) == before, f"{who}: changed the owner's rows"
    assert not upstream.chat_requests, f"{who}: the call reached the provider"


@pytest.mark.parametrize(("name", "method"), CALLS, ids=[f"{n}-{m}" for n, m in CALLS])
def test_another_person_gets_nothing_of_the_owners(name, method, owner, outsider, rows, upstream):
    client = Client()
    client.force_login(outsider)
    before = snapshot(owner)
    response = call(client, method, url_of(name, rows), OUTSIDER_BODY.get(name))
    status = response.status_code
    if name in OWN:
        assert status in (403, 404, 405), (name, method, status, text_of(response))
    else:
        assert_refused_if_admin_or_keyed(name, method, response)
    assert_nothing_reached(response, owner, before, upstream, f"another person ({name} {method})")


@pytest.mark.parametrize(("name", "method"), CALLS, ids=[f"{n}-{m}" for n, m in CALLS])
def test_nobody_signed_in_gets_nothing(name, method, owner, rows, upstream):
    client = Client()
    before = snapshot(owner)
    url = url_of(name, rows)
    response = call(client, method, url, OUTSIDER_BODY.get(name))
    status = response.status_code
    if name in OWN | PRIVATE:
        if url.startswith("/api/"):
            assert status == 401, (name, method, status)
            assert response["Content-Type"] == "application/json" and "error" in response.json()
        else:
            assert status == 302, (name, method, status)
            assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next=")
    else:
        assert_refused_if_admin_or_keyed(name, method, response)
    assert_nothing_reached(response, owner, before, upstream, f"somebody signed out ({name} {method})")


def everything():
    return (
        list(Conversation.objects.order_by("pk").values()),
        list(Message.objects.order_by("pk").values()),
        list(get_user_model().objects.order_by("pk").values()),
        list(Feedback.objects.order_by("pk").values()),
        list(Preset.objects.order_by("pk").values()),
        list(Attachment.objects.order_by("pk").values()),
    )


@pytest.mark.parametrize(("name", "method"), WRITE_CALLS, ids=[f"{n}-{m}" for n, m in WRITE_CALLS])
def test_every_write_needs_the_csrf_token(name, method, owner, rows, upstream):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = url_of(name, rows)
    body = OWNER_BODY.get(name)
    before = everything()
    response = call(client, method, url, body)
    if name in CSRF_EXEMPT:
        # No cookie authenticates it: without the demo's key it is refused all the same.
        assert response.status_code == 401, (name, method, response.status_code)
    else:
        assert response.status_code == 403, (name, method, response.status_code)
        if url.startswith("/api/"):
            assert "CSRF" in response.json()["error"]
    assert everything() == before, f"{name} {method}: a write without the CSRF token changed something"

    token = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    response = call(client, method, url, body, HTTP_X_CSRFTOKEN=token)
    assert response.status_code != 403 or name in KEYED, (name, method, response.status_code, text_of(response))
    assert not upstream.chat_requests


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signup_when_enabled_shows_nobody_anything(method, owner, outsider, rows, settings):
    settings.SIGNUP_ENABLED = True
    before = snapshot(owner)
    response = call(Client(), method, reverse("signup"), {"username": "owner"})
    assert response.status_code == 200
    assert_no_secrets(response, f"anonymous (signup {method})")
    client = Client()
    client.force_login(outsider)
    assert call(client, method, reverse("signup")).status_code == 302
    assert snapshot(owner) == before
