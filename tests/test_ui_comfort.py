"""Language, dark mode, the phone layout and failures, in a real browser."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser


def test_a_chinese_browser_gets_the_page_in_chinese(make_page, owner, upstream):
    upstream.push(Script(words=["你好！"]))
    page = open_chat(make_page(owner, locale="zh-CN"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#new-chat")).to_have_text("新对话")
    expect(page.locator("#prompt")).to_have_attribute("placeholder", "发送消息")
    expect(page.locator("#search")).to_have_attribute("placeholder", "搜索对话")
    expect(page.locator("#welcome")).to_have_text("有什么可以帮你的？")
    send(page, "你好")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    # The script's own words too.
    expect(answer.locator("[data-action=copy]")).to_have_attribute("aria-label", "复制")
    expect(answer.locator("[data-action=regenerate]")).to_have_attribute("aria-label", "重新生成")
    expect(page.locator(".chat-group")).to_have_text(["今天"])
    expect(page).to_have_title("你好 · 聊天")


def test_the_language_can_be_switched_and_is_remembered(make_page, owner):
    page = open_chat(make_page(owner, locale="en-US"))
    expect(page.locator("#new-chat")).to_have_text("New chat")
    page.select_option("#language-sidebar", "zh-hans")
    expect(page.locator("#new-chat")).to_have_text("新对话")
    page.reload()
    expect(page.locator("#new-chat")).to_have_text("新对话")
    page.select_option("#language-sidebar", "en")
    expect(page.locator("#new-chat")).to_have_text("New chat")


def test_the_login_page_speaks_chinese_too(make_page, owner):
    page = make_page(locale="zh-CN")
    page.goto("/")
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_label("用户名").fill("owner")
    page.get_by_label("密码").fill("wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".form-error")).to_have_text("用户名或密码不正确，请重试。")


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(make_page, owner):
    page = open_chat(make_page(owner, color_scheme="dark"))
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(33, 33, 33)"
    toggle = page.locator("#sidebar [data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-label", "Switch to light theme")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    # The code style follows.
    assert page.evaluate("document.querySelector('link[data-theme-css=light]').media") == "all"
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    # Choosing the system's theme again means following the system again.
    page.locator("#sidebar [data-theme-toggle]").click()
    expect(html).to_have_attribute("data-theme", "dark")
    assert page.evaluate("localStorage.getItem('theme')") is None


def test_a_phone_sized_screen_can_chat_and_reach_the_sidebar(make_page, owner, live, upstream):
    live(owner).create_conversation(title="Earlier chat")
    upstream.push(Script(words=["A reply ", "that fits ", "on a phone. ", "`code` ", "and $x^2$."]))
    page = open_chat(make_page(owner, viewport=PHONE))
    sidebar = page.locator("#sidebar")
    expect(sidebar).not_to_be_in_viewport()
    expect(page.locator("#prompt")).to_be_in_viewport()

    send(page, "Hello from a phone")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".markdown")).to_contain_text("A reply that fits on a phone.")
    expect(answer).to_be_in_viewport()
    expect(page.locator("#send")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator(".composer-box").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    page.click("#open-sidebar")
    expect(sidebar).to_be_in_viewport()
    expect(page.locator("#conversations .chat-link")).to_have_text(["Hello from a phone", "Earlier chat"])
    page.locator(".chat-link", has_text="Earlier chat").click()
    expect(sidebar).not_to_be_in_viewport()
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    expect(page.locator("#chat-title")).to_have_text("Earlier chat")
    # The tap target to start over is in the header.
    page.click("#new-chat-header")
    expect(page.locator("#welcome")).to_be_visible()


def test_following_the_answer_stops_when_the_person_scrolls_up(make_page, owner, upstream):
    script = Script(words=[f"Line {i}\n\n" for i in range(80)], hold_at=60, interval=0.002)
    upstream.push(script)
    page = open_chat(make_page(owner, viewport={"width": 1000, "height": 600}))
    send(page, "Long answer")
    answer = page.locator(".message.assistant .markdown")
    expect(answer.locator("p").nth(59)).to_have_text("Line 59")
    scroller = page.locator("#scroller")
    # At the bottom while it streams.
    assert scroller.evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight") < 12
    scroller.evaluate("(el) => { el.scrollTop = 200; }")
    expect(page.locator("#jump")).to_be_visible()
    script.release.set()
    expect(answer.locator("p")).to_have_count(80)
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    assert scroller.evaluate("(el) => el.scrollTop") == 200  # the reader was not moved
    page.click("#jump")
    page.wait_for_function(
        "() => { const el = document.getElementById('scroller'); "
        "return el.scrollHeight - el.scrollTop - el.clientHeight < 12; }"
    )
    expect(page.locator("#jump")).to_be_hidden()


def test_the_language_switch_comes_back_to_the_open_conversation(make_page, owner, live):
    conversation_id = live(owner).create_conversation(title="Stay here")
    page = open_chat(make_page(owner))
    page.locator(".chat-link", has_text="Stay here").click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))
    page.select_option("#language-sidebar", "zh-hans")
    expect(page.locator("#new-chat")).to_have_text("新对话")
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))


def test_a_page_whose_script_cannot_load_says_so_instead_of_staying_blank(make_page, owner):
    page = make_page(owner)
    page.route("**/static/chat/main.js", lambda route: route.abort())
    page.goto("/")
    message = page.locator("#boot-message")
    expect(message).to_contain_text("the page's script files could not be loaded")
    page.wait_for_function("() => getComputedStyle(document.getElementById('boot-message')).opacity === '1'")


def test_without_the_markdown_libraries_answers_still_show_as_plain_text(make_page, owner, upstream):
    upstream.push(Script(words=["**not bold** ", "<b>nor this</b>"]))
    page = make_page(owner)
    page.route(re.compile(r".*/static/vendor/(marked|dompurify)/.*\.js$"), lambda route: route.abort())
    open_chat(page)
    send(page, "Plain please")
    answer = page.locator(".message.assistant .markdown")
    expect(answer).to_have_text("**not bold** <b>nor this</b>")
    expect(answer.locator("b, strong")).to_have_count(0)


def test_an_answer_whose_stream_breaks_resumes_where_it_stopped(make_page, owner, live, upstream):
    script = Script(words=["one ", "two ", "three ", "four ", "five"], hold_at=2)
    upstream.push(script)
    page = make_page(owner)

    def cut_early(route):
        # What a proxy or a flaky network does: the answer's stream ends early, without `done`.
        conversation_id = int(re.search(r"/api/chats/(\d+)/messages/", route.request.url).group(1))
        stream = live(owner).send(conversation_id, route.request.post_data_json["content"])
        events, text = [], ""
        for event in stream:
            events.append(event)
            text += event.data.get("content", "") if event.name == "delta" else ""
            if text == "one two ":  # all the upstream sent before it holds
                break
        stream.close()
        body = "".join(
            f"event: {e.name}\n" + (f"id: {e.id}\n" if e.id else "") + f"data: {json.dumps(e.data)}\n\n" for e in events
        )
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/api/chats/*/messages/", cut_early)
    open_chat(page)
    send(page, "Count")
    answer = page.locator(".message.assistant")
    expect(answer.locator(".markdown")).to_have_text("one two")
    expect(page.locator("#notice")).to_have_text("The connection was lost. Reconnecting…")
    script.release.set()
    expect(answer.locator(".markdown")).to_have_text("one two three four five")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(page.locator("#notice")).to_be_hidden()
    assert len(upstream.chat_requests) == 1  # resumed, not asked again
