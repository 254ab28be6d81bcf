"""The JSON API: conversations, ownership, CSRF and bad input."""

import json

import pytest
from django.test import Client

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def call(client, method, url, body=None):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, json.dumps(body or {}), content_type="application/json")


def post_json(client, url, data, **extra):
    return client.post(
        url, json.dumps(data) if not isinstance(data, str) else data, content_type="application/json", **extra
    )


@pytest.fixture
def conversation(owner):
    chat = Conversation.objects.create(owner=owner, model="fake-model", title="Owner's chat")
    chat.messages.create(role="user", content="Secret question")
    chat.messages.create(role="assistant", content="Secret answer", status="complete")
    return chat


def test_it_creates_a_conversation_with_model_and_system_prompt(owner_client, owner):
    response = post_json(owner_client, "/api/chats/", {"model": "fake-other", "system_prompt": "Be terse."})
    assert response.status_code == 201
    chat = Conversation.objects.get(pk=response.json()["id"])
    assert (chat.owner, chat.model, chat.system_prompt) == (owner, "fake-other", "Be terse.")


def test_it_uses_the_default_model_when_none_is_given(owner_client):
    response = post_json(owner_client, "/api/chats/", {})
    assert Conversation.objects.get(pk=response.json()["id"]).model == "fake-model"


def test_it_lists_only_the_users_conversations_newest_first(owner_client, owner, outsider, conversation):
    newer = Conversation.objects.create(owner=owner, model="fake-model", title="Newer")
    Conversation.objects.create(owner=outsider, model="fake-model", title="Not yours")
    data = owner_client.get("/api/chats/").json()
    assert [c["id"] for c in data["results"]] == [newer.pk, conversation.pk]
    assert data["next_page"] is None


def test_it_paginates_the_list(owner_client, owner, settings):
    settings.CHAT_PAGE_SIZE = 2
    for i in range(5):
        Conversation.objects.create(owner=owner, model="fake-model", title=f"chat {i}")
    first = owner_client.get("/api/chats/").json()
    last = owner_client.get("/api/chats/?page=3").json()
    assert [c["title"] for c in first["results"]] == ["chat 4", "chat 3"] and first["next_page"] == 2
    assert [c["title"] for c in last["results"]] == ["chat 0"] and last["next_page"] is None


def test_it_filters_the_list_by_title(owner_client, owner, conversation):
    Conversation.objects.create(owner=owner, model="fake-model", title="Bread recipes")
    data = owner_client.get("/api/chats/?q=bread").json()
    assert [c["title"] for c in data["results"]] == ["Bread recipes"]


def test_it_shows_a_conversation_with_its_messages_in_order(owner_client, conversation):
    data = owner_client.get(f"/api/chats/{conversation.pk}/").json()
    assert data["title"] == "Owner's chat"
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("user", "Secret question"),
        ("assistant", "Secret answer"),
    ]


def test_it_renames_and_deletes_a_conversation(owner_client, conversation):
    response = owner_client.patch(
        f"/api/chats/{conversation.pk}/", json.dumps({"title": "Renamed"}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["title"] == "Renamed"
    assert owner_client.delete(f"/api/chats/{conversation.pk}/").status_code == 204
    assert not Conversation.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/chats/{id}/"),
        ("patch", "/api/chats/{id}/"),
        ("delete", "/api/chats/{id}/"),
        ("post", "/api/chats/{id}/messages/"),
        ("get", "/c/{id}/"),
    ],
)
def test_it_rejects_other_users_conversation(outsider_client, conversation, method, url):
    response = call(outsider_client, method, url.format(id=conversation.pk), {"content": "hi", "title": "x"})
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.json() == {"error": "Not found."}
    assert Conversation.objects.get(pk=conversation.pk).title == "Owner's chat"
    assert conversation.messages.count() == 2


@pytest.mark.parametrize("url", ["/api/messages/{answer}/stop/", "/api/messages/{answer}/stream/"])
def test_it_rejects_other_users_messages(outsider_client, conversation, url):
    answer = conversation.messages.get(role="assistant")
    method = outsider_client.post if "stop" in url else outsider_client.get
    assert method(url.format(answer=answer.pk)).status_code == 404


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/chats/"),
        ("post", "/api/chats/"),
        ("get", "/api/chats/{id}/"),
        ("post", "/api/chats/{id}/messages/"),
        ("post", "/api/messages/{answer}/stop/"),
        ("get", "/api/messages/{answer}/stream/"),
    ],
)
def test_anonymous_api_calls_get_401_json(client, conversation, method, url):
    answer = conversation.messages.get(role="assistant")
    response = call(client, method, url.format(id=conversation.pk, answer=answer.pk))
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication required."}


