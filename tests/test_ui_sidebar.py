"""The sidebar of conversations in a real browser: open, rename, delete, search."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Conversation
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser


def titles(page):
    return page.locator("#conversations .chat-link")


def make_chats(live, user, *names):
    client = live(user)
    # Oldest first, so the sidebar lists them newest first.
    return [client.create_conversation(title=name) for name in names]


def test_the_sidebar_lists_the_conversations_and_opens_one_in_place(make_page, owner, outsider, live, upstream):
    make_chats(live, outsider, "Not mine")
    bread, taxes = make_chats(live, owner, "Bread recipe", "Tax questions")
    upstream.push(Script(words=["Knead it."]))
    live(owner).ask(bread, "How long to knead?")
    page = open_chat(make_page(owner))
    expect(titles(page)).to_have_text(["Bread recipe", "Tax questions"])
    expect(page.locator(".chat-group")).to_have_text(["Today"])

    titles(page).filter(has_text="Bread recipe").click()
    expect(page).to_have_url(re.compile(rf"/c/{bread}/$"))
    expect(page.locator(".message .content")).to_have_text(["How long to knead?", "Knead it."])
    expect(titles(page).filter(has_text="Bread recipe")).to_have_attribute("aria-current", "page")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".message")).to_have_count(0)


def test_rename_a_conversation(make_page, owner, live):
    (conversation_id,) = make_chats(live, owner, "Old name")
    page = open_chat(make_page(owner), f"/c/{conversation_id}/")
    item = page.locator(".chat-item", has_text="Old name")
    item.hover()
    item.locator("[data-action=rename]").click()
    field = page.locator(".rename-input")
    expect(field).to_have_value("Old name")
    field.fill("New <b>name</b>")
    field.press("Enter")
    expect(titles(page)).to_have_text(["New <b>name</b>"])
    expect(page.locator("#chat-title")).to_have_text("New <b>name</b>")
    assert Conversation.objects.get().title == "New <b>name</b>"

    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(titles(page)).to_have_text(["New <b>name</b>"])


def test_escape_cancels_a_rename(make_page, owner, live):
    make_chats(live, owner, "Keep this")
    page = open_chat(make_page(owner))
    item = page.locator(".chat-item", has_text="Keep this")
    item.hover()
    item.locator("[data-action=rename]").click()
    page.locator(".rename-input").fill("Changed")
    page.locator(".rename-input").press("Escape")
    expect(titles(page)).to_have_text(["Keep this"])
    assert Conversation.objects.get().title == "Keep this"


def test_delete_asks_first_and_then_deletes(make_page, owner, live):
    keep, doomed = make_chats(live, owner, "Keep", "Doomed")
    page = open_chat(make_page(owner), f"/c/{doomed}/")
    item = page.locator(".chat-item", has_text="Doomed")

    item.locator("[data-action=delete]").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete “Doomed”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(titles(page)).to_have_text(["Doomed", "Keep"])
    assert Conversation.objects.filter(pk=doomed).exists()

    item.locator("[data-action=delete]").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(titles(page)).to_have_text(["Keep"])
    expect(page).to_have_url(re.compile(r"/$"))  # the open conversation is gone
    assert list(Conversation.objects.values_list("pk", flat=True)) == [keep]


def test_the_search_filters_as_you_type_and_asks_the_server_for_more(make_page, owner, live, settings):
    settings.CHAT_PAGE_SIZE = 3
    make_chats(live, owner, "Zebra facts", "Bread recipe", "Sourdough bread", "Taxes", "Holiday plans")
    page = open_chat(make_page(owner))
    # One page loaded: the oldest two are not in the sidebar yet.
    expect(titles(page)).to_have_text(["Holiday plans", "Taxes", "Sourdough bread"])
    expect(page.locator("#load-more")).to_be_visible()

    page.locator("#search").press_sequentially("brea")
    # The loaded titles are filtered at once, then the server adds the one not loaded yet.
    expect(titles(page)).to_have_text(["Sourdough bread", "Bread recipe"])
    page.locator("#search").fill("zebra")
    expect(titles(page)).to_have_text(["Zebra facts"])
    page.locator("#search").fill("nothing like this")
    expect(titles(page)).to_have_count(0)
    expect(page.locator("#conversations-empty")).to_have_text("No conversations found.")
    page.locator("#search").fill("")
    expect(titles(page)).to_have_text(["Holiday plans", "Taxes", "Sourdough bread"])

    page.click("#load-more")
    expect(titles(page)).to_have_count(5)


def test_a_new_chat_appears_in_the_sidebar_at_the_top(make_page, owner, live, upstream):
    make_chats(live, owner, "Older one")
    upstream.push(Script(words=["Sure."]))
    page = open_chat(make_page(owner))
    send(page, "A brand new question")
    expect(titles(page).first).to_have_text("A brand new question")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(titles(page)).to_have_text(["A brand new question", "Older one"])
    page.click("#new-chat")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#welcome")).to_be_visible()


def test_another_users_conversation_shows_a_clear_not_found_page(make_page, owner, outsider, live):
    (theirs,) = make_chats(live, outsider, "Private")
    page = make_page(owner)
    response = page.goto(f"/c/{theirs}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    page.get_by_role("link", name="Back to the chat").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_pin_archive_and_unarchive_from_the_sidebar(make_page, owner, live):
    make_chats(live, owner, "Oldest", "Middle", "Newest")
    page = open_chat(make_page(owner))
    expect(titles(page)).to_have_text(["Newest", "Middle", "Oldest"])

    oldest = page.locator(".chat-item", has_text="Oldest")
    oldest.hover()
    oldest.locator("[data-action=pin]").click()
    expect(titles(page)).to_have_text(["Oldest", "Newest", "Middle"])
    expect(page.locator(".chat-group")).to_have_text(["Pinned", "Today"])
    expect(oldest.locator("[data-action=pin]")).to_have_attribute("aria-pressed", "true")
    assert Conversation.objects.get(title="Oldest").pinned

    middle = page.locator(".chat-item", has_text="Middle")
    middle.hover()
    middle.locator("[data-action=archive]").click()
    expect(titles(page)).to_have_text(["Oldest", "Newest"])
    assert Conversation.objects.get(title="Middle").archived

    page.click("#archived-toggle")
    expect(page.locator(".chat-group")).to_have_text(["Archived"])
    expect(titles(page)).to_have_text(["Middle"])
    expect(page.locator("#archived-toggle")).to_have_text("Back to the conversations")
    archived = page.locator(".chat-item", has_text="Middle")
    archived.hover()
    archived.locator("[data-action=unarchive]").click()
    expect(titles(page)).to_have_count(0)
    expect(page.locator("#conversations-empty")).to_have_text("No archived conversations.")

    page.click("#archived-toggle")
    expect(titles(page)).to_have_text(["Oldest", "Newest", "Middle"])
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(titles(page)).to_have_text(["Oldest", "Newest", "Middle"])


def test_the_next_page_loads_as_the_list_is_scrolled(make_page, owner, live, settings):
    settings.CHAT_PAGE_SIZE = 30
    make_chats(live, owner, *[f"Chat {number:02}" for number in range(45)])
    page = open_chat(make_page(owner))
    expect(titles(page)).to_have_count(30)
    page.locator(".chat-list").evaluate("(list) => list.scrollTo(0, list.scrollHeight)")
    expect(titles(page)).to_have_count(45)
    expect(page.locator("#load-more")).to_be_hidden()
