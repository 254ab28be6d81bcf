"""A conversation's own temperature and longest answer: set through the API, sent upstream."""

import json

import pytest

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def patch(client, conversation_id, body):
    return client.patch(f"/api/chats/{conversation_id}/", json.dumps(body), content_type="application/json")


@pytest.fixture
def chat(owner):
    return Conversation.objects.create(owner=owner, model="fake-model", title="Owner's chat")


def test_a_new_conversation_takes_its_temperature_and_longest_answer(owner_client):
    response = owner_client.post(
        "/api/chats/", json.dumps({"temperature": 0.7, "max_tokens": 300}), content_type="application/json"
    )
    assert response.status_code == 201
    assert (response.json()["temperature"], response.json()["max_tokens"]) == (0.7, 300)
    chat = Conversation.objects.get(pk=response.json()["id"])
    assert (chat.temperature, chat.max_tokens) == (0.7, 300)


def test_a_conversation_without_them_has_the_models_defaults(owner_client, chat):
    data = owner_client.get(f"/api/chats/{chat.pk}/").json()
    assert (data["temperature"], data["max_tokens"]) == (None, None)


def test_patch_changes_them_and_null_gives_back_the_models_default(owner_client, chat):
    data = patch(owner_client, chat.pk, {"temperature": 0, "max_tokens": 1}).json()
    assert (data["temperature"], data["max_tokens"]) == (0, 1)
    # A PATCH without them leaves them as they are.
    assert patch(owner_client, chat.pk, {"title": "Renamed"}).json()["temperature"] == 0
    data = patch(owner_client, chat.pk, {"temperature": None, "max_tokens": None}).json()
    assert (data["temperature"], data["max_tokens"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": "0.5"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 10.5}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"title": "Changed too", "max_tokens": 501}, "max_tokens"),
    ],
)
def test_bad_values_are_refused_clearly_and_change_nothing(owner_client, chat, settings, body, field):
    settings.CHAT_MAX_TOKENS = 500  # the model's limit
    patch(owner_client, chat.pk, {"temperature": 1.2, "max_tokens": 200})
    response = patch(owner_client, chat.pk, body)
    assert response.status_code == 400
    assert response.json()["field"] == field and field in response.json()["error"]
    chat.refresh_from_db()
    assert (chat.title, chat.temperature, chat.max_tokens) == ("Owner's chat", 1.2, 200)
    created = owner_client.post("/api/chats/", json.dumps(body), content_type="application/json")
    assert created.status_code == 400 and Conversation.objects.count() == 1


def test_the_longest_answer_is_at_most_the_models_limit(owner_client, chat, settings):
    settings.CHAT_MAX_TOKENS = 500
    assert patch(owner_client, chat.pk, {"max_tokens": 500}).status_code == 200
    response = patch(owner_client, chat.pk, {"max_tokens": 501})
    assert response.json()["error"] == "'max_tokens' must be at most 500, the most this model answers with."


def test_another_users_conversation_settings_cannot_be_changed(outsider_client, chat):
    assert patch(outsider_client, chat.pk, {"temperature": 1.5}).status_code == 404
    chat.refresh_from_db()
    assert chat.temperature is None


@pytest.mark.django_db(transaction=True)
def test_the_answers_of_a_conversation_go_upstream_with_its_temperature_and_longest_answer(live, owner, upstream):
    client = live(owner)
    tuned = client.create_conversation(temperature=0.3, max_tokens=120)
    plain = client.create_conversation()

    for conversation_id in (tuned, plain):
        assert [e.name for e in client.ask(conversation_id, "Hello")][-1] == "done"
    to_tuned, to_plain = upstream.streamed_requests
    assert (to_tuned.body["temperature"], to_tuned.body["max_tokens"]) == (0.3, 120)
    assert "temperature" not in to_plain.body and "max_tokens" not in to_plain.body

    # Changed mid-conversation: the next answer, and a regenerated one, follow the change.
    status, data = client.json("PATCH", f"/api/chats/{tuned}/", {"temperature": 1.5, "max_tokens": None})
    assert status == 200
    answer_id = data["messages"][-1]["id"]
    stream = client.open("POST", f"/api/messages/{answer_id}/regenerate/", {})
    assert [e.name for e in stream.events()][-1] == "done"
    again = upstream.streamed_requests[-1]
    assert again.body["temperature"] == 1.5 and "max_tokens" not in again.body


@pytest.mark.django_db(transaction=True)
def test_a_longest_answer_over_a_newly_picked_models_limit_is_capped_to_it(live, owner, upstream, settings):
    client = live(owner)
    conversation_id = client.create_conversation(max_tokens=4000)
    settings.CHAT_MAX_TOKENS = 1000
    assert [e.name for e in client.ask(conversation_id, "Hello")][-1] == "done"
    assert upstream.streamed_requests[0].body["max_tokens"] == 1000
