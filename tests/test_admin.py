"""Operators browse conversations in the Django admin."""

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def make_conversations(owner, count, messages=3):
    for i in range(count):
        chat = Conversation.objects.create(owner=owner, model="fake-model", title=f"Chat {i}")
        Message.objects.bulk_create(
            Message(conversation=chat, role="user" if j % 2 == 0 else "assistant", content=f"text {i}-{j}")
            for j in range(messages)
        )


def test_changelist_shows_conversations_with_message_counts(admin_client, owner):
    make_conversations(owner, 3)
    response = admin_client.get("/admin/chat/conversation/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Chat 2" in body and "owner" in body
    assert response.context["cl"].result_list[0].message_count == 3


def test_changelist_takes_a_constant_number_of_queries(admin_client, owner, django_assert_num_queries):
    make_conversations(owner, 5)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/chat/conversation/")
    make_conversations(owner, 40)
    with django_assert_num_queries(len(few)):
        admin_client.get("/admin/chat/conversation/")


def test_search_finds_conversations_by_message_content(admin_client, owner):
    make_conversations(owner, 3)
    Conversation.objects.get(title="Chat 1").messages.create(role="user", content="needle in a haystack")
    response = admin_client.get("/admin/chat/conversation/", {"q": "needle"})
    assert [c.title for c in response.context["cl"].result_list] == ["Chat 1"]


@pytest.mark.parametrize("query", [{"model": "fake-model"}, {"messages__status__exact": "complete"}])
def test_filters_work(admin_client, owner, query):
    make_conversations(owner, 2)
    assert admin_client.get("/admin/chat/conversation/", query).status_code == 200


def test_change_page_shows_messages_read_only(admin_client, owner, django_assert_max_num_queries):
    make_conversations(owner, 1, messages=30)
    chat = Conversation.objects.get()
    with django_assert_max_num_queries(15):
        response = admin_client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "text 0-29" in body
    assert 'name="messages-0-content"' not in body


def test_message_pages_render(admin_client, owner):
    make_conversations(owner, 2)
    assert admin_client.get("/admin/chat/message/").status_code == 200
    message = Message.objects.first()
    assert admin_client.get(f"/admin/chat/message/{message.pk}/change/").status_code == 200


def test_staff_read_the_providers_own_words_about_a_fault(admin_client, owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    answer = conversation.messages.create(
        role="assistant",
        status="error",
        error="The model provider answered with an error (HTTP 400).",
        error_detail="This model's maximum context length is 8192 tokens.",
    )
    response = admin_client.get(f"/admin/chat/message/{answer.pk}/change/")
    assert response.status_code == 200
    assert "maximum context length is 8192 tokens" in response.content.decode()
