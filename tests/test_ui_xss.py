"""
An XSS corpus in every place where the page shows what someone else wrote: answers (streamed,
in small chunks that split the tags) and their reasoning, questions, provider error messages
(which the page shows in the product's words only), conversation titles (the sidebar, the
heading and the page's title), system prompts (the settings panel) and usernames. Each
payload, if it ever ran, would push its number to window.__xss (or open a dialog); nothing
may, while streaming or after a reload, with the Content-Security-Policy on and with the
browser ignoring it (the page's own defences alone).
"""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from chat.models import Conversation
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser

# XSS becomes `__xss.push(NUM)`, NUM the payload's number.
CORPUS = [
    # Script elements
    "<script>XSS</script>",
    "<SCRIPT>XSS</SCRIPT>",
    '<ScRiPt src="data:text/javascript,XSS"></ScRiPt>',
    "<<script>XSS//<</script>",
    "<scr<script>ipt>XSS</scr</script>ipt>",
    "</script><img src=x onerror=XSS>",
    # Event handlers
    '<img src=x onerror="XSS">',
    "<IMG SRC=x OnErRoR=XSS>",
    "<img/src=x/onerror=XSS>",
    "<img src=x onerror\n=XSS>",
    '<img src=x onerror="&#95;&#95;xss.push(NUM)">',
    "<image src=x onerror=XSS>",
    "<svg onload=XSS>",
    "<svg><script>XSS</script></svg>",
    "<svg><animate onbegin=XSS attributeName=x dur=1s>",
    "<svg><foreignObject><img src=x onerror=XSS></foreignObject></svg>",
    "<svg><style><img src=x onerror=XSS></style></svg>",
    "<body onload=XSS>",
    "<details open ontoggle=XSS>d</details>",
    "<video src=x onerror=XSS></video>",
    '<video><source onerror="XSS"></video>',
    "<audio src=x onerror=XSS>",
    "<marquee onstart=XSS>m</marquee>",
    "<input autofocus onfocus=XSS>",
    "<select autofocus onfocus=XSS></select>",
    "<textarea autofocus onfocus=XSS></textarea>",
    '<a href="https://example.com" onclick="XSS" onmouseover="XSS">clickable</a>',
    "<x onmouseover=XSS contenteditable>hover</x>",
    "<template><img src=x onerror=XSS></template>",
    "<img src=x onerror=alert(NUM)>",
    "<svg onload=confirm(NUM)>",
    # Breaking out of the places the text lands in
    '"><img src=x onerror=XSS>',
    "'><svg onload=XSS>",
    "</textarea><img src=x onerror=XSS>",
    "</title><img src=x onerror=XSS>",
    '<noscript><p title="</noscript><img src=x onerror=XSS>">',
    # javascript: and data: URLs
    '<a href="javascript:XSS">js link</a>',
    '<a href="JaVaScRiPt:XSS">mixed case</a>',
    '<a href="&#106;avascript:XSS">entity</a>',
    '<a href="jav&#x09;ascript:XSS">tab</a>',
    '<a href="  javascript:XSS">spaces</a>',
    '<a href="data:text/html,<script>opener.XSS</script>">data link</a>',
    '<svg><a xlink:href="javascript:XSS"><text x=20 y=20>svg link</text></a></svg>',
    '<math href="javascript:XSS">math href</math>',
    '<form><button formaction="javascript:XSS">go</button></form>',
    '<iframe src="javascript:parent.XSS"></iframe>',
    '<iframe srcdoc="<script>parent.XSS</script>"></iframe>',
    '<iframe srcdoc="&lt;img src=x onerror=parent.XSS&gt;"></iframe>',
    '<object data="javascript:parent.XSS"></object>',
    '<embed src="javascript:parent.XSS">',
    '<table background="javascript:XSS"><tr><td>t</td></tr></table>',
    '<base href="javascript:XSS//">',
    '<meta http-equiv="refresh" content="0;url=javascript:XSS">',
    # Markdown
    "[md link](javascript:XSS)",
    "[md link](JAVASCRIPT:XSS)",
    "[md link](javascript&#58;XSS)",
    "[md link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[ref link][rNUM]\n\n[rNUM]: javascript:XSS",
    "<javascript:XSS>",
    "![img](javascript:XSS)",
    '![img](x" onerror="XSS)',
    "```html\n<script>XSS</script>\n```",
    '```" onmouseover="XSS\ncode\n```',
    "`<img src=x onerror=XSS>`",
    # Mutation XSS of sanitizers (DOMPurify before 2.0.17)
    '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;'
    'onerror=XSS&gt;">',
    # CSS
    '<div style="width:expression(XSS)">css expression</div>',
    '<div style="background:url(javascript:XSS)">css url</div>',
    "<style>@import 'javascript:XSS';</style>",
    '<link rel=stylesheet href="javascript:XSS">',
    # Template-like
    "{{constructor.constructor('XSS')()}}",
    "<div data-x=\"{{constructor.constructor('XSS')()}}\">curly</div>",
    "${XSS}",
    # KaTeX
    "$\\href{javascript:XSS}{math link}$",
    "$$\\href{javascript:XSS}{display link}$$",
    "$\\url{javascript:XSS}$",
    '$\\htmlId{x" onmouseover="XSS}{y}$',
    "$\\htmlData{onload=XSS}{y}$",
    '$\\htmlClass{x" onerror="XSS}{y}$',
    "$\\htmlStyle{background:url(javascript:XSS)}{y}$",
]
PAYLOADS = [text.replace("XSS", "__xss.push(NUM)").replace("NUM", str(number)) for number, text in enumerate(CORPUS, 1)]
EVERYTHING = "\n\n".join(PAYLOADS)

