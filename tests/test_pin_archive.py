"""
Pin and archive: pinned conversations lead the list, archived ones leave it for the archived
list until the person takes them up again; another person changes neither.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def listed(client, query=""):
    body = client.get("/api/chats/" + query).json()
    return [c["title"] for c in body["results"]]


def chats(owner, *titles):
    now = timezone.now()
    return [
        Conversation.objects.create(owner=owner, model="fake-model", title=title, updated_at=now - timedelta(hours=n))
        for n, title in enumerate(titles)
    ]


def patch(client, conversation, **fields):
    return client.patch(f"/api/chats/{conversation.pk}/", fields, content_type="application/json")


def test_a_pinned_conversation_leads_the_list_whenever_it_was_last_active(owner_client, owner):
    newest, middle, oldest = chats(owner, "newest", "middle", "oldest")
    response = patch(owner_client, oldest, pinned=True)
    assert response.status_code == 200
    assert (response.json()["pinned"], response.json()["archived"]) == (True, False)
    assert listed(owner_client) == ["oldest", "newest", "middle"]
    # Pinning is no activity: the conversation keeps its time.
    oldest.refresh_from_db()
    assert oldest.updated_at < middle.updated_at
    patch(owner_client, oldest, pinned=False)
    assert listed(owner_client) == ["newest", "middle", "oldest"]


def test_an_archived_conversation_leaves_the_list_for_the_archived_one(owner_client, owner):
    newest, middle, oldest = chats(owner, "newest", "middle", "oldest")
    patch(owner_client, middle, archived=True)
    assert listed(owner_client) == ["newest", "oldest"]
    assert listed(owner_client, "?archived=1") == ["middle"]
    # A search finds it wherever it is.
    assert listed(owner_client, "?q=midd") == ["middle"]
    # Still there to read.
    assert owner_client.get(f"/api/chats/{middle.pk}/").json()["archived"] is True
    patch(owner_client, middle, archived=False)
    assert listed(owner_client) == ["newest", "middle", "oldest"]
    assert listed(owner_client, "?archived=1") == []


def test_a_message_sent_in_an_archived_conversation_brings_it_back(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation(title="taken up again")
    Conversation.objects.filter(pk=conversation_id).update(archived=True)
    assert client.ask(conversation_id, "one more thing")[-1].name == "done"
    assert Conversation.objects.get(pk=conversation_id).archived is False


def test_pinned_and_archived_must_be_true_or_false_and_a_wrong_one_changes_nothing(owner_client, owner):
    (conversation,) = chats(owner, "kept")
    for value in ("yes", 1, [], {"a": 1}):
        response = patch(owner_client, conversation, pinned=value, title="changed")
        assert response.status_code == 400
        assert response.json() == {"error": "'pinned' must be true or false.", "field": "pinned"}
    response = patch(owner_client, conversation, archived="no")
    assert response.json()["field"] == "archived"
    conversation.refresh_from_db()
    assert (conversation.title, conversation.pinned, conversation.archived) == ("kept", False, False)


def test_another_person_neither_pins_nor_archives_nor_lists_them(owner_client, outsider_client, owner):
    (conversation,) = chats(owner, "mine")
    patch(owner_client, conversation, archived=True)
    assert patch(outsider_client, conversation, pinned=True).status_code == 404
    assert patch(outsider_client, conversation, archived=False).status_code == 404
    assert listed(outsider_client, "?archived=1") == []
    conversation.refresh_from_db()
    assert (conversation.pinned, conversation.archived) == (False, True)


def test_the_list_comes_in_pages_pinned_first_across_them(owner_client, owner, settings):
    settings.CHAT_PAGE_SIZE = 2
    titles = [f"chat {n}" for n in range(5)]
    rows = chats(owner, *titles)
    patch(owner_client, rows[4], pinned=True)
    seen, page = [], 1
    while page:
        body = owner_client.get(f"/api/chats/?page={page}").json()
        seen += [c["title"] for c in body["results"]]
        page = body["next_page"]
    assert seen == ["chat 4", "chat 0", "chat 1", "chat 2", "chat 3"]
