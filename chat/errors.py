"""
What the product refuses, and why, in words for the person: raised by the domain (chat.turns,
chat.conversations, chat.limits) and turned into an HTTP status in one place (chat.api).
"""

from django.utils.translation import gettext as _


class ChatError(Exception):
    """A request the product refuses; `message` is for the person, in their language."""

    def __init__(self, message, *, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ChatError):
    """Bad input: a value the API does not accept."""


class NotFound(ChatError):
    """No such conversation or message, or not the person's."""

    def __init__(self, message=None, *, field=None):
        super().__init__(message or _("Not found."), field=field)


class TooLarge(ChatError):
    """Too big: a file over the upload limit, or over what the person may store (413)."""


class Conflict(ChatError):
    """Not now: the conversation's state does not allow it (an answer is still being generated)."""


class Forbidden(ChatError):
    """Not for this person: a model their allowance does not include."""


class OverLimit(ChatError):
    """
    Over a fair-use limit (chat.limits): refused until it frees up, in `retry_after` seconds.
    `kind`: "quota" (tokens spent) or "rate" (messages per minute, answers at once).
    """

    def __init__(self, message, *, retry_after, kind="rate"):
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind
