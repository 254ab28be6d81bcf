"""
The events of an answer's stream (docs/api.md), built here for every reader: streams of an
answer generated here, followers of one generated elsewhere, through the database or Redis.
"""

from chat import sse
from chat.models import Message


def delta(cursor, kind, start, text):
    """
    The delta event of the text of `kind` ("content" or "reasoning") past `cursor`, which it
    advances, from `text`: a stretch of the answer's content or reasoning that begins `start`
    characters in. b"" when the stretch has nothing past the cursor; None when it begins past
    it: the text in between is missing. This runs for every token of every stream.
    """
    at = cursor.at[kind]
    if start > at:
        return None
    if at > start:
        text = text[at - start :]
    if not text:
        return b""
    cursor.at[kind] = at + len(text)
    return sse.delta(kind, text, id=cursor.event_id)


def deltas(cursor, **stretches):
    """
    The delta events (reasoning first) of the stretches `content=(start, text)` and
    `reasoning=(start, text)` past `cursor`; None, and the cursor left as it was, when one
    begins past the cursor.
    """
    if any(start > cursor.at[kind] for kind, (start, _) in stretches.items()):
        return None
    return b"".join(delta(cursor, kind, *stretches[kind]) for kind in ("reasoning", "content") if kind in stretches)


def saved_deltas(cursor, message):
    """The delta events of a saved answer's text past `cursor`."""
    return deltas(cursor, content=(0, message.content), reasoning=(0, message.reasoning))


def title(text):
    return sse.event("title", {"title": text})


def end(outcome):
    """
    The last event of a stream, from the answer's Message.OUTCOME_FIELDS: `done`, or `error`
    (with the message) when the provider failed.
    """
    status = outcome["status"]
    if status == Message.Status.STOPPING:
        # Asked to stop, and given up waiting for its process to confirm (it may have died).
        status = Message.Status.STOPPED
    data = {
        "status": status,
        "finish_reason": outcome["finish_reason"] or "",
        "usage": {
            "prompt_tokens": outcome["prompt_tokens"],
            "completion_tokens": outcome["completion_tokens"],
            "estimated": outcome["usage_estimated"],
        },
        "first_token_ms": outcome["first_token_ms"],
        "duration_ms": outcome["duration_ms"],
    }
    if status == Message.Status.ERROR:
        return sse.event("error", {"message": outcome["error"], **data})
    return sse.event("done", data)
