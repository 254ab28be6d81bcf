"""An answer generated in this process, and a reader's position in an answer's text."""

import asyncio
import time

from chat.models import Message
from chat.relay import events

Status = Message.Status


class Text:
    """A growing text, kept as the pieces it arrived in: joined only when read."""

    __slots__ = ("pieces", "length")

    def __init__(self):
        self.pieces = []
        self.length = 0

    def append(self, piece):
        self.pieces.append(piece)
        self.length += len(piece)

    def since(self, mark):
        """
        (start, text, mark): the text from `mark` (what an earlier call returned, or (0, 0)
        for the start) to the end, the number of characters before it, and the mark to give
        next time. One join of the new pieces, however long the text already is.
        """
        index, start = mark
        return start, "".join(self.pieces[index:]), (len(self.pieces), self.length)

    def __str__(self):
        return "".join(self.pieces)


class Cursor:
    """
    How much of an answer a reader has: characters of its content and of its reasoning, as a
    delta event's id says (`<content>-<reasoning>`, counted in code points), so that a reader
    who reconnects resumes exactly where it left off, whichever process serves it: the saved
    text is always a prefix of the final text.
    """

    def __init__(self, content_at=0, reasoning_at=0):
        self.at = {"content": content_at, "reasoning": reasoning_at}
        # Where this reader is in the pieces of a live answer's texts (Text.since).
        self.marks = {"content": (0, 0), "reasoning": (0, 0)}

    @classmethod
    def from_event_id(cls, value):
        """The cursor of a Last-Event-ID; the start when it is absent or not one of ours."""
        try:
            content, reasoning = (int(part) for part in (value or "").split("-"))
        except ValueError:
            return cls()
        return cls(max(content, 0), max(reasoning, 0))

    @property
    def event_id(self):
        return f"{self.at['content']}-{self.at['reasoning']}"


class LiveAnswer:
    """The growing text of one answer, generated in this process, and how it ended."""

    def __init__(self, turn):
        self.id = turn.answer_id
        self.conversation_id = turn.conversation_id
        self.user_id = turn.user_id
        self.model = turn.model
        # What its usage is estimated from when the provider reports none (chat.usage).
        self.offer = turn.offer
        self.prompt = turn.messages
        self.token_id = turn.token_id
        self.content = Text()
        self.reasoning = Text()
        self.status = Status.STREAMING
        self.finish_reason = ""
        self.usage = {}
        self.usage_estimated = False
        self.error = ""
        self.error_detail = ""
        self.first_token_ms = None
        self.duration_ms = None
        self.title = ""
        self.stop_requested = False
        self.saved_lengths = (0, 0)
        self.started = time.monotonic()
        self.task = None
        self._loop = asyncio.get_running_loop()
        self._waiters = []

    @property
    def is_finished(self):
        return self.status != Status.STREAMING

    @property
    def lengths(self):
        return self.content.length, self.reasoning.length

    @property
    def prompt_tokens(self):
        return self.usage.get("prompt_tokens")

    @property
    def completion_tokens(self):
        return self.usage.get("completion_tokens")

    def outcome(self):
        """The answer's Message.OUTCOME_FIELDS as they stand now."""
        values = {name: getattr(self, name) for name in Message.OUTCOME_FIELDS}
        values["content"], values["reasoning"] = str(self.content), str(self.reasoning)
        return values

    def deltas(self, cursor):
        """The delta events of the text this answer has past `cursor`, which they advance."""
        # Only the texts with pieces this reader has not seen: this runs for every token.
        chunk = b""
        if cursor.marks["reasoning"][0] != len(self.reasoning.pieces):
            start, new, cursor.marks["reasoning"] = self.reasoning.since(cursor.marks["reasoning"])
            chunk = events.delta(cursor, "reasoning", start, new)
        if cursor.marks["content"][0] != len(self.content.pieces):
            start, new, cursor.marks["content"] = self.content.since(cursor.marks["content"])
            chunk += events.delta(cursor, "content", start, new)
        return chunk

    async def begun(self):
        """Return once the first token has come, or the answer has ended without one."""
        while self.first_token_ms is None and not self.is_finished:
            await self.changed()

    def wake(self):
        """Resolve every changed() that is waiting now."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def changed(self):
        """A future that resolves at the next wake(): new text, the end, or a heartbeat."""
        # Like asyncio.Event().wait() without its lookup of the running loop, which costs a
        # system call (getpid) on Python 3.11, for every token of every stream.
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def append(self, deltas):
        if self.first_token_ms is None:
            self.first_token_ms = int((time.monotonic() - self.started) * 1000)
        for kind, piece in deltas:
            text = self.content if kind == "content" else self.reasoning
            text.pieces.append(piece)
            text.length += len(piece)
        self.wake()

    def stop(self):
        """Stop generating: the upstream request is closed and what arrived is kept."""
        if not self.is_finished and not self.stop_requested:
            self.stop_requested = True
            self.task.cancel()