HOOK = "window.__xss = [];"
MODES = [pytest.param(False, id="csp"), pytest.param(True, id="bypass-csp")]


def packed(limit, payloads=PAYLOADS):
    """The payloads joined in groups of at most `limit` characters (a title, a username)."""
    groups, current = [], ""
    for payload in payloads:
        if len(payload) > limit:
            continue
        if current and len(current) + 1 + len(payload) > limit:
            groups.append(current)
            current = ""
        current = f"{current} {payload}" if current else payload
    return groups + [current] if current else groups


def chunks(text, size):
    return [text[i : i + size] for i in range(0, len(text), size)]


def hooked_page(make_page, user, bypass_csp):
    page = make_page(user, bypass_csp=bypass_csp)
    page.add_init_script(HOOK)
    return page


def provoke(page):
    """What would set off the handlers that wait for a person: hovering, focusing."""
    page.evaluate(
        """() => document.querySelectorAll('#messages *, #conversations *, #chat-title, .account *').forEach((el) => {
            for (const type of ['mouseover', 'mouseenter', 'focus', 'animationstart', 'toggle']) {
                el.dispatchEvent(new Event(type));
            }
        })"""
    )


def assert_nothing_ran(page, where):
    provoke(page)
    page.wait_for_timeout(200)
    ran = page.evaluate("window.__xss")
    assert ran == [], f"{where}: payloads {ran} ran: {[PAYLOADS[n - 1] for n in ran]}"
    assert page.dialogs == [], f"{where}: dialogs opened: {page.dialogs}"
    # No element of what people wrote carries a handler, a script, a frame or a form.
    found = page.evaluate(
        """() => [...document.querySelectorAll('#messages *, #conversations *, #chat-title *, .account *')]
            .filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))
                || ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'INPUT', 'STYLE', 'BASE', 'META', 'LINK']
                    .includes(el.tagName))
            .map((el) => el.outerHTML.slice(0, 200))"""
    )
    assert found == [], f"{where}: {found}"
    for href in page.eval_on_selector_all("#messages a, #conversations a", "links => links.map(a => a.href)"):
        assert href == "" or href.startswith(("http://", "https://")), f"{where}: {href}"


