"""
Staff reading people's chats in the admin leaves a trace (StaffRead), listed read-only; and with
CHAT_ADMIN_SHOWS_CONTENT off the admin shows what was said nowhere, only its metadata.
"""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from chat.models import Conversation, Message, StaffRead, Usage

pytestmark = pytest.mark.django_db

SECRETS = ["SECRET-TITLE", "SECRET-PROMPT", "SECRET-QUESTION", "SECRET-ANSWER", "SECRET-REASONING", "SECRET-DETAIL"]


def chat_of(user, *, title="Holiday plans"):
    conversation = Conversation.objects.create(owner=user, model="deepseek/deepseek-chat", title=title)
    question = conversation.messages.create(role="user", content="Where should we go?")
    answer = conversation.messages.create(role="assistant", content="Somewhere warm.", model="deepseek/deepseek-chat")
    return conversation, question, answer


def test_opening_another_persons_conversation_is_recorded(admin_client, admin_user, owner):
    conversation, _question, _answer = chat_of(owner)
    assert admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").status_code == 200
    read = StaffRead.objects.get()
    assert (read.staff, read.staff_username, read.owner, read.owner_username) == (admin_user, "admin", owner, "owner")
    assert (read.conversation, read.conversation_number, read.message, read.message_number) == (
        conversation,
        conversation.pk,
        None,
        None,
    )
    assert timezone.now() - read.at < timedelta(seconds=30)


def test_opening_another_persons_message_is_recorded(admin_client, owner):
    conversation, _question, answer = chat_of(owner)
    assert admin_client.get(f"/admin/chat/message/{answer.pk}/change/").status_code == 200
    read = StaffRead.objects.get()
    assert (read.owner_username, read.conversation_id, read.message_id, read.message_number) == (
        "owner",
        conversation.pk,
        answer.pk,
        answer.pk,
    )


def test_each_opening_is_recorded(admin_client, owner):
    conversation, question, _answer = chat_of(owner)
    admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    admin_client.get(f"/admin/chat/message/{question.pk}/change/")
    assert StaffRead.objects.count() == 3


def test_opening_ones_own_conversation_is_not_recorded(admin_client, admin_user):
    conversation, question, _answer = chat_of(admin_user)
    assert admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/chat/message/{question.pk}/change/").status_code == 200
    assert not StaffRead.objects.exists()


def test_lists_and_missing_objects_are_not_reads(admin_client, owner):
    chat_of(owner)
    assert admin_client.get("/admin/chat/conversation/").status_code == 200
    assert admin_client.get("/admin/chat/conversation/999999/change/").status_code == 302
    assert not StaffRead.objects.exists()


