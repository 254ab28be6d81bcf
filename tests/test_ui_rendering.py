"""What answers look like in a real browser: Markdown, code, math, copying, and never running
what the model (or anyone) wrote."""

import http.server
import threading

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser

RICH_ANSWER = [
    "Here is a **table**:\n\n",
    "| Planet | Moons |\n| --- | ---: |\n",
    "| Earth | 1 |\n| Mars | 2 |\n\n",
    '```python\ndef greet(name):\n    return f"Hello {name}"\n```\n\n',
    "Inline math $E = mc^2$, costs of $5 and $10 stay text, and a display formula:\n\n",
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n",
    "Also \\(a^2 + b^2 = c^2\\). See [the docs](https://example.com/docs).",
]
CODE = 'def greet(name):\n    return f"Hello {name}"'


def test_markdown_tables_highlighted_code_and_math_render(make_page, owner, upstream):
    upstream.push(Script(words=RICH_ANSWER))
    page = open_chat(make_page(owner))
    send(page, "Show me everything")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")

    expect(answer.locator("table th")).to_have_text(["Planet", "Moons"])
    expect(answer.locator("table td")).to_have_text(["Earth", "1", "Mars", "2"])
    code = answer.locator(".code-block pre code")
    expect(code).to_have_text(CODE)
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(answer.locator(".code-bar span")).to_have_text("python")
    # Inline and display math typeset by KaTeX; the dollar amounts left alone.
    expect(answer.locator(".math[data-display='0'] .katex")).to_have_count(2)
    expect(answer.locator(".math[data-display='1'] .katex-display")).to_have_count(1)
    expect(answer.locator(".katex annotation").first).to_have_text("E = mc^2")
    expect(answer).to_contain_text("costs of $5 and $10 stay text")
    link = answer.locator("a", has_text="the docs")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")


def test_markdown_renders_while_the_answer_streams(make_page, owner, upstream):
    script = Script(words=RICH_ANSWER, hold_at=4)
    upstream.push(script)
    page = open_chat(make_page(owner))
    send(page, "Stream it")
    answer = page.locator(".message.assistant")
    expect(answer.locator(".code-block .hljs-keyword").first).to_have_text("def")
    expect(answer.locator("table td")).to_have_count(4)
    expect(answer.locator(".katex")).to_have_count(0)  # the math has not arrived yet
    expect(answer).to_have_attribute("data-status", "streaming")
    script.release.set()
    expect(answer.locator(".katex-display")).to_have_count(1)


