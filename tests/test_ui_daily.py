"""What a person runs into using the page every day (issue 18, "Bugs seen"), in a real browser."""

import re
import socket

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from chat.models import Message
from tests.support.browser import PHONE, open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser

# The distance from the bottom of the conversation's scroller to the bottom of the last
# paragraph of the last answer, in pixels: positive when that line is below the visible area.
LAST_LINE_BELOW = """() => {
  const scroller = document.getElementById('scroller');
  const answers = document.querySelectorAll('.message.assistant');
  const last = answers[answers.length - 1].querySelector('.markdown > :last-child');
  if (!last) return 0;
  return last.getBoundingClientRect().bottom - scroller.getBoundingClientRect().bottom;
}"""


def test_the_view_follows_a_streaming_answer_in_a_long_conversation(make_page, owner, upstream):
    page = open_chat(make_page(owner, viewport={"width": 1000, "height": 600}))
    for turn in range(3):
        upstream.push(Script(words=[f"Line {turn}.{i}\n\n" for i in range(40)], interval=0.03))
        send(page, f"Question {turn}")
        answer = page.locator(".message.assistant").nth(turn)
        expect(answer.locator(".markdown p").first).to_be_visible()
        # While it streams, every few frames: the last line is never far below the view.
        worst = 0
        while answer.get_attribute("data-status") == "streaming":
            worst = max(worst, page.evaluate(LAST_LINE_BELOW))
            page.wait_for_timeout(50)
        expect(answer).to_have_attribute("data-status", "complete")
        expect(answer.locator(".markdown p").last).to_have_text(f"Line {turn}.39")
        expect(answer.locator(".markdown p").last).to_be_in_viewport()
        assert page.evaluate(LAST_LINE_BELOW) <= 1, f"turn {turn}: the end is below the view"
        assert worst < 60, f"turn {turn}: the answer grew {worst:.0f} px below the view"
        expect(page.locator("#jump")).to_be_hidden()


def test_a_phone_header_shows_the_title_and_the_model_in_full(make_page, owner, live):
    live(owner).create_conversation(title="Trip", model="demo")
    page = open_chat(make_page(owner, viewport=PHONE))
    title = page.locator("#chat-title")
    for model in ["fake-model", "demo"]:
        page.select_option("#model", model)
        expect(title).to_have_text("New chat")
        assert title.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the title is cut off"
        # The picked model's label fits in the picker (its arrow takes about 20 px).
        fits = page.evaluate(
            """() => {
              const select = document.getElementById('model');
              const style = getComputedStyle(select);
              const context = document.createElement('canvas').getContext('2d');
              context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
              const text = select.options[select.selectedIndex].text;
              const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
              return [text, context.measureText(text).width <= room];
            }"""
        )
        assert fits[1], f"the picker cuts off {fits[0]!r}"
    expect(page.locator("#demo-badge")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def log_in_again(page):
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("owner-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#boot-message", state="detached")


def test_a_message_typed_after_the_session_ended_is_back_in_the_box_after_logging_in(make_page, owner, live):
    conversation_id = live(owner).create_conversation(title="Kept")
    page = open_chat(make_page(owner), f"/c/{conversation_id}/")
    Session.objects.all().delete()  # logged out elsewhere
    send(page, "A long message I typed\nwith care")
    log_in_again(page)
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))
    expect(page.locator("#prompt")).to_have_value("A long message I typed\nwith care")
    assert not Message.objects.exists()

    # And in a new chat, whose first message creates the conversation.
    page.goto("/")
    page.wait_for_selector("#boot-message", state="detached")
    Session.objects.all().delete()
    send(page, "First words of a new chat")
    log_in_again(page)
    expect(page.locator("#prompt")).to_have_value("First words of a new chat")


REFUSAL = "An answer in this conversation is still being generated: stop it or wait for it to end."


