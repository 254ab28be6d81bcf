"""
Conversation titles asked of the model in a short separate request, once the first answer has
begun, CHAT_TITLE_CONCURRENCY at a time in each server process (chat.relay.generation). When
that fails, or the model gives only reasoning, the title stays the first words of the first
message.
"""

import asyncio
import re
import weakref

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.text import Truncator

from chat import upstream

INSTRUCTION = (
    "Write a short title (at most six words) for a conversation that starts with the user's message below. "
    "Use the language of the message. Answer with the title only: no quotes, no final punctuation."
)
THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def clean(text):
    """The title in a model's reply, or "" when there is none."""
    text = THINKING.sub("", text or "").strip()
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = re.sub(r"^(title|标题)\s*[:：]\s*", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip(" \t\"'“”‘’「」《》*#`").rstrip("。.!！?？")
    return Truncator(line).chars(60)


_slots = weakref.WeakKeyDictionary()


def slots():
    """
    The title requests this process may have in flight at once (an asyncio.Semaphore of
    CHAT_TITLE_CONCURRENCY), for the running event loop: the others wait their turn, first
    come first served.
    """
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(max(settings.CHAT_TITLE_CONCURRENCY, 1))
    return _slots[loop]


def _new_slots(setting, **kwargs):
    if setting == "CHAT_TITLE_CONCURRENCY":
        _slots.clear()


setting_changed.connect(_new_slots, dispatch_uid="titles-new-slots")


def title_params(offer):
    """
    The model's extra parameters for a title: those that make it think are turned off, as a
    title is short, and Qwen refuses thinking in an answer that is not streamed.
    """
    return tuple((name, False if name == "enable_thinking" else value) for name, value in offer.params)


async def ask(offer, message):
    """A title for a conversation that starts with `message`, asked of `offer`'s model."""
    reply = await upstream.complete(
        offer.endpoint_for(),
        model=offer.name,
        params=title_params(offer),
        messages=[{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": message[:2000]}],
        max_tokens=60,
        timeout=30,
    )
    return clean(reply)
