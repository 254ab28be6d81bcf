"""
The OpenAI-compatible API, used as clients use it: the real openai SDK pointed at the live
server with a personal token. Same limits, usage and history as the page.
"""

import re
from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from chat import tokens
from chat.models import Allowance, ApiToken, Conversation, Message, Usage
from tests.support import canary
from tests.support.fake_upstream import Script
from tests.support.live import LiveClient, read_until, text_of


@pytest.fixture
def personal_token(owner):
    row, secret = tokens.create(owner.pk, name="My editor")
    return row, secret


@pytest.fixture
def sdk(asgi_server, live, personal_token):
    """The openai SDK, as a client program is set up: the base URL and a personal token."""

    def make(api_key=None):
        return openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=api_key or personal_token[1], max_retries=0)

    return make


def test_it_streams_a_chat_completion_in_openais_shape(sdk, owner, upstream, personal_token):
    stream = sdk().chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "t0 t1 t2 t3 t4 "
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.created > 0 and c.model == "fake-model" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 11 and chunks[-1].usage.completion_tokens == 5

    # Kept as a conversation of the person's, marked as coming through the token.
    conversation = Conversation.objects.get(owner=owner)
    assert conversation.api_token_id == personal_token[0].pk
    assert [m.content for m in conversation.messages.order_by("id")] == ["Hello there", "t0 t1 t2 t3 t4 "]
    row = Usage.objects.get(user=owner)
    assert (row.token_id, row.prompt_tokens, row.completion_tokens) == (personal_token[0].pk, 11, 5)


def test_it_answers_a_whole_chat_completion(sdk, owner, upstream):
    upstream.push(Script(words=["Bonjour", "!"], reasoning=["Thinking."]))
    completion = sdk().chat.completions.create(
        model="fake-model", messages=[{"role": "system", "content": "Be French."}, {"role": "user", "content": "Hi"}]
    )
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content == "Bonjour!"
    assert completion.choices[0].message.model_extra["reasoning_content"] == "Thinking."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 11 + 2
    assert Conversation.objects.get(owner=owner).system_prompt == "Be French."


def test_reasoning_streams_as_reasoning_content(sdk, upstream):
    upstream.push(Script(words=["Answer."], reasoning=["Let me ", "think."]))
    chunks = list(
        sdk().chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "?"}], stream=True)
    )
    reasoning = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks if c.choices)
    assert reasoning == "Let me think."


def test_the_clients_parameters_reach_the_provider_and_the_token_does_not(sdk, upstream, personal_token):
    sdk().chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["\n\n"],
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.3,
        user="someone",
    )
    [request] = upstream.streamed_requests
    body = request.body
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"]) == (0.2, 0.9, 50, ["\n\n"])
    assert (body["seed"], body["presence_penalty"], body["frequency_penalty"], body["user"]) == (7, 0.1, 0.3, "someone")
    # The provider sees its own key, never the person's token.
    assert request.headers["authorization"] == f"Bearer {canary.KEY}"
    assert personal_token[1] not in str(request.headers) + str(body)


def test_a_second_turn_continues_the_same_conversation(sdk, owner, upstream):
    client = sdk()
    first = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "One"}])
    history = [
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Two"},
    ]
    client.chat.completions.create(model="fake-model", messages=history)
    conversation = Conversation.objects.get(owner=owner)
    assert [m.content for m in conversation.messages.order_by("id")][::2] == ["One", "Two"]
    # What the client sent went upstream as it was.
    assert upstream.streamed_requests[-1].body["messages"] == history

    # A different history is a new conversation.
    client.chat.completions.create(
        model="fake-model", messages=[*history[:1], {"role": "assistant", "content": "edited"}, history[2]]
    )
    assert Conversation.objects.filter(owner=owner).count() == 2


def test_it_lists_the_models_the_person_and_the_token_may_use(sdk, owner):
    assert [m.id for m in sdk().models.list()] == ["fake-model", "fake-other", "demo"]
    Allowance.objects.create(user=owner, allowed_models="fake-model\nfake-other")
    _row, narrower = tokens.create(owner.pk, name="Only one", models=["fake-other"])
    assert [m.id for m in sdk().models.list()] == ["fake-model", "fake-other"]
    assert [m.id for m in sdk(narrower).models.list()] == ["fake-other"]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        sdk(narrower).chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Hi"}])
    assert refused.value.code == "model_not_allowed"


def test_a_revoked_expired_or_wrong_token_is_refused(sdk, owner, personal_token, upstream):
    def ask(key):
        return sdk(key).chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Hi"}])

    for key in ("sk-chat-not-a-token", "not even a token"):
        with pytest.raises(openai.AuthenticationError) as refused:
            ask(key)
        assert refused.value.code == "invalid_api_key"
    row, secret = personal_token
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError):
        ask(secret)
    ApiToken.objects.filter(pk=row.pk).update(expires_at=None)
    ask(secret)
    tokens.revoke(owner.pk, row.pk)
    with pytest.raises(openai.AuthenticationError):
        ask(secret)
    assert Message.objects.count() == 2
    assert len(upstream.streamed_requests) == 1


def test_an_inactive_users_tokens_stop_working_at_once(sdk, owner):
    owner.is_active = False
    owner.save()
    with pytest.raises(openai.AuthenticationError):
        sdk().models.list()


def test_an_unknown_model_is_not_found(sdk):
    with pytest.raises(openai.NotFoundError) as refused:
        sdk().chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "Hi"}])
    assert refused.value.code == "model_not_found"
    assert Message.objects.count() == 0