def test_a_message_sent_from_a_stale_view_while_an_answer_streams_is_refused_clearly(make_page, owner, live, upstream):
    conversation_id = live(owner).create_conversation(title="Shared")
    script = Script(words=["one ", "two ", "three"], hold_at=1)
    upstream.push(script)
    first = open_chat(make_page(owner), f"/c/{conversation_id}/")
    # The same person on another device: nothing there knows of the answer that starts.
    stale = open_chat(make_page(owner), f"/c/{conversation_id}/")
    send(first, "From the first")
    expect(first.locator(".message.assistant .markdown")).to_have_text("one")
    send(stale, "From the stale view")
    expect(stale.locator("#notice")).to_have_text(REFUSAL)
    expect(stale.locator("#prompt")).to_have_value("From the stale view")
    # It shows what is being answered meanwhile.
    expect(stale.locator(".message.user")).to_have_text(["From the first"])
    script.release.set()
    expect(first.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(stale.locator(".message.assistant .markdown")).to_have_text("one two three")
    assert [(m.role, m.content) for m in Message.objects.order_by("id")] == [
        ("user", "From the first"),
        ("assistant", "one two three"),
    ]
    assert len(upstream.chat_requests) == 1


def test_every_tab_shows_a_turn_made_in_another_without_a_reload(make_page, owner, live, upstream):
    conversation_id = live(owner).create_conversation(title="Shared")
    other_id = live(owner).create_conversation(title="Elsewhere")
    script = Script(words=["one ", "two ", "three"], hold_at=1)
    upstream.push(script)
    first = open_chat(make_page(owner), f"/c/{conversation_id}/")
    second = open_chat(first.context.new_page(), f"/c/{conversation_id}/")
    third = open_chat(first.context.new_page(), f"/c/{other_id}/")
    send(first, "From the first tab")
    expect(second.locator(".message.user")).to_have_text(["From the first tab"])
    expect(second.locator(".message.assistant .markdown")).to_have_text("one")
    # The other tab follows the answer, and cannot send into it meanwhile.
    expect(second.locator("#stop")).to_be_visible()
    script.release.set()
    expect(second.locator(".message.assistant .markdown")).to_have_text("one two three")
    expect(second.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(second.locator("#send")).to_be_visible()
    # A tab on another conversation stays there; its sidebar shows the change.
    expect(third.locator("#chat-title")).to_have_text("Elsewhere")
    expect(third.locator(".message")).to_have_count(0)
    expect(third.locator("#conversations .chat-link").first).to_have_text("Shared")
    assert len(upstream.chat_requests) == 1


def test_escape_right_after_enter_in_a_new_chat_stops_the_answer(make_page, owner, upstream):
    script = Script(tokens=20, hold_at=2)
    upstream.push(script)
    page = open_chat(make_page(owner))
    page.fill("#prompt", "Never mind")
    page.press("#prompt", "Enter")
    page.keyboard.press("Escape")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(page.locator("#send")).to_be_visible()
    assert Message.objects.get(role="assistant").status == Message.Status.STOPPED


def test_a_conversation_opened_by_its_address_is_highlighted_in_the_sidebar(make_page, owner, live, settings):
    settings.CHAT_PAGE_SIZE = 3
    client = live(owner)
    oldest = client.create_conversation(title="The oldest")
    for number in range(5):
        client.create_conversation(title=f"Newer {number}")
    page = open_chat(make_page(owner), f"/c/{oldest}/")
    current = page.locator("#conversations .chat-link[aria-current=page]")
    expect(current).to_have_text("The oldest")
    # In its place: after the first page, which comes first, newest first.
    expect(page.locator("#conversations .chat-link")).to_have_text(["Newer 4", "Newer 3", "Newer 2", "The oldest"])
    page.click("#load-more")
    expect(page.locator("#conversations .chat-link")).to_have_text(
        ["Newer 4", "Newer 3", "Newer 2", "Newer 1", "Newer 0", "The oldest"]
    )
    expect(current).to_have_text("The oldest")


def test_a_skip_link_leads_to_the_message_box_and_each_conversation_is_one_tab_stop(make_page, owner, live):
    client = live(owner)
    for title in ["One", "Two", "Three"]:
        client.create_conversation(title=title)
    page = open_chat(make_page(owner))
    expect(page.locator("#conversations .chat-link")).to_have_count(3)
    # The first Tab stop: nothing before it, the sidebar's first button after it.
    page.focus("#new-chat")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(":focus")).to_have_text("Skip to the message box")
    skip = page.locator("#skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#prompt")).to_be_focused()

    # From the search box to the message box: one stop per conversation.
    page.focus("#search")
    stops = []
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "prompt":
            break
        stops.append(page.evaluate("document.activeElement.closest('#conversations') !== null"))
    assert stops.count(True) == 3, stops
    # The conversation's buttons are a key away: Right arrow from its link, Down arrow to the next.
    page.focus("#conversations .chat-link >> nth=0")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#conversations .chat-link").nth(1)).to_be_focused()
    item = page.locator("#conversations .chat-item").nth(1)
    for action in ("pin", "rename", "archive"):
        page.keyboard.press("ArrowRight")
        expect(item.locator(f"[data-action={action}]")).to_be_focused()
    page.keyboard.press("ArrowRight")
    delete = item.locator("[data-action=delete]")
    expect(delete).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-dialog")).to_be_visible()