def test_the_reads_are_listed_read_only_with_filters_and_search(admin_client, owner, outsider, make_user):
    conversation, _question, answer = chat_of(owner)
    admin_client.get(f"/admin/chat/message/{answer.pk}/change/")
    other, *_ = chat_of(outsider)
    admin_client.get(f"/admin/chat/conversation/{other.pk}/change/")
    StaffRead.objects.create(
        staff_username="former-staff",
        owner_username="owner",
        conversation_number=conversation.pk,
        at=timezone.now() - timedelta(days=60),
    )
    response = admin_client.get("/admin/chat/staffread/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/admin/chat/message/{answer.pk}/change/">Message #{answer.pk}</a>' in body
    assert f'href="/admin/chat/conversation/{other.pk}/change/">Conversation #{other.pk}</a>' in body

    def owners(query):
        return sorted(
            read.owner_username for read in admin_client.get("/admin/chat/staffread/", query).context["cl"].result_list
        )

    assert owners({"staff_username": "former-staff"}) == ["owner"]
    assert owners({"staff_username": "admin"}) == ["outsider", "owner"]
    assert owners({"at__gte": str(timezone.now() - timedelta(days=7))}) == ["outsider", "owner"]
    assert owners({"q": "outsider"}) == ["outsider"]
    read = StaffRead.objects.filter(staff_username="admin").first()
    assert admin_client.get("/admin/chat/staffread/add/").status_code == 403
    assert admin_client.post(f"/admin/chat/staffread/{read.pk}/change/", {"owner_username": "x"}).status_code == 403
    assert admin_client.post(f"/admin/chat/staffread/{read.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StaffRead.objects.count() == 3


def test_a_read_is_kept_when_the_chat_is_deleted(admin_client, owner):
    conversation, _question, answer = chat_of(owner)
    admin_client.get(f"/admin/chat/message/{answer.pk}/change/")
    number = conversation.pk
    conversation.delete()
    read = StaffRead.objects.get()
    assert (read.conversation, read.conversation_number, read.message_number) == (None, number, answer.pk)
    body = admin_client.get("/admin/chat/staffread/").content.decode()
    assert f"Conversation #{number} (deleted)" in body and f"Message #{answer.pk} (deleted)" in body


# --- CHAT_ADMIN_SHOWS_CONTENT -----------------------------------------------------------------


@pytest.fixture
def secret_chat(owner):
    conversation = Conversation.objects.create(
        owner=owner, model="deepseek/deepseek-chat", title="SECRET-TITLE", system_prompt="SECRET-PROMPT"
    )
    question = conversation.messages.create(role="user", content="SECRET-QUESTION")
    answer = conversation.messages.create(
        role="assistant",
        content="SECRET-ANSWER",
        reasoning="SECRET-REASONING",
        status="error",
        error="The model provider answered with an error (HTTP 400).",
        error_detail="SECRET-DETAIL",
        model="deepseek/deepseek-chat",
        prompt_tokens=4321,
        completion_tokens=8765,
    )
    Usage.objects.create(user=owner, day=timezone.localdate(), model="deepseek/deepseek-chat", prompt_tokens=4321)
    return conversation, question, answer


def pages(conversation, question, answer, owner):
    return [
        "/admin/",
        "/admin/chat/conversation/",
        f"/admin/chat/conversation/{conversation.pk}/change/",
        f"/admin/chat/conversation/{conversation.pk}/history/",
        f"/admin/chat/conversation/{conversation.pk}/delete/",
        "/admin/chat/message/",
        f"/admin/chat/message/{question.pk}/change/",
        f"/admin/chat/message/{answer.pk}/change/",
        f"/admin/chat/message/{answer.pk}/history/",
        f"/admin/chat/message/{answer.pk}/delete/",
        "/admin/chat/staffread/",
        "/admin/chat/usage/",
        f"/admin/auth/user/{owner.pk}/change/",
        f"/admin/auth/user/{owner.pk}/delete/",
    ]


def test_content_is_shown_to_staff_by_default(admin_client, owner, secret_chat):
    conversation, question, answer = secret_chat
    seen = "".join(admin_client.get(url).content.decode() for url in pages(conversation, question, answer, owner))
    assert all(secret in seen for secret in SECRETS)


def test_content_is_hidden_from_staff_when_the_privacy_setting_is_off(admin_client, owner, secret_chat, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    conversation, question, answer = secret_chat
    for url in pages(conversation, question, answer, owner):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert [secret for secret in SECRETS if secret in body] == [], url
    # The metadata stays: owner, model, status, tokens.
    conversation_page = admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert "owner" in conversation_page and "deepseek/deepseek-chat" in conversation_page
    assert "8765" in conversation_page and f"#{answer.pk}" in conversation_page
    answer_page = admin_client.get(f"/admin/chat/message/{answer.pk}/change/").content.decode()
    assert "4321" in answer_page and "8765" in answer_page and "HTTP 400" in answer_page
    assert f"Conversation #{conversation.pk}" in answer_page
    # Searching by what was said finds nothing, as if it were not there.
    for secret in ("SECRET-QUESTION", "SECRET-ANSWER", "SECRET-TITLE"):
        for url in ("/admin/chat/conversation/", "/admin/chat/message/"):
            response = admin_client.get(url, {"q": secret})
            assert list(response.context["cl"].result_list) == [], (url, secret)
    assert [c.pk for c in admin_client.get("/admin/chat/conversation/", {"q": "owner"}).context["cl"].result_list] == [
        conversation.pk
    ]


def test_with_content_hidden_staff_cannot_change_what_was_said(admin_client, secret_chat, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    conversation, _question, answer = secret_chat
    response = admin_client.post(
        f"/admin/chat/conversation/{conversation.pk}/change/",
        {"title": "", "model": "x", "owner": conversation.owner_id},
    )
    assert response.status_code == 403
    conversation.refresh_from_db()
    assert (conversation.title, conversation.system_prompt) == ("SECRET-TITLE", "SECRET-PROMPT")
    assert admin_client.get("/admin/chat/conversation/add/").status_code == 403


def test_with_content_hidden_a_deletion_is_logged_without_it(admin_client, secret_chat, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    _conversation, _question, answer = secret_chat
    response = admin_client.post(f"/admin/chat/message/{answer.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200 and not Message.objects.filter(pk=answer.pk).exists()
    assert LogEntry.objects.get().object_repr == f"Message #{answer.pk}"
    body = response.content.decode() + admin_client.get("/admin/").content.decode()
    assert f"Message #{answer.pk}" in body and "SECRET" not in body


def test_with_content_hidden_several_chats_are_deleted_at_once(admin_client, owner, secret_chat, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    conversation, *_ = secret_chat
    other, *_ = chat_of(owner, title="SECRET-TITLE too")
    selected = {"action": "delete_selected", "_selected_action": [conversation.pk, other.pk]}
    confirm = admin_client.post("/admin/chat/conversation/", selected).content.decode()
    assert "SECRET" not in confirm and f"Conversation #{other.pk}" in confirm
    admin_client.post("/admin/chat/conversation/", {**selected, "post": "yes"})
    assert not Conversation.objects.exists()
    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == sorted(
        [f"Conversation #{conversation.pk}", f"Conversation #{other.pk}"]
    )


def test_with_content_hidden_the_changelists_checkboxes_are_named_by_id(admin_client, secret_chat, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    conversation, *_ = secret_chat
    body = admin_client.get("/admin/chat/conversation/").content.decode()
    assert f'aria-label="Conversation #{conversation.pk}"' in body
