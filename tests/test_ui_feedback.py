"""
An answer's thumbs up or down, what it cost, and a conversation's temperature and longest
answer, in a real browser against the fake provider.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from chat import catalogue
from chat.models import Conversation, Feedback, ProviderModel
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


def answered(page, count=1):
    answers = page.locator(".message.assistant")
    expect(answers).to_have_count(count)
    expect(answers.last).to_have_attribute("data-status", "complete")
    return answers.last


def test_an_answer_is_rated_down_with_a_note_and_the_rating_is_there_after_a_reload(make_page, owner, upstream):
    upstream.push(Script(words=["The moon is made of cheese."]))
    page = open_chat(make_page(owner))
    send(page, "What is the moon made of?")
    answer = answered(page)
    up, down = answer.locator("[data-action=rate-up]"), answer.locator("[data-action=rate-down]")
    expect(up).to_have_attribute("aria-label", "Good answer")

    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    note = answer.locator(".feedback-form textarea")
    expect(note).to_be_focused()
    note.fill("Made up, the moon is rock.")
    answer.locator(".feedback-form button[type=submit]").click()
    expect(answer.locator(".feedback-thanks")).to_have_text("Thank you for your feedback.")
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.note, feedback.user) == ("down", "Made up, the moon is rock.", owner)

    page.reload()
    answer = answered(page)
    expect(answer.locator("[data-action=rate-down]")).to_have_attribute("aria-pressed", "true")
    expect(answer.locator("[data-action=rate-up]")).to_have_attribute("aria-pressed", "false")

    # Changing it replaces it (no note asked for a thumbs up); the same thumb again clears it.
    answer.locator("[data-action=rate-up]").click()
    expect(answer.locator("[data-action=rate-up]")).to_have_attribute("aria-pressed", "true")
    expect(answer.locator(".feedback-form")).to_have_count(0)
    assert eventually(lambda: list(Feedback.objects.values_list("rating", "note")) == [("up", "")])
    answer.locator("[data-action=rate-up]").click()
    expect(answer.locator("[data-action=rate-up]")).to_have_attribute("aria-pressed", "false")
    assert eventually(lambda: not Feedback.objects.exists())


def test_under_each_answer_are_its_tokens_times_and_cost(make_page, owner, upstream):
    catalogue.current()  # the environment's models, in the database
    model = ProviderModel.objects.get(name="fake-model")
    model.input_price, model.output_price = Decimal("1000"), Decimal("2000")
    model.save()
    upstream.push(Script(tokens=5), Script(tokens=3, usage=False))
    page = open_chat(make_page(owner))

    send(page, "Reported")
    facts = answered(page).locator(".answer-facts")
    # The provider's usage: 11 + 5 tokens, at 1000 and 2000 a million: $0.021.
    expect(facts).to_have_text(re.compile(r"^11 \+ 5 tokens · first token in \d+\.\d s · \d+\.\d s in all · \$0\.021$"))
    send(page, "Estimated")
    expect(answered(page, 2).locator(".answer-facts")).to_have_text(re.compile(r"^≈ \d+ \+ \d+ tokens · .* · ≈ \$"))

    page.reload()
    expect(answered(page, 2).locator(".answer-facts")).to_have_text(re.compile(r"^≈ \d+ \+ \d+ tokens"))
    expect(page.locator(".message.assistant").first.locator(".answer-facts")).to_have_text(
        re.compile(r"^11 \+ 5 tokens · .* · \$0\.021$")
    )


def test_a_new_chats_temperature_and_longest_answer_are_kept_until_its_first_message(make_page, owner, upstream):
    upstream.push(Script(words=["Short."]), Script(words=["Again."]))
    page = open_chat(make_page(owner))
    page.click("#settings-toggle")
    page.fill("#temperature", "0.4")
    page.fill("#max-tokens", "64")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    expect(page.locator("#settings-toggle")).to_have_class(re.compile(r"\bactive\b"))
    assert not Conversation.objects.exists()

    send(page, "Hello")
    answered(page)
    request = upstream.streamed_requests[-1]
    assert (request.body["temperature"], request.body["max_tokens"]) == (0.4, 64)
    conversation = Conversation.objects.get()
    assert (conversation.temperature, conversation.max_tokens) == (0.4, 64)

    # Out of range: refused with the reason, nothing saved.
    page.fill("#temperature", "3")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text(
        "The temperature must be a number from 0 to 2, or empty for the model's default."
    )
    conversation.refresh_from_db()
    assert conversation.temperature == 0.4

    # Emptied: the model's default again, for the next answer.
    page.fill("#temperature", "")
    page.fill("#max-tokens", "")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    send(page, "Again")
    answered(page, 2)
    request = upstream.streamed_requests[-1]
    assert "temperature" not in request.body and "max_tokens" not in request.body

    page.reload()
    page.click("#settings-toggle")
    expect(page.locator("#temperature")).to_have_value("")
    expect(page.locator("#settings-toggle")).not_to_have_class(re.compile(r"\bactive\b"))


def test_a_longest_answer_over_the_models_limit_is_refused_in_the_panel(make_page, owner, live, settings):
    settings.CHAT_MAX_TOKENS = 500
    conversation_id = live(owner).create_conversation(temperature=1.1, max_tokens=200)
    page = open_chat(make_page(owner), f"/c/{conversation_id}/")
    page.click("#settings-toggle")
    expect(page.locator("#temperature")).to_have_value("1.1")
    expect(page.locator("#max-tokens")).to_have_value("200")
    page.fill("#max-tokens", "501")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text(
        "The longest answer must be a whole number of tokens from 1 to 500."
    )
    assert Conversation.objects.get().max_tokens == 200
