"""Fair use in a real browser: the budget in the sidebar, and a limit told where the answer would be."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Activity, Message, Usage
from tests.support.browser import open_chat, send

pytestmark = pytest.mark.browser


def test_the_page_shows_the_budget_and_warns_near_its_end(make_page, owner, settings, live):
    settings.CHAT_DAILY_TOKEN_QUOTA = 1000
    Usage.objects.create(user=owner, day=timezone.localdate(), model="fake-model", prompt_tokens=890)
    page = open_chat(make_page(owner))
    budget = page.locator("#budget")
    expect(budget).to_have_text("Today: 890 of 1,000 tokens")
    expect(budget).not_to_have_class(re.compile("low"))

    # The answer's 16 tokens (11 + 5) leave less than a tenth of the quota.
    send(page, "Hello")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(budget).to_have_text("Today: 906 of 1,000 tokens Almost all used.")
    expect(budget).to_have_class(re.compile("low"))


def test_no_budget_is_shown_without_a_quota(make_page, owner, live):
    page = open_chat(make_page(owner))
    send(page, "Hello")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(page.locator("#budget")).to_be_hidden()


def test_a_message_over_the_rate_limit_is_refused_where_the_answer_would_be(make_page, owner, settings, live):
    settings.CHAT_RATE_LIMIT = 1
    page = open_chat(make_page(owner))
    send(page, "First question")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")

    send(page, "Second question")
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text("You have sent 1 message in the last minute, the most allowed.")
    expect(refusal.locator(".refusal-wait")).to_have_text(re.compile(r"^You can send again in 0:[0-5]\d\.$"))
    # Nothing was saved: the question is not shown, and its text is back in the box.
    expect(page.locator(".message.user")).to_have_count(1)
    expect(page.locator("#prompt")).to_have_value("Second question")
    assert Message.objects.filter(role="user").count() == 1
    # The refusal is last, where the answer would have been; the notice above the box stays empty.
    assert page.eval_on_selector("#messages", "(list) => list.lastElementChild.className") == "refusal"
    expect(page.locator("#notice")).to_be_hidden()

    # Once the minute is up, the next send goes through and the refusal goes away.
    activity = Activity.objects.get(user=owner)
    activity.starts = " ".join(repr(float(start) - 61) for start in activity.starts.split())
    activity.save()
    page.click("#send")
    expect(page.locator(".message.assistant")).to_have_count(2)
    expect(page.locator(".refusal")).to_have_count(0)