def test_limits_and_quotas_are_the_pages(sdk, owner, upstream, settings):
    settings.CHAT_RATE_LIMIT = 1
    client = sdk()
    client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Again"}])
    assert refused.value.code == "rate_limit_exceeded"
    assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 60

    settings.CHAT_RATE_LIMIT, settings.CHAT_DAILY_TOKEN_QUOTA = 0, 10
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Again"}])
    assert refused.value.code == "insufficient_quota" and refused.value.type == "insufficient_quota"
    assert Message.objects.count() == 2


def test_bad_input_is_a_bad_request(sdk, upstream):
    client = sdk()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="fake-model",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data"}},
                    ],
                }
            ],
        )
    assert "data: URLs" in refused.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake-model", messages=[{"role": "assistant", "content": "Hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake-model", messages=[])
    assert Message.objects.count() == 0 and not upstream.chat_requests


def test_a_session_cookie_alone_is_refused(live, owner, upstream):
    client = live(owner)
    status, body = client.json("GET", "/v1/models")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = client.json("POST", "/v1/chat/completions", {"model": "fake-model", "messages": []})
    assert status == 401


def test_the_json_api_takes_a_token_without_csrf(asgi_server, live, owner, outsider, personal_token, upstream):
    Conversation.objects.create(owner=outsider, title="Not yours", model="fake-model")
    client = LiveClient(asgi_server.url)  # no session, no CSRF token
    headers = {"Authorization": f"Bearer {personal_token[1]}"}
    status, created = client.json("POST", "/api/chats/", {"title": "From a script"}, headers=headers, csrf=False)
    assert status == 201
    status, listed = client.json("GET", "/api/chats/", headers=headers, csrf=False)
    assert [c["title"] for c in listed["results"]] == ["From a script"]
    # The streaming endpoints too (their views read the token in their own database hop).
    stream = client.open(
        "POST", f"/api/chats/{created['id']}/messages/", {"content": "Hi"}, headers=headers, csrf=False
    )
    assert stream.status == 200 and stream.events()[-1].name == "done"
    stream.close()
    # A wrong token is nobody, whatever else the request carries.
    status, _ = client.json("GET", "/api/chats/", headers={"Authorization": "Bearer sk-chat-wrong"}, csrf=False)
    assert status == 401


def test_tokens_are_made_listed_and_revoked_through_the_api(live, owner, outsider):
    client = live(owner)
    status, made = client.json("POST", "/api/tokens/", {"name": "Laptop", "models": ["fake-model"]})
    assert status == 201 and made["token"].startswith("sk-chat-") and made["models"] == ["fake-model"]
    row = ApiToken.objects.get(pk=made["id"])
    # Stored as a digest: the token itself is nowhere in the database.
    assert made["token"] not in str(ApiToken.objects.filter(pk=row.pk).values().get())
    assert row.digest == tokens.digest(made["token"]) and made["token"].startswith(row.prefix)
    status, listed = client.json("GET", "/api/tokens/")
    assert [t["name"] for t in listed["results"]] == ["Laptop"] and "token" not in listed["results"][0]
    assert live(outsider).json("DELETE", f"/api/tokens/{row.pk}/")[0] == 404
    assert client.json("DELETE", f"/api/tokens/{row.pk}/")[0] == 204
    assert client.json("GET", "/api/tokens/")[1] == {"results": []}
    assert client.json("POST", "/api/tokens/", {"name": ""})[0] == 400
    status, body = client.json("POST", "/api/tokens/", {"name": "x", "expires_at": "2020-01-01T00:00:00Z"})
    assert status == 400 and body["field"] == "expires_at"


def test_without_saved_history_only_the_usage_remains(sdk, owner, upstream, settings):
    settings.CHAT_API_SAVES_HISTORY = False
    sdk().chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "Forget me"}])
    from tests.support.servers import wait_until_idle

    wait_until_idle()
    deadline = timezone.now() + timedelta(seconds=5)
    while Conversation.objects.exists() and timezone.now() < deadline:
        pass
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert Usage.objects.get(user=owner).completion_tokens == 5


def test_staff_list_and_revoke_anyones_tokens_in_the_admin(admin_client, owner, personal_token):
    row, secret = personal_token
    page = admin_client.get("/admin/chat/apitoken/")
    assert page.status_code == 200 and "My editor" in page.content.decode()
    assert secret not in page.content.decode() and row.digest not in page.content.decode()
    assert secret not in admin_client.get(f"/admin/chat/apitoken/{row.pk}/change/").content.decode()
    response = admin_client.post(
        "/admin/chat/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    assert tokens.authenticate(secret) is None
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None


def test_the_page_follows_an_api_answer_live_and_a_client_that_hangs_up_still_has_it_saved(
    asgi_server, live, owner, upstream, script, personal_token
):
    held = script(tokens=6, hold_at=2)
    upstream.push(held)
    api = LiveClient(asgi_server.url)
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "A long story"}]}
    stream = api.open(
        "POST", "/v1/chat/completions", body, headers={"Authorization": f"Bearer {personal_token[1]}"}, csrf=False
    )
    assert stream.status == 200
    first = stream.response.read1(65536).decode()
    answer_id = int(re.search(r'"id":"chatcmpl-(\d+)"', first).group(1))
    stream.close()  # the client hangs up: the answer goes on

    page = live(owner).open("GET", f"/api/messages/{answer_id}/stream/")
    events = iter(page)
    assert next(events).name == "meta"
    read_until(events, lambda seen: text_of(seen) == "t0 t1 ")
    held.release.set()
    rest = list(events)
    page.close()
    assert rest[-1].name == "done"
    answer = Message.objects.get(pk=answer_id)
    assert (answer.status, answer.content) == ("complete", "t0 t1 t2 t3 t4 t5 ")