def test_the_copy_buttons_copy(make_page, owner, upstream):
    upstream.push(Script(words=RICH_ANSWER))
    page = open_chat(make_page(owner, clipboard=True))
    send(page, "Copy these")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")

    answer.locator(".code-copy").click()
    expect(answer.locator(".code-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == CODE

    answer.locator("[data-action=copy]").click()
    expect(answer.locator("[data-action=copy]")).to_have_attribute("aria-label", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "".join(RICH_ANSWER)

    question = page.locator(".message.user")
    question.hover()
    question.locator("[data-action=copy]").click()
    expect(question.locator("[data-action=copy]")).to_have_attribute("aria-label", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "Copy these"


# Each payload sets window.__xss (or opens a dialog) if it ever runs.
XSS_PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    "[markdown link](javascript:window.__xss=3)",
    '<a href="javascript:window.__xss=4">raw link</a>',
    '<svg onload="window.__xss=5"><circle r="1"></circle></svg>',
    "<svg><script>window.__xss=6</script></svg>",
    '<iframe src="javascript:window.__xss=7"></iframe>',
    '<iframe srcdoc="<script>parent.__xss=8</script>"></iframe>',
    # A known mutation XSS of sanitizers (DOMPurify before 2.0.17).
    '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;'
    'onerror=window.__xss=9&gt;">',
    '<details open ontoggle="window.__xss=10">x</details>',
    '<form><button formaction="javascript:window.__xss=11">go</button></form>',
    '<a href="data:text/html,<script>alert(12)</script>">data link</a>',
    '![image](x" onerror="window.__xss=13)',
    '<object data="javascript:window.__xss=15"></object>',
    '<embed src="javascript:window.__xss=16">',
    '<input autofocus onfocus="window.__xss=17">',
    '<video><source onerror="window.__xss=18"></video>',
    '<a href="jav&#x09;ascript:window.__xss=19">encoded</a>',
    "[ref link][r]\n\n[r]: javascript:window.__xss=20",
    "$\\href{javascript:window.__xss=21}{math link}$",
    '<div style="position:fixed;inset:0;background:red" id="prompt" class="message user">overlay</div>',
    "<img src=x onerror=alert(22)>",
    "```html\n<script>window.__xss=23</script>\n```",
    '<a href="https://example.com" onclick="window.__xss=24">clickable</a>',
    '![tracker](https://tracker.example/pixel.png?data=secret "t")',
]
XSS_ANSWER = "Some answer.\n\n" + "\n\n".join(XSS_PAYLOADS) + "\n\nThe end."


def assert_nothing_ran(page):
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    # No element from the answers carries an event handler, a script or a frame.
    assert (
        page.evaluate(
            """() => [...document.querySelectorAll('#messages *, #conversations *, .account *')].filter(
            (el) => [...el.attributes].some((a) => a.name.startsWith('on'))
                || ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'INPUT', 'STYLE'].includes(el.tagName)
                || (el.tagName === 'svg' && !el.closest('.icon-button, .chat-actions, .message-actions'))
        ).length"""
        )
        == 0
    )
    for href in page.eval_on_selector_all("#messages a", "links => links.map(a => a.href)"):
        assert href == "" or href.startswith(("http://", "https://")), href  # "": the link was made inert
    assert page.evaluate("document.getElementById('prompt').tagName") == "TEXTAREA"
    # No styles from the answer (KaTeX sets its own), so it cannot cover the page.
    assert (
        page.evaluate(
            "[...document.querySelectorAll('#messages [style]')].filter((el) => !el.closest('.katex')).length"
        )
        == 0
    )
    assert page.evaluate("document.querySelectorAll('#messages .katex a').length") == 0


def test_an_answer_full_of_xss_payloads_runs_nothing(make_page, upstream, django_user_model):
    # The user's name, the conversation's title and question carry payloads too.
    user = get_user_model().objects.create_user('<img src=x onerror="window.__xss=30">', password="x")
    upstream.push(Script(words=[XSS_ANSWER], reasoning=['<img src=x onerror="window.__xss=31">']))
    page = open_chat(make_page(user))
    send(page, '<svg onload="window.__xss=32"> <img src=x onerror=alert(33)> title')
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer).to_contain_text("The end.")
    expect(answer.locator(".reasoning-text")).to_have_text('<img src=x onerror="window.__xss=31">')
    expect(page.locator(".message.user .bubble")).to_contain_text("<svg onload")
    expect(page.locator("#chat-title")).to_contain_text("<svg onload")
    expect(page.locator("#conversations .chat-link")).to_contain_text("<svg onload")
    expect(page.locator(".account .username")).to_have_text('<img src=x onerror="window.__xss=30">')
    expect(answer.locator("pre code")).to_contain_text("<script>window.__xss=23</script>")
    expect(answer.locator("a", has_text="clickable")).to_have_attribute("href", "https://example.com")
    # Images become links, so they are never fetched (a tracker would learn who reads).
    expect(answer.locator("a", has_text="[Image: tracker]")).to_have_attribute(
        "href", "https://tracker.example/pixel.png?data=secret"
    )
    expect(answer.locator("img")).to_have_count(0)
    for link in answer.locator("a").all():
        if link.get_attribute("href") is None:
            link.click(modifiers=["Alt"])  # inert
    answer.locator("details").evaluate_all("ds => ds.forEach((d) => { d.open = !d.open; })")
    page.wait_for_timeout(300)
    assert_nothing_ran(page)

    page.reload()  # the saved answer, rendered from the history
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message.assistant")).to_contain_text("The end.")
    page.wait_for_timeout(300)
    assert_nothing_ran(page)


def test_the_chat_page_forbids_inline_script(make_page, owner, asgi_server):
    page = make_page(owner)
    response = page.goto("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    page.wait_for_selector("#boot-message", state="detached")
    # Even a script element put in the page directly does not run.
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.__inline = 1';
            document.body.append(script);
            const div = document.createElement('div');
            div.innerHTML = '<img src="x" onerror="window.__inline = 2">';
            document.body.append(div);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__inline") is None


@pytest.fixture
def outside_server():
    """A server on loopback standing for another site: it records every request it gets."""
    requests = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.requests = requests
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def outside_payloads(url):
    return [
        f'<video poster="{url}/video-poster" src="{url}/video-src" autoplay muted></video>',
        f'<audio src="{url}/audio" autoplay></audio>',
        f'<video><source src="{url}/source" type="video/mp4"><track default src="{url}/track"></video>',
        f'<picture><source srcset="{url}/picture-source"><img src="{PIXEL}" alt="p"></picture>',
        f'<img src="{PIXEL}" srcset="{url}/img-srcset 1x" alt="set">',
        f'<table background="{url}/table-background"><tr><td background="{url}/td-background">cell</td></tr></table>',
        f'<form action="{url}/form" method="post"><input name="q" value="secret"><button>Send</button>'
        "<select><option>a</option></select><textarea>t</textarea></form>",
        f'<input type="image" src="{url}/input-image">',
        f'<p style="position:fixed;inset:0;background:url({url}/style)">overlay</p>',
        f'<iframe src="{url}/iframe"></iframe><object data="{url}/object"></object><embed src="{url}/embed">',
        f'<link rel="stylesheet" href="{url}/link"><div id="prompt" name="x" aria-label="y">ids</div>',
        f"![remote image]({url}/markdown-image)",
    ]


def test_an_answer_asks_nothing_of_other_sites_even_without_the_csp(make_page, owner, upstream, outside_server):
    payloads = outside_payloads(outside_server.url)
    markdown = "- [x] done\n- [ ] to do\n\n| a | b |\n| - | -: |\n| 1 | 2 |"
    upstream.push(Script(words=["Before.\n\n", *(p + "\n\n" for p in payloads), markdown, "\n\nThe end."]))
    # The browser ignores the page's Content-Security-Policy: only the sanitizer stands.
    page = make_page(owner, bypass_csp=True)
    page.outside = []
    page.on("request", lambda request: request.url.startswith(outside_server.url) and page.outside.append(request.url))
    open_chat(page)
    send(page, "Media please")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer).to_contain_text("The end.")
    page.wait_for_timeout(800)

    forbidden = "video, audio, source, track, picture, iframe, object, embed, form, button, select, option, textarea"
    assert answer.locator(".content").locator(forbidden).count() == 0
    attributes = "[style], [srcset], [poster], [background], [action], [id], [name], [aria-label]"
    assert answer.locator(".content").locator(attributes).count() == 0
    assert answer.locator(".content link").count() == 0
    # What Markdown makes still shows: the task list's checkboxes (checked, disabled), the table.
    boxes = answer.locator(".content input")
    expect(boxes).to_have_count(2)
    assert boxes.evaluate_all("bs => bs.map((b) => [b.type, b.checked, b.disabled])") == [
        ["checkbox", True, True],
        ["checkbox", False, True],
    ]
    expect(answer.locator("table td")).to_have_text(["cell", "1", "2"])
    expect(answer.locator("img[alt=set]")).to_have_attribute("src", PIXEL)  # an inline image stays
    expect(answer.locator("a", has_text="[Image: remote image]")).to_have_count(1)
    expect(answer).to_contain_text("overlay")
    assert page.evaluate("document.getElementById('prompt').tagName") == "TEXTAREA"
    assert outside_server.requests == []
    assert page.outside == []


def test_a_formula_cannot_draw_outside_its_message(make_page, owner, upstream):
    # A huge box raised far above its line; then, of the largest size allowed, a box raised with
    # its height hidden (\smash), so the line does not grow to hold it, and a box pushed right.
    huge = r"\raisebox{25em}{\rule{60em}{40em}}"
    smashed = r"\smash[t]{\raisebox{10em}{\rule{10em}{10em}}}"
    wide = r"\kern10em\kern10em\kern10em\kern10em\rule{10em}{1em}"
    upstream.push(
        Script(
            words=[
                f"${smashed}$ raised.\n\n${wide}$ pushed.\n\nInline ${huge}$, displayed:\n\n$${huge}$$\n\n$${smashed}$$"
            ]
        )
    )
    page = open_chat(make_page(owner))
    send(page, "Draw over the page")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".katex")).to_have_count(5)
    page.locator(".message.user").scroll_into_view_if_needed()
    # Every point of the window outside the answer shows something other than a formula.
    covered = page.evaluate(
        """() => {
            const box = document.querySelector('.message.assistant .content').getBoundingClientRect();
            const hits = [];
            for (let x = 2; x < window.innerWidth; x += 16) {
                for (let y = 2; y < window.innerHeight; y += 16) {
                    const inside = x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
                    const element = document.elementFromPoint(x, y);
                    if (!inside && element && element.closest('.katex')) hits.push([x, y]);
                }
            }
            return hits;
        }"""
    )
    assert covered == []
    # The question above the answer can still be reached.
    question = page.locator(".message.user .bubble").bounding_box()
    centre = [question["x"] + question["width"] / 2, question["y"] + question["height"] / 2]
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('.message.user')", centre)
    # KaTeX's sizes are bounded: a rule is at most 10em a side, not 60em by 40em.
    font_size = answer.locator(".katex").first.evaluate("(k) => parseFloat(getComputedStyle(k).fontSize)")
    for rule in answer.locator(".katex-html .katex-rule").all():
        box = rule.bounding_box()
        assert box["width"] <= 10.01 * font_size and box["height"] <= 10.01 * font_size