@pytest.mark.parametrize("bypass_csp", MODES)
def test_answers_reasoning_questions_and_provider_errors_run_nothing(make_page, owner, upstream, bypass_csp):
    pieces = chunks(EVERYTHING + "\n\nThe end.", 7)  # tags split across the stream's chunks
    answer = Script(words=pieces, reasoning=chunks(EVERYTHING, 11), hold_at=len(pieces) // 2)
    upstream.push(
        answer,
        Script(status=400, error_message=EVERYTHING[:3000]),
        Script(words=["partial "], fault="error_event", fault_after=1, error_message=EVERYTHING[3000:6000]),
    )
    page = open_chat(hooked_page(make_page, owner, bypass_csp))
    send(page, EVERYTHING)
    answers = page.locator(".message.assistant")
    expect(answers.first).to_have_attribute("data-status", "streaming")
    expect(answers.first).to_contain_text(PAYLOADS[0][:10])
    assert_nothing_ran(page, "the answer, while streaming")
    answer.release.set()
    expect(answers.first).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(answers.first).to_contain_text("The end.")
    expect(answers.first.locator(".reasoning-text")).to_contain_text(PAYLOADS[0])
    assert_nothing_ran(page, "the answer, finished")

    # The provider's own words about a fault never reach the page (they are for staff): the
    # person reads the product's, and nothing of the payloads they carried.
    send(page, "and an error " + PAYLOADS[0])
    expect(answers.nth(1)).to_have_attribute("data-status", "error")
    expect(answers.nth(1)).to_contain_text("The model provider answered with an error (HTTP 400).")
    expect(answers.nth(1).locator(".message-error, p").first).not_to_contain_text("__xss")
    send(page, "and an error event " + PAYLOADS[1])
    expect(answers.nth(2)).to_have_attribute("data-status", "error")
    expect(answers.nth(2)).to_contain_text("The model provider reported an error.")
    assert_nothing_ran(page, "the provider's errors")

    page.reload()  # all of it again, from the history
    page.wait_for_selector("#boot-message", state="detached")
    expect(answers.first).to_contain_text("The end.")
    expect(answers).to_have_count(3)
    expect(answers.nth(1)).to_have_attribute("data-status", "error")
    assert_nothing_ran(page, "the history, after a reload")


@pytest.mark.parametrize("bypass_csp", MODES)
def test_titles_and_system_prompts_run_nothing(make_page, owner, upstream, settings, bypass_csp):
    settings.CHAT_PAGE_SIZE = 200
    titles = packed(200)
    conversations = [
        Conversation.objects.create(owner=owner, model="fake-model", title=title, system_prompt=EVERYTHING[:8000])
        for title in titles
    ]
    page = hooked_page(make_page, owner, bypass_csp)
    for conversation in conversations:  # each title as the heading and the page's title
        open_chat(page, f"/c/{conversation.pk}/")
        expect(page.locator("#chat-title")).to_have_text(conversation.title)
        assert page.title().split() == [*conversation.title.split(), "·", "Chat"]
        assert_nothing_ran(page, f"the title {conversation.title!r}")
    expect(page.locator("#conversations .chat-link")).to_have_count(len(titles))
    # And each one opened from the sidebar, the page's script setting the titles.
    for conversation in conversations[:5]:
        page.locator(f"#conversations .chat-link[href='/c/{conversation.pk}/']").click()
        expect(page.locator("#chat-title")).to_have_text(conversation.title)
        assert page.title().split() == [*conversation.title.split(), "·", "Chat"]
    assert_nothing_ran(page, "the titles, opened from the sidebar")

    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value(EVERYTHING[:8000])
    assert_nothing_ran(page, "the system prompt")
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value(EVERYTHING[:8000])
    assert_nothing_ran(page, "the system prompt, after a reload")


# Where a username lands: text in the page, and the page's JSON configuration.
# The breakouts first (of an attribute, the <title>, the JSON configuration's <script>).
USERNAME_PAYLOADS = [p for p in PAYLOADS if p.startswith(('"', "'", "</", "{{", "${", "<script", "<img", "<svg on"))]


@pytest.mark.parametrize("bypass_csp", MODES)
def test_usernames_run_nothing(make_page, upstream, bypass_csp):
    # Django's username validator refuses these (letters, digits and @.+-_ only), but an
    # account made another way (createsuperuser --noinput, a script, an SSO) does not pass it.
    names = packed(150, USERNAME_PAYLOADS)
    for name in names:
        user = get_user_model().objects.create_user(name, password="x")
        page = open_chat(hooked_page(make_page, user, bypass_csp))
        expect(page.locator(".account .username")).to_have_text(name)
        assert_nothing_ran(page, f"the username {name!r}")
        page.close()


@pytest.mark.parametrize("bypass_csp", MODES)
def test_the_hook_sees_a_payload_that_runs(make_page, owner, upstream, bypass_csp):
    """The control: what these tests assert is not there would be seen if it were."""
    page = open_chat(hooked_page(make_page, owner, bypass_csp))
    page.evaluate("() => { __xss.push(0); }")  # as a script of the page itself
    page.evaluate(
        """() => {
            const div = document.createElement('div');
            div.innerHTML = '<img src=x onerror="__xss.push(-1)"><x onmouseover="__xss.push(-2)">x</x>';
            document.getElementById('messages').append(div);
        }"""
    )
    provoke(page)
    page.wait_for_timeout(300)
    # With the CSP on, the inline handlers are blocked; without it they run, and are seen.
    assert sorted(page.evaluate("window.__xss")) == ([-2, -1, 0] if bypass_csp else [0])
    with pytest.raises(AssertionError):
        assert_nothing_ran(page, "the control")
    page.evaluate("() => window.__xss.splice(0) && document.querySelector('#messages > div:last-child').remove()")
