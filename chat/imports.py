"""
Conversations brought in from a file (docs/api.md, "Import"): this product's own export
(chat.exports), or ChatGPT's data export: its `conversations.json`, the split
`conversations-NNN.json` files, or the whole export's `.zip`.

A file is read whole into conversations first (`read`), then saved in one transaction
(`save`): a file that is no known export, or an import that fails, saves nothing. Every
conversation imported keeps a key of where it came from (Conversation.import_key), so the same
file imported again adds nothing. From this product's export, the person's own presets come
in too (those they already have, the same in every field, are not added twice).
"""

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from chat import catalogue
from chat.errors import Invalid
from chat.models import Conversation, Message, Preset
from chat.presets import GREETING_MAX_LENGTH, NAME_MAX_LENGTH

# ChatGPT's content types that are text a person wrote or read; the others (code run by a
# tool, its output, browsing, custom instructions) were never part of the conversation shown.
CHATGPT_TEXT = {"text", "multimodal_text"}
IMAGE = "[image]"


@dataclass
class Imported:
    """A conversation read from a file, not yet saved."""

    key: str
    title: str
    model: str
    system_prompt: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Each: {"role", "content", "reasoning", "model", "status", "created_at", and for answers
    # from this product's export their usage and times}.
    messages: list = field(default_factory=list)


@dataclass
class Reading:
    """What a file holds: its conversations, its presets and the entries skipped, each with why."""

    conversations: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    # Each: the fields of a Preset of the person's own (this product's export only).
    presets: list = field(default_factory=list)

    def skip(self, title, reason):
        self.skipped.append({"title": title, "reason": reason})


def read(upload):
    """The Reading of an uploaded file (a Django UploadedFile); Invalid for an unknown file."""
    limit = settings.CHAT_MAX_IMPORT_MB * 1024 * 1024
    if upload.size > limit:
        raise Invalid(_("The file is larger than %(size)s MB.") % {"size": settings.CHAT_MAX_IMPORT_MB}, field="file")
    reading = Reading()
    if zipfile.is_zipfile(upload):
        for name, document in _zip_documents(upload, limit):
            _read_document(document, reading, name)
    else:
        upload.seek(0)
        _read_document(_json(upload.read(), upload.name), reading, upload.name)
    return reading


def _zip_documents(upload, limit):
    """The JSON documents of an export's zip: conversations.json or its split files."""
    try:
        upload.seek(0)
        archive = zipfile.ZipFile(upload)
        names = sorted(
            info.filename
            for info in archive.infolist()
            if _is_conversations_file(info.filename.rsplit("/", 1)[-1]) and not info.is_dir()
        )
        if not names:
            raise Invalid(_("The zip file holds no conversations.json."), field="file")
        read_so_far = 0
        for name in names:
            info = archive.getinfo(name)
            read_so_far += info.file_size
            # What the zip says it holds, before inflating it: a small zip may inflate to gigabytes.
            if read_so_far > limit * 4:
                raise Invalid(_("The zip file unpacks to more than the server reads."), field="file")
            yield name, _json(archive.read(name), name)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        # RuntimeError: a password-protected member; NotImplementedError: an unknown compression.
        raise Invalid(_("The zip file cannot be read."), field="file") from None


def _is_conversations_file(name):
    stem = name.removesuffix(".json")
    return name.endswith(".json") and (
        stem == "conversations" or (stem.startswith("conversations-") and stem[14:].isdigit())
    )


def _json(raw, name):
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid(_("%(name)s is not a JSON file.") % {"name": name}, field="file") from None


def _read_document(document, reading, name):
    if isinstance(document, dict) and document.get("format") == "chat-export":
        _read_own(document, reading)
    elif isinstance(document, list) and all(isinstance(entry, dict) for entry in document) and document:
        if not any("mapping" in entry for entry in document):
            raise Invalid(_("%(name)s is not an export this server knows.") % {"name": name}, field="file")
        for entry in document:
            _read_chatgpt(entry, reading)
    elif document == []:
        return
    else:
        raise Invalid(_("%(name)s is not an export this server knows.") % {"name": name}, field="file")


# --- This product's export ----------------------------------------------------------------------


def _read_own(document, reading):
    if document.get("version") != 1:
        raise Invalid(_("This export's version is not one this server reads."), field="file")
    for entry in document.get("conversations") or []:
        title = _text(entry.get("title")) if isinstance(entry, dict) else ""
        try:
            messages = [_own_message(message) for message in entry["messages"]]
            created_at = _time(entry["created_at"])
            conversation = Imported(
                key="",
                title=title[:200],
                model=_text(entry.get("model"))[:100],
                system_prompt=_text(entry.get("system_prompt")),
                created_at=created_at,
                updated_at=_time(entry.get("updated_at")) or created_at,
                messages=messages,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            reading.skip(title, _("It is not a conversation of this server's export."))
            continue
        conversation.key = "export:" + _digest(conversation)
        reading.conversations.append(conversation)
    for entry in document.get("presets") or []:
        try:
            reading.presets.append(_own_preset(entry))
        except (KeyError, TypeError, ValueError, AttributeError):
            name = entry.get("name") if isinstance(entry, dict) else None
            reading.skip(name if isinstance(name, str) else "", _("It is not a preset of this server's export."))


def _own_preset(entry):
    name = _text(entry["name"]).strip()
    temperature = entry.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise ValueError(temperature)
    if not name:
        raise ValueError(name)
    return {
        "name": name[:NAME_MAX_LENGTH],
        "system_prompt": _text(entry.get("system_prompt")),
        "model": _text(entry.get("model"))[:100],
        "greeting": _text(entry.get("greeting"))[:GREETING_MAX_LENGTH],
        "temperature": temperature,
    }


def _own_message(message):
    role = message["role"]
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ValueError(role)
    status = message.get("status") or Message.Status.COMPLETE
    if status in Message.LIVE_STATUSES:
        status = Message.Status.INTERRUPTED  # nothing generates it here
    Message.Status(status)
    usage = message.get("usage") or {}
    return {
        "role": role,
        "content": _text(message["content"]),
        "reasoning": _text(message.get("reasoning")),
        "model": _text(message.get("model"))[:100],
        "status": status,
        "finish_reason": _text(message.get("finish_reason"))[:32],
        "error": _text(message.get("error")),
        "prompt_tokens": _count(usage.get("prompt_tokens")),
        "completion_tokens": _count(usage.get("completion_tokens")),
        "usage_estimated": bool(usage.get("estimated")),
        "first_token_ms": _count(message.get("first_token_ms")),
        "duration_ms": _count(message.get("duration_ms")),
        "created_at": _time(message["created_at"]),
    }


# --- ChatGPT's export -----------------------------------------------------------------------------


def _read_chatgpt(entry, reading):
    """
    One conversation of ChatGPT's conversations.json: a tree of messages (`mapping`), of which
    the branch that ends at `current_node` is the conversation as last shown.
    """
    title = _text(entry.get("title"))
    try:
        mapping, node = entry["mapping"], entry["current_node"]
        branch = []
        seen = set()
        while node is not None:
            if node in seen:
                raise ValueError("a cycle")
            seen.add(node)
            branch.append(mapping[node])
            node = mapping[node].get("parent")
        branch.reverse()
        default_model = _text(entry.get("default_model_slug"))
        messages, reasoning = [], []
        for item in branch:
            message = item.get("message")
            if not message:
                continue
            parsed = _chatgpt_message(message, default_model)
            if parsed is None:
                continue
            if parsed["role"] == "reasoning":
                reasoning.append(parsed["content"])
                continue
            if parsed["role"] == Message.Role.ASSISTANT and reasoning:
                parsed["reasoning"] = "\n\n".join(reasoning)
            reasoning = []
            messages.append(parsed)
        key = _text(entry.get("conversation_id") or entry.get("id"))
        created_at = _epoch(entry.get("create_time"))
    except (KeyError, TypeError, ValueError, AttributeError):
        reading.skip(title, _("Its messages cannot be read."))
        return
    if not messages:
        reading.skip(title, _("It has no messages to import."))
        return
    conversation = Imported(
        key="",
        title=title[:200],
        model=(next((m["model"] for m in messages if m["model"]), "") or default_model)[:100],
        created_at=created_at or messages[0]["created_at"],
        updated_at=_epoch(entry.get("update_time")) or created_at,
        messages=messages,
    )
    conversation.key = "chatgpt:" + (key[:80] if key else _digest(conversation))
    reading.conversations.append(conversation)


def _chatgpt_message(message, default_model):
    """A message of the branch as {"role", ...}; role "reasoning" for thoughts; None to skip."""
    role = (message.get("author") or {}).get("role")
    metadata = message.get("metadata") or {}
    content = message.get("content") or {}
    kind = content.get("content_type")
    if metadata.get("is_visually_hidden_from_conversation") or role not in ("user", "assistant"):
        return None  # system and tool messages, hidden context
    if role == "assistant" and kind == "thoughts":
        thoughts = [_text(t.get("content")) for t in content.get("thoughts") or [] if isinstance(t, dict)]
        text = "\n\n".join(t for t in thoughts if t)
        return {"role": "reasoning", "content": text} if text else None
    if kind not in CHATGPT_TEXT or message.get("recipient", "all") != "all":
        return None  # code for a tool, its output, browsing
    parts = [part if isinstance(part, str) else IMAGE for part in content.get("parts") or [] if part != ""]
    text = "\n\n".join(parts).strip()
    if not text:
        return None
    return {
        "role": role,
        "content": text,
        "reasoning": "",
        "model": _text(metadata.get("model_slug") or (default_model if role == "assistant" else ""))[:100],
        "status": Message.Status.COMPLETE,
        "created_at": _epoch(message.get("create_time")),
    }


# --- Saving -----------------------------------------------------------------------------------------


def preview(user_id, reading):
    """What `save` would do with `reading`, as the API tells it: nothing is written."""
    new, duplicates = _new(user_id, reading)
    return _summary(new, duplicates, reading, saved=None, presets=_new_presets(user_id, reading))


@transaction.atomic
def save(user_id, reading):
    """Save the conversations of `reading` not imported before, in one transaction."""
    new, duplicates = _new(user_id, reading)
    saved = []
    for imported in new:
        conversation = Conversation.objects.create(
            owner_id=user_id,
            title=imported.title,
            model=imported.model,
            system_prompt=imported.system_prompt,
            import_key=imported.key,
        )
        created_at = imported.created_at or conversation.created_at
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=created_at, updated_at=imported.updated_at or created_at
        )
        Message.objects.bulk_create(
            Message(conversation=conversation, **{**message, "created_at": message["created_at"] or created_at})
            for message in imported.messages
        )
        saved.append(conversation.pk)
    presets = _new_presets(user_id, reading)
    Preset.objects.bulk_create(Preset(owner_id=user_id, **preset) for preset in presets)
    return _summary(new, duplicates, reading, saved=saved, presets=presets)


def _new(user_id, reading):
    """The conversations of `reading` not imported yet (nor twice in one file), and how many were."""
    known = set(
        Conversation.objects.for_user(user_id)
        .filter(import_key__in=[c.key for c in reading.conversations])
        .values_list("import_key", flat=True)
    )
    new = []
    for conversation in reading.conversations:
        if conversation.key not in known:
            known.add(conversation.key)
            new.append(conversation)
    return new, len(reading.conversations) - len(new)


def _new_presets(user_id, reading):
    """
    The presets of `reading` the person does not have yet, the same in every field; a model
    this server does not offer becomes blank (the person's default), as a preset is a promise
    of how a chat starts.
    """
    offers = catalogue.current()
    fields = ("name", "system_prompt", "model", "greeting", "temperature")
    known = set(Preset.objects.filter(owner_id=user_id).values_list(*fields))
    new = []
    for preset in reading.presets:
        preset = {**preset, "model": preset["model"] if offers.find(preset["model"]) else ""}
        key = tuple(preset[name] for name in fields)
        if key not in known:
            known.add(key)
            new.append(preset)
    return new


def _summary(new, duplicates, reading, *, saved, presets):
    summary = {
        "conversations": len(new),
        "messages": sum(len(c.messages) for c in new),
        "titles": [c.title for c in new],
        "presets": len(presets),
        "already_imported": duplicates,
        "skipped": reading.skipped,
    }
    if saved is not None:
        summary["ids"] = saved
    return summary


def _digest(conversation):
    """A key for a conversation without an id of its own: what it says and when it began."""
    digest = hashlib.sha256()
    for part in [conversation.title, str(conversation.created_at)] + [
        f"{m['role']}\0{m['content']}" for m in conversation.messages
    ]:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:40]


def _text(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(value)
    # JSON may spell a lone surrogate, which no database stores.
    return value.encode("utf-8", "replace").decode() if not value.isascii() else value


def _count(value):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**31 - 1:
        raise ValueError(value)
    return value


def _time(value):
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def _epoch(value):
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(value)
    return datetime.fromtimestamp(value, tz=UTC)
