"""
History at the scale of a heavy user: a conversation of 2,000 messages and a sidebar of 10,000
conversations each take the same few queries as a small one (their time is measured in the
benchmark, bench/run.py).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def add_conversations(owner, count, *, start=0):
    now = timezone.now()
    return Conversation.objects.bulk_create(
        Conversation(owner=owner, model="fake-model", title=f"Chat {i}", updated_at=now - timedelta(minutes=i))
        for i in range(start, start + count)
    )


def add_messages(conversation, count, *, start=0):
    Message.objects.bulk_create(
        (
            Message(conversation=conversation, role="user", content=f"question {i}")
            if i % 2 == 0
            else Message(conversation=conversation, role="assistant", content=f"answer {i}", completion_tokens=3)
        )
        for i in range(start, start + count)
    )


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.json()


def test_opening_a_conversation_of_2000_messages_takes_as_many_queries_as_one_of_2(owner_client, owner, warm_catalogue):
    chat = Conversation.objects.create(owner=owner, model="fake-model", title="Long")
    add_messages(chat, 2)
    few, _ = queries(owner_client, f"/api/chats/{chat.pk}/")
    add_messages(chat, 1998, start=2)
    many, data = queries(owner_client, f"/api/chats/{chat.pk}/")
    assert many == few == 4  # session, user, conversation, messages
    assert len(data["messages"]) == 2000
    assert [m["content"] for m in data["messages"][:2]] == ["question 0", "answer 1"]
    assert data["messages"][-1]["content"] == "answer 1999"


def test_the_first_sidebar_page_of_10000_conversations_takes_as_many_queries_as_of_3(
    owner_client, owner, outsider, settings
):
    add_conversations(owner, 3)
    few, _ = queries(owner_client, "/api/chats/")
    add_conversations(owner, 9997, start=3)
    add_conversations(outsider, 100)
    many, data = queries(owner_client, "/api/chats/")
    assert many == few == 3  # session, user, one page
    assert [c["title"] for c in data["results"]] == [f"Chat {i}" for i in range(settings.CHAT_PAGE_SIZE)]
    assert data["next_page"] == 2


def test_the_last_sidebar_page_of_10000_conversations_takes_as_many_queries(owner_client, owner, settings):
    add_conversations(owner, 10_000)
    last_page = 10_000 // settings.CHAT_PAGE_SIZE
    count, data = queries(owner_client, f"/api/chats/?page={last_page}")
    assert count == 3
    assert data["results"][-1]["title"] == "Chat 9999" and data["next_page"] is None


def test_a_page_of_messages_shows_each_message_as_the_message_itself_does(owner):
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    chat.messages.create(role="user", content="你好")
    chat.messages.create(
        role="assistant",
        content="Hi",
        reasoning="thinking",
        status="error",
        model="fake-other",
        finish_reason="length",
        prompt_tokens=5,
        completion_tokens=7,
        error="The provider failed.",
        first_token_ms=120,
        duration_ms=900,
    )
    messages = chat.messages.order_by("id")
    assert messages.as_json() == [message.as_json() for message in messages]
    assert messages.as_json()[1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "estimated": False}
