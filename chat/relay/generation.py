"""
The answers this process generates: each by a task of its own, not by the HTTP request that
asked for it, so that a browser that goes away (tab closed, network drop, proxy timeout) does
not lose the answer: it is generated to the end and saved.

One small task (the sweeper) keeps the live answers company a few times a second: it saves
their partial text (one transaction for all of them), notices stop requests made through
another process, and wakes silent streams so they send a heartbeat. On shutdown the answers in
flight are drained.
"""

import asyncio
import logging
import time

from django.conf import settings
from django.utils import translation

from chat import titles, upstream, usage
from chat.models import Message
from chat.redaction import redact
from chat.relay import store
from chat.relay.answers import LiveAnswer
from runtime import tasks

logger = logging.getLogger("chat.relay")

Status = Message.Status


async def _wait_through_cancellation(awaitable):
    """
    Await `awaitable` to its end even if the calling task is cancelled meanwhile (a stop as
    the answer ends, a shutdown): the final save of an answer must land.
    """
    future = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                raise


class Generator:
    def __init__(self):
        self.answers = {}
        self._sweeper = None
        self._next_save = 0.0
        self._next_stop_poll = 0.0
        self._draining = None
        self._final_saves = store.Batches(store.save_finals_retrying)
        self._title_saves = store.Batches(store.save_titles)

    def get(self, answer_id):
        return self.answers.get(answer_id)

    def start(self, turn, *, server=None):
        """Generate the answer of `turn` (chat.turns.Turn); returns its LiveAnswer."""
        answer = LiveAnswer(turn)
        # The request's language goes with the task: an error is told, and saved, in the
        # language of the person who asked.
        language = translation.get_language()
        answer.task = tasks.start(self._generate(answer, turn.offer.endpoint_for(server), turn, language))
        if turn.title_from:
            tasks.start(self._title(answer, turn.title_offer, turn.title_from))
        self.answers[answer.id] = answer
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = tasks.start(self._sweep())
        return answer

    async def _generate(self, answer, endpoint, turn, language):
        translation.activate(language)
        parser = upstream.StreamParser()
        offer = turn.offer
        try:
            async for deltas in upstream.stream_chat(
                endpoint,
                parser,
                model=offer.name,
                messages=turn.messages,
                max_tokens=turn.max_tokens or offer.output_limit,
                params=offer.params + turn.params,
            ):
                answer.append(deltas)
            answer.finish_reason = parser.finish_reason
            answer.usage = parser.usage
            status = Status.COMPLETE
        except asyncio.CancelledError:
            status = Status.STOPPED if answer.stop_requested else Status.INTERRUPTED
            answer.finish_reason = parser.finish_reason
            answer.usage = parser.usage
        except upstream.UpstreamError as exc:
            if exc.deltas:
                answer.append(exc.deltas)
            if exc.kind == "timeout" and answer.first_token_ms is not None:
                exc = upstream.UpstreamError.of("stalled", detail=exc.detail, seconds=settings.OPENAI_READ_TIMEOUT)
            status = Status.ERROR
            answer.error = exc.public_message
            answer.error_detail = exc.provider_text
            logger.warning("upstream error on message %s (%s): %s", answer.id, answer.model, exc.detail)
        except Exception:
            status = Status.ERROR
            answer.error = upstream.public_message("provider")
            logger.exception("unexpected error generating message %s", answer.id)
        await self._finish(answer, status)

    async def _title(self, answer, offer, question):
        """
        Name the conversation of `answer`, its first, once the answer has begun (or ended), a
        few titles at a time (titles.slots()): a title never stands in front of an answer's
        first token, and a burst of new chats is not a burst of title requests. A title that
        comes once the answer has ended reaches the page when it next loads the sidebar.
        """
        try:
            await answer.begun()
            async with titles.slots():
                title = await titles.ask(offer, question)
            if title:
                await self._title_saves.add((answer.conversation_id, title))
                answer.title = title
                answer.wake()
        except Exception as exc:
            # The detail of a provider's fault (redacted), not the SDK's text, which may quote the key.
            detail = exc.detail if isinstance(exc, upstream.UpstreamError) else redact(repr(exc))
            logger.info("no title from the model for conversation %s: %s", answer.conversation_id, detail)

    async def _finish(self, answer, status):
        answer.duration_ms = int((time.monotonic() - answer.started) * 1000)
        outcome = answer.outcome()
        outcome["status"] = status
        charge = usage.settle(
            outcome, user_id=answer.user_id, offer=answer.offer, messages=answer.prompt, token_id=answer.token_id
        )
        # Its streams' last event tells the usage as saved, estimated or not.
        answer.usage = {"prompt_tokens": outcome["prompt_tokens"], "completion_tokens": outcome["completion_tokens"]}
        answer.usage_estimated = outcome["usage_estimated"]
        try:
            await _wait_through_cancellation(self._final_saves.add((outcome, answer.id, charge)))
        except Exception:
            logger.exception("could not save message %s", answer.id)
        finally:
            answer.status = status
            self.answers.pop(answer.id, None)
            answer.wake()
            logger.info(
                "chat turn user=%s conversation=%s message=%s model=%s status=%s "
                "prompt_tokens=%s completion_tokens=%s estimated=%s first_token_ms=%s duration_ms=%s",
                answer.user_id,
                answer.conversation_id,
                answer.id,
                answer.model,
                status,
                outcome["prompt_tokens"],
                outcome["completion_tokens"],
                charge.estimated,
                answer.first_token_ms,
                answer.duration_ms,
            )

    async def _sweep(self):
        beat_every = settings.SSE_HEARTBEAT_SECONDS
        tick = min(settings.CHAT_STOP_POLL_INTERVAL, settings.CHAT_SAVE_INTERVAL, beat_every)
        next_beat = time.monotonic() + beat_every
        database_work = None
        while self.answers:
            await asyncio.sleep(tick)
            # The database may be slow, locked or down: its work goes on beside the
            # heartbeats, never in front of them.
            if database_work is None or database_work.done():
                database_work = asyncio.ensure_future(self._sync_with_database())
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + beat_every
                for answer in list(self.answers.values()):
                    answer.wake()

    async def _sync_with_database(self):
        try:
            now = time.monotonic()
            if now >= self._next_stop_poll:
                self._next_stop_poll = now + settings.CHAT_STOP_POLL_INTERVAL
                for answer_id in await store.to_stop(list(self.answers)):
                    if answer := self.answers.get(answer_id):
                        answer.stop()
            now = time.monotonic()
            if now >= self._next_save:
                self._next_save = now + settings.CHAT_SAVE_INTERVAL
                await self._save_progress()
        except Exception:
            logger.exception("could not sweep the live answers")

    async def _save_progress(self):
        progress, untouched, saving = [], [], []
        for answer in list(self.answers.values()):
            lengths = answer.lengths
            if lengths != answer.saved_lengths:
                progress.append((answer.id, str(answer.content), str(answer.reasoning)))
                saving.append((answer, lengths))
            else:
                untouched.append(answer.id)
        await store.save_progress(progress, untouched)
        # Only once written: after a failed save, the text is saved at the next interval even
        # if no new token comes meanwhile.
        for answer, lengths in saving:
            answer.saved_lengths = lengths

    def start_draining(self, timeout):
        """
        The server is shutting down: let the answers in flight finish for up to `timeout`
        seconds, then stop them and save them as far as they got (status interrupted).
        """
        if self._draining is None or (self._draining.done() and self.answers):
            self._draining = asyncio.ensure_future(self._drain(timeout))
        return self._draining

    async def drain(self, timeout):
        await asyncio.shield(self.start_draining(timeout))

    async def _drain(self, timeout):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.answers:
            logger.info("shutting down: waiting up to %ss for %s answers in flight", timeout, len(self.answers))
        # Answers may still start while the server stops accepting requests.
        while self.answers and loop.time() < deadline:
            await asyncio.wait([a.task for a in self.answers.values()], timeout=deadline - loop.time())
        if cut_short := list(self.answers.values()):
            logger.warning("shutting down: saving %s unfinished answers as interrupted", len(cut_short))
            for answer in cut_short:
                answer.task.cancel()
            await asyncio.wait([answer.task for answer in cut_short])