def test_a_very_long_message_is_folded_with_show_more(make_page, owner, upstream):
    upstream.push(Script(words=["Noted."]))
    page = open_chat(make_page(owner))
    text = "\n".join(f"Line {i}: " + "lorem ipsum dolor sit amet " * 9 for i in range(112))
    assert len(text) >= 28_000
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    question = page.locator(".message.user")
    toggle = question.get_by_role("button", name="Show more")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert question.locator(".bubble").bounding_box()["height"] < 450
    toggle.focus()
    page.keyboard.press("Enter")
    less = question.get_by_role("button", name="Show less")
    expect(less).to_have_attribute("aria-expanded", "true")
    assert question.locator(".bubble").bounding_box()["height"] > 3000
    page.keyboard.press("Space")
    expect(question.get_by_role("button", name="Show more")).to_be_visible()
    # Loaded again, folded again; a short message has no toggle.
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message.user").get_by_role("button", name="Show more")).to_be_visible()
    assert page.locator(".message.user .bubble").bounding_box()["height"] < 450
    upstream.push(Script(words=["Short."]))
    send(page, "A short one")
    expect(page.locator(".message.assistant").nth(1)).to_have_attribute("data-status", "complete")
    expect(page.locator(".message.user").nth(1).locator(".show-more")).to_have_count(0)


def test_the_draft_belongs_to_its_conversation_and_survives_a_reload(make_page, owner, live, upstream):
    conversation_id = live(owner).create_conversation(title="Drafted")
    page = open_chat(make_page(owner))
    prompt = page.locator("#prompt")
    prompt.fill("A new chat's draft")
    page.locator(".chat-link", has_text="Drafted").click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))
    expect(prompt).to_have_value("")
    prompt.fill("Drafted's draft")
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(prompt).to_have_value("Drafted's draft")
    page.click("#new-chat")
    expect(prompt).to_have_value("A new chat's draft")
    page.go_back()
    expect(page.locator("#chat-title")).to_have_text("Drafted")
    expect(prompt).to_have_value("Drafted's draft")
    upstream.push(Script(words=["Sent."]))
    page.press("#prompt", "Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message.user")).to_have_text(["Drafted's draft"])
    expect(prompt).to_have_value("")


def test_a_provider_that_cannot_be_reached_tells_the_person_what_to_do_and_staff_why(
    make_page, owner, upstream, settings
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    page = open_chat(make_page(owner))
    send(page, "Anyone there?")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "error")
    expect(answer.locator(".status")).to_have_text(
        "The model service is unavailable right now; try again or pick another model."
    )
    expect(page.locator("body")).not_to_contain_text("OPENAI")
    saved = Message.objects.get(role="assistant")
    assert "OPENAI_BASE_URL" in saved.error_detail
