"""
The relay's database work: each function is one unit run in a database thread. The writes of
many answers go together (Batches): partial text about once a second for all live answers in
one transaction, never one write per token; final records batched as answers end together.
"""

import asyncio
import logging

from django.db import OperationalError, transaction
from django.utils import timezone

from chat import usage
from chat.models import Conversation, Message
from runtime import tasks
from runtime.database import in_database_thread

logger = logging.getLogger("chat.relay")

Status = Message.Status


@in_database_thread
def save_finals(answers):
    """
    The final records of answers, (outcome, answer id, chat.usage.Charge), in one
    transaction with what they add to their users' usage.
    """
    now = timezone.now()
    columns = [*Message.OUTCOME_FIELDS, "updated_at"]
    rows = [[*(outcome[name] for name in Message.OUTCOME_FIELDS), now, answer_id] for outcome, answer_id, _ in answers]
    with transaction.atomic():
        Message.objects.update_each(columns, rows)
        usage.record([charge for _, _, charge in answers])


@in_database_thread
def save_progress(progress, untouched_ids):
    """Save partial answers, (id, content, reasoning), and show for the others that their
    process is alive."""
    now = timezone.now()
    with transaction.atomic():
        Message.objects.update_each(
            ("content", "reasoning", "updated_at"),
            [(content, reasoning, now, answer_id) for answer_id, content, reasoning in progress],
            status=Status.STREAMING,
        )
        for start in range(0, len(untouched_ids), 500):
            Message.objects.filter(pk__in=untouched_ids[start : start + 500]).update(updated_at=now)


@in_database_thread
def save_titles(titles):
    """Conversations' titles, (conversation id, title) pairs, in one transaction."""
    with transaction.atomic():
        for conversation_id, title in titles:
            Conversation.objects.filter(pk=conversation_id).update(title=title)


@in_database_thread
def delete_conversation(conversation_id):
    Conversation.objects.filter(pk=conversation_id).delete()


@in_database_thread
def to_stop(answer_ids):
    """
    Which of these answers to stop: those another process was asked to stop (status
    stopping), and those whose conversation was deleted meanwhile (no row any more).
    """
    found = {}
    for start in range(0, len(answer_ids), 500):
        found.update(Message.objects.filter(pk__in=answer_ids[start : start + 500]).values_list("pk", "status"))
    return [answer_id for answer_id in answer_ids if found.get(answer_id, Status.STOPPING) == Status.STOPPING]


@in_database_thread
def load(answer_id):
    """The answer as saved (None if it is gone), ended if its process died."""
    answers = Message.objects.filter(pk=answer_id)
    message = answers.first()
    if message is not None and message.is_live and answers.mark_abandoned():
        message.refresh_from_db()
    return message


@in_database_thread
def request_stop(answer_id):
    """
    Ask whichever process generates this answer to stop it, through the database: that
    process notices within CHAT_STOP_POLL_INTERVAL, closes the upstream request and saves
    what arrived. An answer whose process died is ended instead. Returns the status after.
    """
    answers = Message.objects.filter(pk=answer_id)
    answers.mark_abandoned()
    Message.objects.update_each(["status"], [(Status.STOPPING, answer_id)], status=Status.STREAMING)
    return answers.values_list("status", flat=True).get()


@in_database_thread
def mark_abandoned_answers():
    count = Message.objects.mark_abandoned()
    if count:
        logger.warning("marked %s answers interrupted: the process generating them had stopped", count)
    return count


async def save_finals_retrying(answers, attempts=6):
    """
    The final saves, tried again on a transient database error: SQLite may stay locked past
    its timeout, MySQL/MariaDB may pick them as a deadlock's victim (the writes of the relay
    lock by primary key, see MessageQuerySet.update_each, but the sweep of abandoned answers
    does not), a database server may be restarting.
    """
    for attempt in range(attempts):
        try:
            return await save_finals(answers)
        except OperationalError as exc:
            if attempt == attempts - 1:
                raise
            logger.warning("saving %s answers failed (%s); trying again", len(answers), exc)
            await asyncio.sleep(0.05 * 2**attempt)


class Batches:
    """
    Writes queued and made together: while one batch is written, the next gathers. An answer
    that ends alone is saved at once; a thousand that end together take a few transactions
    instead of a thousand.
    """

    def __init__(self, write):
        self.write = write
        self.pending = []
        self.task = None

    def add(self, item):
        """A future that resolves once `item` is written (or holds the error)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((item, future))
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = tasks.start(self._write_all())
        return future

    async def _write_all(self):
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await self.write([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1 or isinstance(exc, OperationalError):
                    # The database failed, not a row (`write` has tried again already).
                    for _, future in batch:
                        _settle(future, exc)
                    continue
                # One bad row must not cost the others theirs: write them one by one.
                for item, future in batch:
                    try:
                        await self.write([item])
                    except Exception as exc:
                        _settle(future, exc)
                    else:
                        _settle(future)
            else:
                for _, future in batch:
                    _settle(future)


def _settle(future, exc=None):
    if not future.done():
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)
