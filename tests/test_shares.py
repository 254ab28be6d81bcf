"""
Share links: a conversation shared is a read-only public page at an unguessable address, a
snapshot as of sharing, showing nothing else of its owner, gone at once when the sharing stops.
"""

import re

import pytest

from chat.models import Conversation, Message, Share

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title="Sourdough notes")
    conversation.messages.create(role="user", content="How long do I **proof** it?")
    conversation.messages.create(
        role="assistant", content="About *four* hours.\n\n<script>alert(1)</script>", model="fake-model"
    )
    return conversation


def share(client, conversation, **body):
    return client.post(f"/api/chats/{conversation.pk}/share/", body, content_type="application/json")


def path_of(url):
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_shared_conversation_is_a_public_snapshot_at_an_unguessable_address(owner_client, client, chat):
    response = share(owner_client, chat)
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"http://testserver/s/[A-Za-z0-9_-]{32}/", body["url"])
    assert (body["title"], body["shows_author"], body["conversation_id"]) == ("Sourdough notes", False, chat.pk)

    page = client.get(path_of(body["url"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Sourdough notes" in text
    assert "How long do I **proof** it?" in text
    assert "About *four* hours." in text
    # Escaped here, sanitized when rendered: no script of the conversation runs.
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # Nothing of the owner, no session, not for search engines, never cached.
    assert "owner" not in text
    assert "Set-Cookie" not in str(page.headers) and not page.cookies
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in text
    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "no-referrer"


def test_later_messages_show_once_shared_again_at_the_same_address(owner_client, client, chat):
    url = path_of(share(owner_client, chat).json()["url"])
    chat.messages.create(role="user", content="And overnight?")
    answer = chat.messages.create(role="assistant", content="In the fridge.", model="fake-model")
    assert "And overnight?" not in client.get(url).content.decode()

    again = share(owner_client, chat)
    assert path_of(again.json()["url"]) == url
    text = client.get(url).content.decode()
    assert "And overnight?" in text and "In the fridge." in text
    # An answer still being generated when shared is not in the snapshot.
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING)
    assert "In the fridge." not in client.get(url).content.decode()


def test_the_owner_may_choose_to_show_their_username(owner_client, client, chat):
    url = path_of(share(owner_client, chat, shows_author=True).json()["url"])
    assert "Shared by owner" in client.get(url).content.decode()
    assert share(owner_client, chat, shows_author="yes").status_code == 400
    assert Share.objects.get().shows_author is True


def test_stopping_removes_the_page_at_once(owner_client, client, chat):
    url = path_of(share(owner_client, chat).json()["url"])
    assert owner_client.get(f"/api/chats/{chat.pk}/share/").json()["url"].endswith(url)
    assert owner_client.delete(f"/api/chats/{chat.pk}/share/").status_code == 204
    assert client.get(url).status_code == 404
    assert owner_client.get(f"/api/chats/{chat.pk}/share/").status_code == 404
    assert owner_client.delete(f"/api/chats/{chat.pk}/share/").status_code == 404
    # Deleting the conversation removes its page too.
    url = path_of(share(owner_client, chat).json()["url"])
    chat.delete()
    assert client.get(url).status_code == 404


def test_another_person_neither_shares_nor_sees_nor_stops_the_owners_link(owner_client, outsider_client, chat):
    assert share(outsider_client, chat).status_code == 404
    share(owner_client, chat)
    assert outsider_client.get(f"/api/chats/{chat.pk}/share/").status_code == 404
    assert outsider_client.delete(f"/api/chats/{chat.pk}/share/").status_code == 404
    assert outsider_client.get("/api/shares/").json() == {"results": []}
    assert Share.objects.count() == 1


def test_the_person_lists_their_links(owner_client, owner, chat):
    other = Conversation.objects.create(owner=owner, model="fake-model", title="Second")
    share(owner_client, chat)
    share(owner_client, other)
    listed = owner_client.get("/api/shares/").json()["results"]
    assert [item["title"] for item in listed] == ["Second", "Sourdough notes"]


def test_an_unknown_address_is_a_404(client):
    assert client.get("/s/not-a-real-key-of-thirty-two-chars/").status_code == 404
