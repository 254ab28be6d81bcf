"""Answers saved together: the batched writes of the relay (chat/relay.py, chat/models.py)."""

import asyncio

from django.db import OperationalError

from chat.models import Conversation, Message
from chat.relay import Batches


def test_update_each_updates_every_row_with_its_own_values(db, owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    answers = [conversation.begin_answer() for _ in range(3)]
    Message.objects.update_each(
        ("content", "completion_tokens"), [(f"answer {i}", i, answer.pk) for i, answer in enumerate(answers[:2])]
    )
    assert list(Message.objects.order_by("id").values_list("content", "completion_tokens")) == [
        ("answer 0", 0),
        ("answer 1", 1),
        ("", None),
    ]


def test_update_each_with_a_status_leaves_the_others_alone(db, owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    streaming, stopped = conversation.begin_answer(), conversation.begin_answer()
    Message.objects.filter(pk=stopped.pk).update(status=Message.Status.STOPPED, content="kept")
    Message.objects.update_each(
        ("content",), [("new", streaming.pk), ("new", stopped.pk)], status=Message.Status.STREAMING
    )
    assert Message.objects.get(pk=streaming.pk).content == "new"
    assert Message.objects.get(pk=stopped.pk).content == "kept"


def _run_batches(write, groups):
    """Add each group of items when the previous write has started; the batches written."""

    async def run():
        batches = Batches(write)
        futures = []
        for group in groups:
            futures += [batches.add(item) for item in group]
            await asyncio.sleep(0.01)
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(run())


def test_a_lone_write_goes_at_once_and_the_ones_queued_meanwhile_go_together():
    written = []

    async def write(items):
        written.append(items)
        await asyncio.sleep(0.05)

    results = _run_batches(write, [["a"], ["b", "c"], ["d"]])
    assert results == [None] * 4
    assert written == [["a"], ["b", "c", "d"]]


def test_one_bad_item_does_not_cost_the_others_of_its_batch():
    written = []

    async def write(items):
        await asyncio.sleep(0.02)
        if "bad" in items:
            raise ValueError("bad row")
        written.extend(items)

    results = _run_batches(write, [["first"], ["good", "bad", "also good"]])
    assert results[:2] == [None, None] and isinstance(results[3 - 1], ValueError) and results[3] is None
    assert written == ["first", "good", "also good"]


def test_a_failing_database_is_not_tried_again_row_by_row():
    calls = []

    async def write(items):
        calls.append(items)
        await asyncio.sleep(0.02)
        if len(calls) > 1:
            raise OperationalError("database is locked")

    results = _run_batches(write, [["first"], ["a", "b", "c"]])
    assert results[0] is None and all(isinstance(r, OperationalError) for r in results[1:])
    # `write` retries transient errors itself: the batch is not written again one by one.
    assert calls == [["first"], ["a", "b", "c"]]
