"""
A person's conversations as files they take away: one conversation as Markdown (to read or
paste) or JSON, and everything of theirs as one JSON file (docs/api.md, "Export"), which this
product's import reads back.

The file of everything is written as it is read, a few conversations and a few hundred
messages at a time, each chunk in a database thread: however long the history, the server
holds one chunk of it.
"""

import json

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from chat import conversations
from chat.errors import Invalid
from chat.models import Conversation, Message, Preset, Usage
from runtime.database import in_database_thread

FORMAT = "chat-export"
VERSION = 1
CONVERSATIONS_CHUNK = 50
MESSAGES_CHUNK = 500


def conversation_json(conversation, messages):
    """A conversation with its messages, as the API shows them."""
    return {**conversation.as_json(), "messages": messages}


KINDS = {"markdown": ("md", "text/markdown; charset=utf-8"), "json": ("json", "application/json")}


def conversation_file(user_id, conversation_id, kind):
    """
    (file name, content type, text) of the person's conversation as `kind`, "markdown" or
    "json"; NotFound when it is not theirs.
    """
    if kind not in KINDS:
        raise Invalid(_("'format' must be markdown or json."), field="format")
    conversation, messages = conversations.show(user_id, conversation_id)
    if kind == "json":
        text = json.dumps(conversation_json(conversation, messages), ensure_ascii=False, indent=2)
    else:
        text = as_markdown(conversation, messages)
    extension, content_type = KINDS[kind]
    stem = slugify(conversation.title, allow_unicode=True)[:60] or "chat"
    return f"{stem}-{conversation.pk}.{extension}", content_type, text


def as_markdown(conversation, messages):
    """The conversation as Markdown: its title, model and system prompt, then each message."""
    lines = [f"# {conversation.title or _('New chat')}", ""]
    lines.append(f"- {_('Model')}: {conversation.model}")
    lines.append(f"- {_('Created')}: {timezone.localtime(conversation.created_at):%Y-%m-%d %H:%M}")
    lines.append("")
    if conversation.system_prompt:
        lines += [f"## {_('System prompt')}", "", conversation.system_prompt, ""]
    for message in messages:
        if message["role"] == Message.Role.USER:
            lines += [f"## {_('You')}", ""]
        else:
            lines += [f"## {message['model'] or _('Assistant')}", ""]
            if message["reasoning"]:
                quoted = "\n".join(f"> {line}" if line else ">" for line in message["reasoning"].splitlines())
                lines += [f"> **{_('Reasoning')}**", ">", quoted, ""]
        # The files sent with a question, by name (the files themselves stay on the server).
        lines += [f"📎 {attachment['name']}" for attachment in message.get("attachments", ())]
        if message.get("attachments") and message["content"]:
            lines.append("")
        lines.append(message["content"])
        if message["role"] == Message.Role.ASSISTANT and message["status"] != Message.Status.COMPLETE:
            lines += ["", f"*({Message.Status(message['status']).label})*"]
        lines.append("")
    return "\n".join(lines)


async def everything(user_id):
    """
    All of the person's data as JSON text, in pieces: their account and own presets, every
    conversation with its messages (oldest first), and their daily usage.
    """
    head = await _head(user_id)
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "conversations": ['
    after, first = 0, True
    while True:
        chunk = await _conversations(user_id, after)
        for conversation in chunk:
            body = json.dumps(conversation.as_json(), ensure_ascii=False)
            yield ("" if first else ",") + body[:-1] + ', "messages": ['
            first = False
            async for piece in _messages_of(conversation.pk):
                yield piece
            yield "]}"
        if len(chunk) < CONVERSATIONS_CHUNK:
            break
        after = chunk[-1].pk
    yield '], "usage": ' + json.dumps(await _usage(user_id), ensure_ascii=False) + "}"


async def _messages_of(conversation_id):
    after, first = 0, True
    while True:
        messages = await _messages(conversation_id, after)
        if messages:
            yield ("" if first else ",") + ",".join(json.dumps(m, ensure_ascii=False) for m in messages)
            first = False
        if len(messages) < MESSAGES_CHUNK:
            return
        after = messages[-1]["id"]


@in_database_thread
def _head(user_id):
    user = get_user_model().objects.get(pk=user_id)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "account": {
            "username": user.get_username(),
            "email": user.email,
            "date_joined": user.date_joined.isoformat(),
        },
        # The presets they saved themselves (the staff's are not theirs).
        "presets": [
            {name: value for name, value in preset.as_json(user_id).items() if name != "mine"}
            for preset in Preset.objects.for_user(user_id).order_by("pk")
        ],
    }


@in_database_thread
def _conversations(user_id, after):
    rows = Conversation.objects.for_user(user_id).filter(pk__gt=after).select_related("api_token").order_by("pk")
    return list(rows[:CONVERSATIONS_CHUNK])


@in_database_thread
def _messages(conversation_id, after):
    rows = Message.objects.shown().filter(conversation_id=conversation_id, pk__gt=after).order_by("pk")
    return rows[:MESSAGES_CHUNK].as_json()


@in_database_thread
def _usage(user_id):
    rows = Usage.objects.filter(user_id=user_id).order_by("day", "model").select_related("token")
    return [
        {
            "day": row.day.isoformat(),
            "model": row.model,
            "provider": row.provider,
            "api_token": row.token.name if row.token_id else None,
            "requests": row.requests,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "estimated_tokens": row.estimated_tokens,
            "cost": str(row.cost),
        }
        for row in rows
    ]
