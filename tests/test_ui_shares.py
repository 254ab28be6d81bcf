"""Share links in a real browser: shared from the conversation's settings, read by someone
signed out with the chat's renderer, listed and stopped on the Your data page."""

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Share
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser


def test_a_conversation_shared_is_read_by_anyone_with_the_link_until_it_is_stopped(
    make_page, browser, asgi_server, owner, live
):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title="Sourdough notes")
    conversation.messages.create(role="user", content="How long do I proof it?")
    conversation.messages.create(
        role="assistant", content="About **four** hours.\n\n<img src=x onerror=alert(1)>", model="fake-model"
    )
    page = open_chat(make_page(owner), f"/c/{conversation.pk}/")
    page.click("#settings-toggle")
    expect(page.locator("#share-shared")).to_be_hidden()
    page.click("#share-make")
    expect(page.locator("#share-shared")).to_be_visible()
    url = page.locator("#share-url")
    expect(url).to_have_value(f"{asgi_server.url}/s/{Share.objects.get().key}/")

    stranger = browser.new_page()  # signed out, no cookies
    try:
        dialogs = []
        stranger.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        stranger.goto(url.input_value())
        expect(stranger.locator("h1")).to_have_text("Sourdough notes")
        expect(stranger.locator(".message.assistant .content strong")).to_have_text("four")
        # The chat's sanitizing renderer: nothing of the answer runs.
        assert stranger.locator(".message [onerror]").count() == 0
        assert dialogs == []
        expect(stranger.locator(".message.user .content")).to_have_text("How long do I proof it?")
        expect(stranger.locator("#conversations")).to_have_count(0)  # no sidebar, nothing else of the owner
        assert "owner" not in stranger.content()
        assert stranger.context.cookies() == []

        page.goto("/account/data/")
        expect(page.locator("table.shares tbody tr")).to_have_count(1)
        page.click("[data-stop-share]")
        expect(page.locator("#shares-empty")).to_be_visible()
        assert not Share.objects.exists()
        response = stranger.reload()
        assert response.status == 404
    finally:
        stranger.close()
