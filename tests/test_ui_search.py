"""The sidebar's full-text search in a real browser: the hits under the titles, with the
matches marked, and a hit that opens its conversation at the message, marked."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Message
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser


def long_chat(owner, title, found_at, found_text, count=40):
    """A conversation of `count` long messages, the one at `found_at` with `found_text`."""
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title=title)
    filler = "Nothing to see in this paragraph, only words that fill the page. " * 8
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT,
            content=found_text if n == found_at else f"{n}. {filler}",
        )
        for n in range(count)
    )
    return conversation, conversation.messages.order_by("id")[found_at]


def test_a_hit_shows_its_snippet_marked_and_opens_the_conversation_at_its_message(make_page, owner, outsider, live):
    live(owner)  # the live server, with this test's database
    said = "We could see the <b>quetzal</b> birds in 危地马拉 too"
    conversation, message = long_chat(owner, "Trip planning", 6, said)
    long_chat(outsider, "Not mine", 0, "another quetzal, someone else's")
    Conversation.objects.create(owner=owner, model="fake-model", title="Quetzal facts")
    page = open_chat(make_page(owner))

    page.locator("#search").fill("quetzal")
    # The title filter lists the conversation named so; the hits, the message that says it.
    expect(page.locator("#conversations .chat-link")).to_have_text(["Quetzal facts"])
    hit = page.locator("#hits .hit")
    expect(hit).to_have_count(1)
    expect(hit.locator(".hit-title")).to_have_text("Trip planning")
    expect(hit.locator(".hit-snippet")).to_have_text(said)
    expect(hit.locator("mark")).to_have_text(["quetzal"])
    expect(page.locator("#hits b")).to_have_count(0)

    hit.click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}/\?m={message.pk}$"))
    found = page.locator(f".message[data-id='{message.pk}']")
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    expect(found).to_be_in_viewport()
    expect(page.locator(".message").last).not_to_be_in_viewport()
    expect(page.locator(".message.found")).to_have_count(1)

    # The address opens it so again.
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(f".message[data-id='{message.pk}']")).to_be_in_viewport()


def test_a_chinese_search_finds_and_marks_its_words(make_page, owner, live):
    live(owner)
    long_chat(owner, "笔记", 1, "我们讨论了数据库的索引", count=3)
    page = open_chat(make_page(owner))
    page.locator("#search").fill("数据库")
    expect(page.locator("#hits .hit mark")).to_have_text(["数据库"])
    page.locator("#search").fill("没有这个词")
    expect(page.locator("#hits-empty")).to_have_text("No messages found.")
    page.locator("#search").fill("")
    expect(page.locator("#hits-box")).to_be_hidden()
