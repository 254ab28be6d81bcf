"""
Takes the README's screenshots (docs/screenshot-{light,dark,phone,zh}.png) of a sample
conversation in chromium: `make screenshots`. Not part of the test suite (the name does not
start with test_), but it runs on the same fixtures: the live server and a real browser.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Conversation, Message
from tests.support.browser import DESKTOP, PHONE, open_chat

DOCS = Path(settings.BASE_DIR) / "docs"

QUESTION = "Should I use a list or a deque as a queue in Python? Show me a quick benchmark."
REASONING = (
    "The person wants a queue. list.pop(0) shifts every remaining element, so it is linear; "
    "deque.popleft is constant time. A small timeit comparison will make it concrete."
)
ANSWER = r"""Use **`collections.deque`**. It adds and removes items at both ends in $O(1)$,
while `list.pop(0)` shifts every remaining element, which is $O(n)$.

| Operation | `list` | `deque` |
| --- | --- | --- |
| Append at the end | $O(1)$ | $O(1)$ |
| Remove from the front | $O(n)$ | $O(1)$ |
| Index `q[i]` | $O(1)$ | $O(n)$ |

```python
from collections import deque
from timeit import timeit

def drain(queue, pop):
    while queue:
        pop(queue)

n = 100_000
print(timeit(lambda: drain(list(range(n)), lambda q: q.pop(0)), number=1))
print(timeit(lambda: drain(deque(range(n)), deque.popleft), number=1))
```

Draining $n$ items from a list moves

$$\sum_{k=1}^{n} k = \frac{n(n+1)}{2}$$

elements in total, so for $n = 10^5$ the deque finishes in milliseconds while the list takes seconds.
Keep a `list` when you mostly index into it or only push and pop at the end."""

OTHER_CHATS = [
    ("Sourdough starter feeding schedule", timedelta(hours=3)),
    ("Weekend trip plan for Kyoto", timedelta(days=1, hours=2)),
    ("Regex for ISO 8601 dates", timedelta(days=3)),
    ("Explain TCP slow start", timedelta(days=5)),
    ("Birthday poem for Mum", timedelta(days=12)),
    ("Cover letter for a data analyst job", timedelta(days=20)),
    ("Nginx config for a Django app", timedelta(days=45)),
]


@pytest.fixture
def person(make_user):
    return make_user("mei")


@pytest.fixture
def sample(person, settings):
    owner = person
    settings.OPENAI_MODELS = ["deepseek-chat", "deepseek-reasoner", "demo"]
    settings.OPENAI_DEFAULT_MODEL = "deepseek-chat"
    now = timezone.now()
    for title, age in OTHER_CHATS:
        Conversation.objects.create(owner=owner, title=title, model="deepseek-chat", updated_at=now - age)
    chat = Conversation.objects.create(
        owner=owner, title="List or deque for a queue", model="deepseek-reasoner", updated_at=now
    )
    chat.messages.create(role=Message.Role.USER, content=QUESTION)
    chat.messages.create(
        role=Message.Role.ASSISTANT,
        content=ANSWER,
        reasoning=REASONING,
        model="deepseek-reasoner",
        finish_reason="stop",
        prompt_tokens=38,
        completion_tokens=412,
        first_token_ms=620,
        duration_ms=7400,
    )
    return chat


def shoot(page, chat, name):
    open_chat(page, f"/c/{chat.pk}/")
    expect(page.locator(".message.assistant .katex-display")).to_have_count(1)
    page.evaluate("document.fonts.ready")
    page.evaluate("document.getElementById('scroller').scrollTop = 0")
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    page.screenshot(path=DOCS / name)


def test_take_screenshots(make_page, person, sample):
    shoot(make_page(person, viewport=DESKTOP), sample, "screenshot-light.png")
    shoot(make_page(person, viewport=DESKTOP, color_scheme="dark"), sample, "screenshot-dark.png")
    shoot(make_page(person, viewport=PHONE, scale=2), sample, "screenshot-phone.png")
    shoot(make_page(person, viewport=DESKTOP, locale="zh-CN"), sample, "screenshot-zh.png")