@pytest.mark.parametrize("url", ["/", "/c/1/"])
def test_anonymous_pages_redirect_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", "/api/chats/"),
        ("patch", "/api/chats/{id}/"),
        ("delete", "/api/chats/{id}/"),
        ("post", "/api/chats/{id}/messages/"),
        ("post", "/api/messages/{answer}/stop/"),
    ],
)
def test_csrf_is_enforced_on_every_write(owner, conversation, method, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    answer = conversation.messages.get(role="assistant")
    response = call(client, method, url.format(id=conversation.pk, answer=answer.pk), {"content": "hi"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert Conversation.objects.count() == 1 and conversation.messages.count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"content": ""}, "content"),
        ({"content": "   \n\t "}, "content"),
        ({"content": "x" * 101}, "content"),
        ({"content": 42}, "content"),
        ({}, "content"),
        ({"content": "hi", "model": "gpt-unknown"}, "model"),
    ],
)
def test_bad_messages_get_a_clear_error_and_change_nothing(owner_client, conversation, settings, body, field):
    settings.CHAT_MAX_PROMPT_CHARS = 100
    response = post_json(owner_client, f"/api/chats/{conversation.pk}/messages/", body)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"]
    assert conversation.messages.count() == 2
    assert Conversation.objects.get(pk=conversation.pk).model == "fake-model"


def test_errors_are_told_in_the_language_of_the_page(owner_client, conversation, settings):
    settings.CHAT_MAX_PROMPT_CHARS = 100
    url = f"/api/chats/{conversation.pk}/messages/"
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.8"}
    too_long = post_json(owner_client, url, {"content": "x" * 101}, **chinese)
    assert too_long.status_code == 400
    assert too_long.json() == {"error": "“content”超过了 100 个字符的上限。", "field": "content"}
    assert post_json(owner_client, url, "{not json", **chinese).json()["error"] == "请求内容不是有效的 JSON。"
    assert post_json(owner_client, url, {"content": ""}).json()["error"] == "'content' must not be empty."
    assert conversation.messages.count() == 2


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_malformed_json_gets_a_clear_error(owner_client, conversation, raw):
    response = post_json(owner_client, f"/api/chats/{conversation.pk}/messages/", raw)
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    response = post_json(owner_client, "/api/chats/", raw)
    assert response.status_code == 400
    assert conversation.messages.count() == 2 and Conversation.objects.count() == 1


def test_creating_with_an_unknown_model_is_refused(owner_client):
    response = post_json(owner_client, "/api/chats/", {"model": "nope"})
    assert response.status_code == 400 and response.json()["field"] == "model"
    assert not Conversation.objects.exists()


def test_wrong_methods_are_refused(owner_client, conversation):
    assert owner_client.get(f"/api/chats/{conversation.pk}/messages/").status_code == 405
    assert owner_client.put("/api/chats/").status_code == 405


def test_every_response_is_private_to_proxies(owner_client, client, conversation):
    for response in (owner_client.get("/api/chats/"), owner_client.get("/"), client.get("/accounts/login/")):
        assert response["X-Accel-Expires"] == "0"
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]


def test_the_list_takes_a_constant_number_of_queries(owner_client, owner, django_assert_max_num_queries):
    Conversation.objects.bulk_create(Conversation(owner=owner, model="fake-model", title=f"c{i}") for i in range(120))
    with django_assert_max_num_queries(3):
        assert len(owner_client.get("/api/chats/").json()["results"]) == 50


def test_a_long_conversation_takes_a_constant_number_of_queries(
    owner_client, owner, django_assert_max_num_queries, warm_catalogue
):
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    Message.objects.bulk_create(Message(conversation=chat, role="user", content=f"m{i}") for i in range(300))
    with django_assert_max_num_queries(4):
        assert len(owner_client.get(f"/api/chats/{chat.pk}/").json()["messages"]) == 300


@pytest.mark.parametrize(
    ("method", "url", "raw"),
    [
        ("post", "/api/chats/", '{"title": "\\ud800"}'),
        ("patch", "/api/chats/{id}/", '{"title": "\\udfff and more"}'),
        ("patch", "/api/chats/{id}/", '{"system_prompt": "\\ud83d"}'),
        ("post", "/api/chats/{id}/messages/", '{"content": "a lone \\ud800 surrogate"}'),
        ("post", "/api/chats/{id}/messages/", "[" * 100_000),
        ("post", "/api/chats/", '{"title": ' * 50_000 + "1" + "}" * 50_000),
    ],
)
def test_input_no_database_can_store_is_refused_and_changes_nothing(owner_client, conversation, method, url, raw):
    response = getattr(owner_client, method)(url.format(id=conversation.pk), raw, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"]
    conversation.refresh_from_db()
    assert (conversation.title, conversation.system_prompt) == ("Owner's chat", "")
    assert conversation.messages.count() == 2 and Conversation.objects.count() == 1


@pytest.mark.parametrize("page", ["1e20", "-1e3", "abc", str(10**20), str(2**63)])
def test_a_page_number_out_of_reach_is_a_clear_error(owner_client, conversation, page):
    response = owner_client.get("/api/chats/", {"page": page})
    assert response.status_code == 400 and response.json()["field"] == "page"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/chats/1e20/"),
        ("get", f"/api/chats/{10**20}/"),
        ("delete", f"/api/chats/{2**63}/"),
        ("post", f"/api/chats/{10**20}/messages/"),
        ("get", f"/api/messages/{10**20}/stream/"),
        ("post", f"/api/messages/{2**64}/stop/"),
        ("get", f"/c/{10**20}/"),
    ],
)
def test_an_id_out_of_range_is_not_found(owner_client, conversation, method, url):
    response = call(owner_client, method, url, {"content": "Hello?"})
    assert response.status_code == 404
    assert conversation.messages.count() == 2 and Conversation.objects.count() == 1
