"""The chat page in a real browser: streaming, stopping, regenerating, editing, history."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Message
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser


def answers(page):
    return page.locator(".message.assistant")


def wait_until_answered(page, count=1):
    expect(answers(page)).to_have_count(count)
    expect(answers(page).last).not_to_have_attribute("data-status", "streaming")


def test_logging_in_and_the_answer_grows_in_the_page_before_the_upstream_finishes(make_page, owner, upstream):
    script = Script(words=["Hello ", "**bold** ", "world, ", "and ", "the ", "rest."], hold_at=3)
    upstream.push(script)
    page = make_page()
    page.goto("/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "owner-password")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.wait_for_selector("#boot-message", state="detached")

    send(page, "Say hello")
    answer = answers(page).locator(".markdown")
    # The first three tokens are on the page, already as Markdown, while the upstream holds.
    expect(answer).to_have_text("Hello bold world,")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answers(page)).to_have_attribute("data-status", "streaming")
    expect(page.locator("#stop")).to_be_visible()
    assert not upstream.chat_requests[0].finished

    script.release.set()
    expect(answer).to_have_text("Hello bold world, and the rest.")
    expect(answers(page)).to_have_attribute("data-status", "complete")
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator(".message.user .bubble")).to_have_text("Say hello")
    conversation = Conversation.objects.get()
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}/$"))
    expect(page.locator("#conversations .chat-link")).to_have_text(["Say hello"])


def test_stop_keeps_the_partial_answer_after_a_reload(make_page, owner, upstream):
    upstream.push(Script(tokens=40, hold_at=3))
    page = open_chat(make_page(owner))
    send(page, "Count slowly")
    expect(answers(page).locator(".markdown")).to_have_text("t0 t1 t2")
    page.keyboard.press("Escape")  # the Stop shortcut
    expect(answers(page)).to_have_attribute("data-status", "stopped")
    expect(answers(page).locator(".status")).to_have_text("Stopped.")
    assert upstream.wait_for(lambda: upstream.chat_requests[0].disconnected_at is not None)

    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(answers(page).locator(".markdown")).to_have_text("t0 t1 t2")
    expect(answers(page)).to_have_attribute("data-status", "stopped")
    assert Message.objects.get(role="assistant").content == "t0 t1 t2 "


def test_the_stop_button_stops_the_answer(make_page, owner, upstream):
    upstream.push(Script(tokens=40, hold_at=2))
    page = open_chat(make_page(owner))
    send(page, "Go on")
    expect(answers(page).locator(".markdown")).to_have_text("t0 t1")
    page.click("#stop")
    expect(answers(page)).to_have_attribute("data-status", "stopped")
    expect(page.locator("#send")).to_be_visible()


def test_a_reload_during_an_answer_follows_it_to_the_end_without_repeating_text(make_page, owner, upstream):
    script = Script(words=["one ", "two ", "three ", "four ", "five"], hold_at=3)
    upstream.push(script)
    page = open_chat(make_page(owner))
    send(page, "Count")
    expect(answers(page).locator(".markdown")).to_have_text("one two three")
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(answers(page)).to_have_attribute("data-status", "streaming")
    script.release.set()
    expect(answers(page).locator(".markdown")).to_have_text("one two three four five")
    expect(answers(page)).to_have_attribute("data-status", "complete")


def test_regenerate_shows_a_new_answer_and_the_arrows_switch_between_its_versions(make_page, owner, upstream):
    upstream.push(Script(words=["First ", "answer."]), Script(words=["Second ", "answer."]), Script(words=["Next."]))
    page = open_chat(make_page(owner))
    send(page, "Question")
    wait_until_answered(page)
    expect(answers(page).locator(".markdown")).to_have_text("First answer.")
    expect(answers(page).locator(".versions")).to_be_hidden()

    answers(page).locator("[data-action=regenerate]").click()
    expect(answers(page).locator(".markdown")).to_have_text("Second answer.")
    wait_until_answered(page)
    pager = answers(page).locator(".versions")
    expect(pager.locator(".version-count")).to_have_text("2 / 2")
    expect(pager.locator("[data-action=version-next]")).to_be_disabled()

    pager.locator("[data-action=version-previous]").click()
    expect(answers(page).locator(".markdown")).to_have_text("First answer.")
    expect(answers(page).locator(".version-count")).to_have_text("1 / 2")
    # The version shown is the one that goes upstream next.
    send(page, "And then?")
    wait_until_answered(page, 2)
    assert upstream.chat_requests[-1].body["messages"][1] == {"role": "assistant", "content": "First answer."}

    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message .content")).to_have_text(["Question", "First answer.", "And then?", "Next."])
    expect(answers(page).first.locator(".version-count")).to_have_text("1 / 2")
    answers(page).first.locator("[data-action=version-next]").click()
    # From that place on, the conversation is the one the second version began.
    expect(page.locator(".message .content")).to_have_text(["Question", "Second answer."])


def test_retry_after_a_failed_answer(make_page, owner, upstream):
    upstream.push(Script(status=500, error_message="the provider is down"), Script(words=["Working ", "now."]))
    page = open_chat(make_page(owner))
    send(page, "Hello?")
    expect(answers(page)).to_have_attribute("data-status", "error")
    expect(answers(page).locator(".status")).to_be_visible()
    # No text came: nothing to copy.
    expect(answers(page).locator("[data-action=copy]")).to_be_hidden()
    retry = answers(page).locator("[data-action=regenerate]")
    expect(retry).to_have_attribute("aria-label", "Retry")
    retry.click()
    expect(answers(page).locator(".markdown")).to_have_text("Working now.")
    expect(answers(page)).to_have_attribute("data-status", "complete")
    answers(page).hover()
    expect(answers(page).locator("[data-action=copy]")).to_be_visible()
    expect(answers(page)).to_have_count(1)


def test_edit_and_resend_asks_a_new_version_and_the_earlier_one_comes_back_with_its_answers(make_page, owner, upstream):
    upstream.push(Script(words=["Answer one."]), Script(words=["Answer two."]), Script(words=["Answer three."]))
    page = open_chat(make_page(owner))
    send(page, "Question one")
    wait_until_answered(page)
    send(page, "Question two")
    wait_until_answered(page, 2)

    first = page.locator(".message.user").first
    first.hover()
    first.locator("[data-action=edit]").click()
    editor = first.locator(".edit-form textarea")
    expect(editor).to_have_value("Question one")
    editor.fill("Question one, better")
    editor.press("Enter")

    expect(page.locator(".message .content")).to_have_text(["Question one, better", "Answer three."])
    wait_until_answered(page)
    assert [m.content for m in Message.objects.shown().order_by("id")] == ["Question one, better", "Answer three."]
    assert upstream.chat_requests[-1].body["messages"][-1] == {"role": "user", "content": "Question one, better"}
    question = page.locator(".message.user")
    expect(question.locator(".version-count")).to_have_text("2 / 2")

    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message .content")).to_have_text(["Question one, better", "Answer three."])
    question.hover()
    question.locator("[data-action=version-previous]").click()
    expect(page.locator(".message .content")).to_have_text(
        ["Question one", "Answer one.", "Question two", "Answer two."]
    )
    expect(page.locator(".message.user").first.locator(".version-count")).to_have_text("1 / 2")


def test_cancelling_an_edit_changes_nothing(make_page, owner, upstream):
    upstream.push(Script(words=["Answer."]))
    page = open_chat(make_page(owner))
    send(page, "Keep me")
    wait_until_answered(page)
    question = page.locator(".message.user")
    question.hover()
    question.locator("[data-action=edit]").click()
    question.locator(".edit-form textarea").fill("Changed")
    question.locator(".edit-form textarea").press("Escape")
    expect(question.locator(".bubble")).to_have_text("Keep me")
    expect(answers(page)).to_have_attribute("data-status", "complete")  # Escape did not stop anything
    assert Message.objects.filter(content="Keep me").exists()


def test_a_reload_shows_the_whole_history(make_page, owner, live, upstream):
    client = live(owner)
    conversation_id = client.create_conversation(title="History")
    upstream.push(Script(words=["# Heading\n\n", "first ", "reply"]), Script(words=["second ", "`reply`"]))
    client.ask(conversation_id, "first question")
    client.ask(conversation_id, "second question")

    page = open_chat(make_page(owner), f"/c/{conversation_id}/")
    expect(page.locator(".message .content")).to_have_text(
        ["first question", "Heading first reply", "second question", "second reply"]
    )
    expect(page.locator(".message.assistant h1")).to_have_text("Heading")
    expect(page.locator(".message.assistant code")).to_have_text("reply")
    expect(page.locator("#chat-title")).to_have_text("History")
    expect(page).to_have_title("History · Chat")


def test_reasoning_shows_live_in_a_thinking_block_apart_from_the_answer(make_page, owner, upstream):
    script = Script(reasoning=["Let me ", "think."], words=["The ", "answer."], hold_at=0)
    upstream.push(script)
    page = open_chat(make_page(owner))
    send(page, "Think first")
    thoughts = answers(page).locator(".reasoning")
    expect(thoughts.locator(".reasoning-text")).to_have_text("Let me think.")
    expect(thoughts).to_have_attribute("open", "")
    expect(thoughts.locator("summary")).to_have_text("Thinking…")
    script.release.set()
    expect(answers(page).locator(".markdown")).to_have_text("The answer.")
    expect(thoughts).not_to_have_attribute("open", "")  # folded once the answer came
    expect(thoughts.locator("summary")).to_have_text("Thoughts")
    thoughts.locator("summary").click()
    expect(thoughts.locator(".reasoning-text")).to_be_visible()


def test_the_conversation_gets_the_model_made_title(make_page, owner, upstream, settings):
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(Script(words=["Sourdough basics"]))
    upstream.push(Script(words=["Flour, ", "water, ", "salt."]))
    page = open_chat(make_page(owner))
    send(page, "how do I bake bread at home with very little equipment")
    wait_until_answered(page)
    expect(page.locator("#chat-title")).to_have_text("Sourdough basics")
    expect(page.locator("#conversations .chat-link")).to_have_text(["Sourdough basics"])


def test_the_model_picker_offers_the_configured_models_and_labels_the_demo(make_page, owner, upstream):
    upstream.push(Script(words=["ok"]))
    page = open_chat(make_page(owner))
    expect(page.locator("#model option")).to_have_text(["fake-model", "fake-other", "demo (demo, offline)"])
    expect(page.locator("#demo-badge")).to_be_hidden()
    page.select_option("#model", "fake-other")
    send(page, "Hi")
    wait_until_answered(page)
    assert upstream.chat_requests[-1].body["model"] == "fake-other"
    assert Conversation.objects.get().model == "fake-other"
    page.select_option("#model", "demo")
    expect(page.locator("#demo-badge")).to_be_visible()


def test_the_system_prompt_is_saved_and_sent(make_page, owner, upstream):
    upstream.push(Script(words=["Arr."]), Script(words=["Arr again."]))
    page = open_chat(make_page(owner))
    page.click("#settings-toggle")
    page.fill("#system-prompt", "Talk like a pirate.")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    send(page, "Hello")
    wait_until_answered(page)
    assert upstream.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "Talk like a pirate."}
    assert Conversation.objects.get().system_prompt == "Talk like a pirate."

    page.fill("#system-prompt", "Talk like a robot.")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    assert Conversation.objects.get().system_prompt == "Talk like a robot."


def test_a_message_over_the_limit_stays_in_the_composer(make_page, owner, upstream, settings):
    settings.CHAT_MAX_PROMPT_CHARS = 10
    page = open_chat(make_page(owner))
    send(page, "x" * 20)
    expect(page.locator("#notice")).to_have_text("The message is longer than 10 characters.")
    expect(page.locator("#prompt")).to_have_value("x" * 20)
    expect(page.locator(".message")).to_have_count(0)
    assert not Message.objects.exists()


def test_a_message_the_server_refuses_is_given_back_to_the_composer(make_page, owner, upstream):
    upstream.push(Script(words=["ok"]))
    page = open_chat(make_page(owner))
    send(page, "First")
    wait_until_answered(page)
    Conversation.objects.all().delete()  # deleted in another tab
    send(page, "Second")
    expect(page.locator("#notice")).to_have_text("This conversation does not exist or was deleted.")
    expect(page.locator("#prompt")).to_have_value("Second")
    expect(page.locator(".message .content")).to_have_text(["First", "ok"])


def test_shortcuts_start_a_new_chat_and_focus_the_composer(make_page, owner, upstream):
    upstream.push(Script(words=["ok"]))
    page = open_chat(make_page(owner))
    send(page, "First")
    wait_until_answered(page)
    page.locator("#search").focus()
    page.keyboard.press("Shift+Escape")
    expect(page.locator("#prompt")).to_be_focused()
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator("#chat-title")).to_have_text("New chat")
