"""The model picker in a real browser: the models by provider, and conversations whose model is no longer offered."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Message, Provider, ProviderModel
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser

RETIRED_NOTE = "The model retired-model is no longer offered. Pick another model to go on."


def groups(page):
    """The picker's groups, as (label, [option texts])."""
    return page.eval_on_selector(
        "#model",
        "(select) => [...select.querySelectorAll('optgroup')]"
        ".map((group) => [group.label, [...group.querySelectorAll('option')].map((option) => option.textContent)])",
    )


def retired_conversation(owner):
    conversation = Conversation.objects.create(owner=owner, title="Old chat", model="retired-model")
    Message.objects.create(conversation=conversation, role="user", content="What was it?", status="complete")
    Message.objects.create(
        conversation=conversation, role="assistant", content="An answer of the retired model.", status="complete"
    )
    return conversation


def test_the_picker_groups_the_models_by_provider_with_their_labels(make_page, owner, live):
    second = Provider.objects.create(name="second", base_url="http://127.0.0.1:9/v1")
    ProviderModel.objects.create(provider=second, name="second-model", display_name="Second Model")
    page = open_chat(make_page(owner))
    assert groups(page) == [
        ["local", ["fake-model", "fake-other"]],
        ["second", ["Second Model"]],
        ["demo", ["demo (demo, offline)"]],
    ]
    picker = page.locator("#model")
    expect(picker).to_have_value("fake-model")
    assert page.eval_on_selector("#model option[value=second-model]", "(option) => option.parentElement.label") == (
        "second"
    )
    # A new conversation is created with the model picked, by its id.
    picker.select_option(label="Second Model")
    expect(picker).to_have_value("second-model")
    page.select_option("#model", "demo")
    expect(page.locator("#demo-badge")).to_be_visible()
    send(page, "Hello demo")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    assert Conversation.objects.get().model == "demo"


def test_a_conversation_keeps_its_model_when_a_second_provider_offers_the_same_name(make_page, owner, live):
    conversation = live(owner).create_conversation(title="Shared name", model="fake-other")
    second = Provider.objects.create(name="second", base_url="http://127.0.0.1:9/v1")
    ProviderModel.objects.create(provider=second, name="fake-other")
    page = open_chat(make_page(owner), f"/c/{conversation}/")
    expect(page.locator("#chat-title")).to_have_text("Shared name")
    # Both are now named <provider>/<name>; the bare name saved is the first provider's.
    expect(page.locator("#model")).to_have_value("local/fake-other")
    expect(page.locator("#notice")).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()


def test_a_conversation_whose_model_is_no_longer_offered_reads_but_waits_for_another_model(
    make_page, owner, live, upstream
):
    conversation = retired_conversation(owner)
    upstream.push(Script(words=["Answered ", "by ", "the ", "other."]))
    page = open_chat(make_page(owner), f"/c/{conversation.pk}/")

    # The history reads as before.
    expect(page.locator(".message.user .bubble")).to_have_text("What was it?")
    expect(page.locator(".message.assistant .markdown")).to_have_text("An answer of the retired model.")
    expect(page.locator(".message.assistant [data-action=copy]")).to_be_visible()
    expect(page.locator(".message.assistant [data-action=regenerate]")).to_be_hidden()
    # No model is picked, and the page says why it cannot go on.
    picker = page.locator("#model")
    expect(picker).to_have_value("")
    placeholder = picker.locator("option").first
    expect(placeholder).to_have_text("Pick a model")
    expect(placeholder).to_be_disabled()
    notice = page.locator("#notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(RETIRED_NOTE)
    expect(page.locator("#send")).to_be_disabled()
    # Enter sends nothing either; the text stays in the box.
    send(page, "Go on")
    expect(page.locator("#prompt")).to_have_value("Go on")
    expect(page.locator(".message")).to_have_count(2)
    assert upstream.chat_requests == []

    page.select_option("#model", "fake-other")
    expect(notice).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()
    expect(picker.locator("option", has_text="Pick a model")).to_have_count(0)
    expect(page.locator(".message.assistant [data-action=regenerate]")).to_be_visible()
    page.click("#send")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".markdown")).to_have_text("Answered by the other.")
    expect(page.locator(".message.user .bubble").last).to_have_text("Go on")
    assert upstream.chat_requests[0].body["model"] == "fake-other"
    conversation.refresh_from_db()
    assert conversation.model == "fake-other"
    expect(page.locator("#notice")).to_be_hidden()


def test_leaving_a_conversation_whose_model_is_no_longer_offered_clears_its_state(make_page, owner, live):
    other = live(owner).create_conversation(title="Still fine", model="fake-other")
    retired = retired_conversation(owner)
    page = open_chat(make_page(owner), f"/c/{retired.pk}/")
    notice = page.locator("#notice")
    expect(notice).to_have_text(RETIRED_NOTE)

    page.locator(".chat-link", has_text="Still fine").click()
    expect(page).to_have_url(re.compile(rf"/c/{other}/$"))
    expect(page.locator("#chat-title")).to_have_text("Still fine")
    expect(notice).to_be_hidden()
    expect(page.locator("#model")).to_have_value("fake-other")
    expect(page.locator("#model option", has_text="Pick a model")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()

    page.go_back()
    expect(page.locator("#chat-title")).to_have_text("Old chat")
    expect(notice).to_have_text(RETIRED_NOTE)
    expect(page.locator("#send")).to_be_disabled()

    page.click("#new-chat")
    expect(page.locator("#welcome")).to_be_visible()
    expect(notice).to_be_hidden()
    expect(page.locator("#model")).to_have_value("fake-model")
    expect(page.locator("#model option", has_text="Pick a model")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
