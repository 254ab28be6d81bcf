"""Thumbs up or down on an answer, with a note: the API, ownership, bad input and the admin."""

import json
import re

import pytest

from chat.models import Conversation, Feedback

pytestmark = pytest.mark.django_db


def put(client, message_id, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.put(f"/api/messages/{message_id}/feedback/", data, content_type="application/json")


def delete(client, message_id):
    return client.delete(f"/api/messages/{message_id}/feedback/")


@pytest.fixture
def chat(owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title="Owner's chat")
    conversation.messages.create(role="user", content="Secret question")
    conversation.messages.create(role="assistant", content="Secret answer", model="fake-model")
    return conversation


@pytest.fixture
def answer(chat):
    return chat.messages.get(role="assistant")


@pytest.fixture
def question(chat):
    return chat.messages.get(role="user")


def shown(client, chat):
    """The messages' feedback as the conversation's JSON shows it."""
    return [m["feedback"] for m in client.get(f"/api/chats/{chat.pk}/").json()["messages"]]


def test_an_answer_is_rated_and_the_conversation_shows_the_rating(owner_client, owner, chat, answer):
    response = put(owner_client, answer.pk, {"rating": "down", "note": "  Made up a library.  "})
    assert response.status_code == 200
    assert response.json()["rating"] == "down" and response.json()["note"] == "Made up a library."
    feedback = Feedback.objects.get()
    assert (feedback.message, feedback.user, feedback.rating) == (answer, owner, "down")
    assert shown(owner_client, chat) == [None, {"rating": "down", "note": "Made up a library."}]


def test_rating_again_replaces_the_rating_and_its_note(owner_client, chat, answer):
    put(owner_client, answer.pk, {"rating": "down", "note": "Wrong"})
    response = put(owner_client, answer.pk, {"rating": "up"})
    assert response.status_code == 200
    assert list(Feedback.objects.values_list("rating", "note")) == [("up", "")]
    assert shown(owner_client, chat) == [None, {"rating": "up", "note": ""}]


def test_a_rating_is_taken_back_with_delete(owner_client, chat, answer):
    put(owner_client, answer.pk, {"rating": "up", "note": "Spot on"})
    assert delete(owner_client, answer.pk).status_code == 204
    assert not Feedback.objects.exists()
    assert shown(owner_client, chat) == [None, None]
    # Nothing to take back: the same answer.
    assert delete(owner_client, answer.pk).status_code == 204


def test_it_rejects_rating_another_users_answer(outsider_client, owner_client, answer):
    put(owner_client, answer.pk, {"rating": "up"})
    assert put(outsider_client, answer.pk, {"rating": "down"}).status_code == 404
    assert delete(outsider_client, answer.pk).status_code == 404
    assert list(Feedback.objects.values_list("rating", flat=True)) == ["up"]


def test_a_question_cannot_be_rated(owner_client, question):
    response = put(owner_client, question.pk, {"rating": "up"})
    assert response.status_code == 400
    assert response.json()["error"] == "Only answers can be rated, not questions."
    assert delete(owner_client, question.pk).status_code == 400
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rating"),
        ({"rating": "meh"}, "rating"),
        ({"rating": 1}, "rating"),
        ({"rating": "down", "note": 5}, "note"),
        ({"rating": "down", "note": "x" * 1001}, "note"),
        ("[1]", None),
        ("{not json", None),
    ],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(owner_client, answer, body, field):
    put(owner_client, answer.pk, {"rating": "up", "note": "Kept"})
    response = put(owner_client, answer.pk, body)
    assert response.status_code == 400
    assert response.json()["error"] and response.json().get("field") == field
    assert list(Feedback.objects.values_list("rating", "note")) == [("up", "Kept")]


def test_feedback_needs_a_session_with_csrf_or_a_token(client, owner, answer):
    assert put(client, answer.pk, {"rating": "up"}).status_code == 401
    client.force_login(owner)
    client.handler.enforce_csrf_checks = True
    assert put(client, answer.pk, {"rating": "up"}).status_code == 403
    assert client.post(f"/api/messages/{answer.pk}/feedback/").status_code in (403, 405)
    assert not Feedback.objects.exists()


def test_a_regenerated_answer_takes_its_rating_with_it(owner_client, answer):
    put(owner_client, answer.pk, {"rating": "down"})
    answer.delete()
    assert not Feedback.objects.exists()


# --- The admin: which models disappoint ------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def rated(owner, outsider):
    """Three rated answers, of two models and two people."""
    for person, model, rating, note in [
        (owner, "fake-model", "down", "Invented a citation"),
        (owner, "fake-other", "up", ""),
        (outsider, "fake-other", "down", "Too long"),
    ]:
        conversation = Conversation.objects.create(owner=person, model=model, title="Private title")
        message = conversation.messages.create(role="assistant", content="Private answer text", model=model)
        Feedback.objects.create(message=message, user=person, rating=rating, note=note)


def test_the_admin_lists_feedback_with_model_user_note_and_a_link_to_the_answer(admin_client, rated):
    body = admin_client.get("/admin/chat/feedback/").content.decode()
    assert len(re.findall(r'href="/admin/chat/message/\d+/change/"', body)) == 3
    for text in ["fake-model", "fake-other", "owner", "outsider", "Invented a citation", "Too long", "Bad answer"]:
        assert text in body


def rows_of(response):
    """The changelist's rows, without its filters."""
    return response.content.decode().split("<tbody>")[1].split("</tbody>")[0]


def test_the_admin_filters_feedback_by_rating_and_by_model(admin_client, rated):
    bad = rows_of(admin_client.get("/admin/chat/feedback/", {"rating__exact": "down"}))
    assert "Invented a citation" in bad and "Too long" in bad and "Good answer" not in bad
    filters = {"message__model": "fake-other", "rating__exact": "down"}
    other = rows_of(admin_client.get("/admin/chat/feedback/", filters))
    assert "Too long" in other and "Invented a citation" not in other and "Good answer" not in other


def test_with_content_hidden_the_admin_shows_the_note_but_never_the_answer(admin_client, rated, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    body = admin_client.get("/admin/chat/feedback/").content.decode()
    assert "Invented a citation" in body
    assert "Private answer text" not in body and "Private title" not in body
    feedback = Feedback.objects.get(note="Too long")
    page = admin_client.get(f"/admin/chat/feedback/{feedback.pk}/change/").content.decode()
    assert "Too long" in page and "Private answer text" not in page and "Private title" not in page


def test_staff_cannot_add_or_change_feedback(admin_client, rated):
    assert admin_client.get("/admin/chat/feedback/add/").status_code == 403
    feedback = Feedback.objects.first()
    admin_client.post(f"/admin/chat/feedback/{feedback.pk}/change/", {"rating": "up", "note": "changed"})
    feedback.refresh_from_db()
    assert feedback.note != "changed"
