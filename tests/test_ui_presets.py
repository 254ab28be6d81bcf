"""Presets in a real browser: a new chat started from one on the welcome screen, and a
conversation's settings saved as a preset of one's own, then deleted."""

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Preset
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser


def test_a_new_chat_started_from_a_preset_takes_its_settings_and_shows_its_greeting(
    make_page, owner, outsider, upstream
):
    Preset.objects.create(
        name="Translator",
        system_prompt="Translate into French.",
        model="fake-other",
        greeting="Bonjour! <b>Send</b> me any text.",
        temperature=0.3,
    )
    Preset.objects.create(name="Retired", enabled=False)
    Preset.objects.create(owner=outsider, name="Outsider's own")
    upstream.push(Script(words=["Salut."]))
    page = open_chat(make_page(owner))
    presets = page.locator("#presets .preset-pick")
    expect(presets).to_have_text(["Translator"])
    expect(page.locator("#greeting")).to_be_hidden()

    presets.click()
    expect(presets).to_have_attribute("aria-pressed", "true")
    # As text: nothing of the greeting is markup.
    expect(page.locator("#greeting")).to_have_text("Bonjour! <b>Send</b> me any text.")
    expect(page.locator("#model")).to_have_value("fake-other")
    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value("Translate into French.")
    expect(page.locator("#temperature")).to_have_value("0.3")
    expect(page.locator("#preset-box")).to_be_hidden()  # nothing to save before the chat exists
    page.click("#settings-close")

    send(page, "Hello")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    chat = Conversation.objects.get(owner=owner)
    assert (chat.system_prompt, chat.model, chat.temperature) == ("Translate into French.", "fake-other", 0.3)
    sent = upstream.streamed_requests[0].body
    assert sent["messages"][0] == {"role": "system", "content": "Translate into French."}
    assert sent["temperature"] == 0.3
    # The greeting is the page's only: neither saved nor sent as an answer.
    assert not chat.messages.filter(content__contains="Bonjour").exists()
    assert all("Bonjour" not in str(message["content"]) for message in sent["messages"])

    # A new chat again: back to the defaults until a preset is picked.
    page.click("#new-chat")
    expect(page.locator("#presets .preset-pick")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#greeting")).to_be_hidden()
    expect(page.locator("#model")).to_have_value("fake-model")


def test_a_conversations_settings_are_saved_as_a_preset_listed_for_new_chats_and_deleted(make_page, owner):
    chat = Conversation.objects.create(
        owner=owner, model="fake-other", title="Reviews", system_prompt="Review my code.", temperature=0.5
    )
    page = open_chat(make_page(owner), f"/c/{chat.pk}/")
    page.click("#settings-toggle")
    expect(page.locator("#preset-box")).to_be_visible()
    page.click("#preset-save")
    expect(page.locator("#settings-status")).to_have_text("Give the preset a name.")
    assert not Preset.objects.exists()

    page.fill("#preset-name", "Code review")
    page.press("#preset-name", "Enter")
    expect(page.locator("#settings-status")).to_have_text("Saved as the preset “Code review”.")
    preset = Preset.objects.get()
    assert (preset.owner, preset.name, preset.system_prompt, preset.model, preset.temperature) == (
        owner,
        "Code review",
        "Review my code.",
        "fake-other",
        0.5,
    )

    page.click("#new-chat")
    expect(page.locator("#presets .preset-pick")).to_have_text(["Code review"])
    page.locator("#presets .preset-pick").click()
    expect(page.locator("#model")).to_have_value("fake-other")

    page.click("#presets [data-action=delete-preset]")
    expect(page.locator("#confirm-text")).to_contain_text("Code review")
    page.click("#confirm-ok")
    expect(page.locator("#presets")).to_be_hidden()
    assert not Preset.objects.exists()
