"""
Conversation titles asked of the model in a short separate request, while the first answer
streams. When that fails, or the model gives only reasoning, the title stays the first words
of the first message.
"""

import re

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
