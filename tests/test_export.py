"""
Export: a conversation downloads as Markdown or JSON, and all of a person's data as one JSON
file written as it is read; nobody downloads another person's conversations.
"""

import json
from datetime import date
from urllib.parse import unquote

import pytest
from asgiref.sync import async_to_sync

from chat import exports
from chat.models import Conversation, Message, Usage

pytestmark = pytest.mark.django_db


def chat_of(user, *, title="数据库 design notes", system_prompt="Answer briefly.", answers=1):
    conversation = Conversation.objects.create(owner=user, model="fake-model", title=title, system_prompt=system_prompt)
    for number in range(answers):
        conversation.messages.create(role="user", content=f"question {number}")
        conversation.messages.create(
            role="assistant",
            content=f"answer {number}",
            reasoning=f"thinking {number}\nstill thinking",
            model="fake-model",
            prompt_tokens=10 + number,
            completion_tokens=20 + number,
        )
    return conversation


def attachment_name(disposition):
    """The file name a Content-Disposition header gives a download (RFC 6266, ASCII or not)."""
    assert disposition.startswith("attachment;"), disposition
    if "filename*=utf-8''" in disposition:
        return unquote(disposition.split("filename*=utf-8''")[-1])
    return disposition.split('filename="')[-1].rstrip('"')


def test_a_conversation_downloads_as_markdown_with_its_system_prompt_and_reasoning(owner_client, owner):
    conversation = chat_of(owner)
    conversation.messages.create(role="user", content="and then?")
    conversation.messages.create(role="assistant", content="half an", status=Message.Status.STOPPED, model="fake-model")

    response = owner_client.get(f"/api/chats/{conversation.pk}/export/?format=markdown")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert attachment_name(response["Content-Disposition"]) == f"数据库-design-notes-{conversation.pk}.md"
    text = response.content.decode()
    assert text.startswith("# 数据库 design notes\n")
    assert "## System prompt\n\nAnswer briefly.\n" in text
    assert "## You\n\nquestion 0\n" in text
    assert "## fake-model\n\n> **Reasoning**\n>\n> thinking 0\n> still thinking\n\nanswer 0\n" in text
    assert "half an\n\n*(Stopped)*" in text
    # In order.
    assert text.index("question 0") < text.index("answer 0") < text.index("and then?") < text.index("half an")


def test_markdown_is_the_default_and_json_is_the_conversation_as_the_api_shows_it(owner_client, owner):
    conversation = chat_of(owner, answers=2)
    assert owner_client.get(f"/api/chats/{conversation.pk}/export/")["Content-Type"].startswith("text/markdown")

    response = owner_client.get(f"/api/chats/{conversation.pk}/export/?format=json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert attachment_name(response["Content-Disposition"]).endswith(f"-{conversation.pk}.json")
    shown = owner_client.get(f"/api/chats/{conversation.pk}/").json()
    del shown["model_offered"]
    exported = json.loads(response.content)
    assert exported == shown
    assert [m["reasoning"] for m in exported["messages"] if m["role"] == "assistant"] == [
        "thinking 0\nstill thinking",
        "thinking 1\nstill thinking",
    ]


def test_nobody_exports_another_persons_conversation_and_a_wrong_format_is_refused(
    client, owner_client, outsider_client, owner
):
    conversation = chat_of(owner)
    response = outsider_client.get(f"/api/chats/{conversation.pk}/export/?format=json")
    assert response.status_code == 404
    assert "answer 0" not in response.content.decode()
    response = owner_client.get(f"/api/chats/{conversation.pk}/export/?format=pdf")
    assert response.status_code == 400
    assert response.json() == {"error": "'format' must be markdown or json.", "field": "format"}
    assert client.get(f"/api/chats/{conversation.pk}/export/").status_code == 401


def read_everything(user_id):
    async def read():
        return [piece async for piece in exports.everything(user_id)]

    return async_to_sync(read)()


def test_all_of_a_persons_data_is_one_json_file_in_small_pieces(owner, outsider, monkeypatch):
    monkeypatch.setattr(exports, "CONVERSATIONS_CHUNK", 2)
    monkeypatch.setattr(exports, "MESSAGES_CHUNK", 3)
    chats = [chat_of(owner, title=f"chat {number}", answers=number) for number in range(5)]
    chat_of(outsider, title="not theirs")
    Usage.objects.create(user=owner, day=date(2026, 11, 30), model="fake-model", requests=3, prompt_tokens=30)
    Usage.objects.create(user=outsider, day=date(2026, 11, 30), model="fake-model", requests=9)

    pieces = read_everything(owner.pk)
    data = json.loads("".join(pieces))

    assert (data["format"], data["version"]) == ("chat-export", 1)
    assert data["account"]["username"] == "owner"
    assert [c["title"] for c in data["conversations"]] == [f"chat {number}" for number in range(5)]
    for conversation, exported in zip(chats, data["conversations"], strict=True):
        assert exported == {**conversation.as_json(), "messages": conversation.messages.order_by("id").as_json()}
    assert [len(c["messages"]) for c in data["conversations"]] == [0, 2, 4, 6, 8]
    assert [(row["requests"], row["prompt_tokens"]) for row in data["usage"]] == [(3, 30)]
    # Written as read: no piece holds more than a chunk of messages.
    assert max(piece.count('"role"') for piece in pieces) <= 3
    assert len(pieces) > 10


def test_an_empty_account_exports_as_an_empty_file_of_the_format(owner):
    data = json.loads("".join(read_everything(owner.pk)))
    assert (data["conversations"], data["usage"]) == ([], [])


def test_the_export_downloads_through_the_server_as_it_is_written(live, owner, outsider):
    chat_of(owner, answers=3)
    chat_of(outsider, title="not theirs")
    stream = live(owner).open("GET", "/api/export/")
    try:
        assert stream.status == 200
        assert stream.response.getheader("Transfer-Encoding") == "chunked"
        assert attachment_name(stream.response.getheader("Content-Disposition")).startswith("chat-export-")
        data = json.loads(stream.response.read())
    finally:
        stream.close()
    assert [c["title"] for c in data["conversations"]] == ["数据库 design notes"]
    assert len(data["conversations"][0]["messages"]) == 6
    status, _body = live(None).json("GET", "/api/export/")
    assert status == 401
