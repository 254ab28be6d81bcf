"""Answers saved together: the batched writes of the relay (chat/relay/store.py, chat/models.py)."""

import asyncio
import time
from contextlib import contextmanager

from django.db import OperationalError, connection

from chat.models import Conversation, Message
from chat.relay.store import Batches
from tests.support.live import read_until, text_of


def _new_answer(conversation):
    answer = conversation.new_answer()
    answer.save()
    return answer


def test_update_each_updates_every_row_with_its_own_values(db, owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    answers = [_new_answer(conversation) for _ in range(3)]
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
    streaming, stopped = _new_answer(conversation), _new_answer(conversation)
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


# --- Progress saves of a live answer --------------------------------------------------------

REFUSE = "writes to the answers refused"


@contextmanager
def answer_writes_refused():
    """While the block runs, the database refuses any change to an answer's text (a trigger),
    as a full disk or a lock held too long would, and still answers reads."""
    table = connection.ops.quote_name(Message._meta.db_table)
    trigger = "CREATE TRIGGER refuse_text BEFORE UPDATE"
    if connection.vendor == "sqlite":
        create = [f"{trigger} OF content ON {table} BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"]
        drop = ["DROP TRIGGER refuse_text"]
    elif connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION refuse_text() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSE}'; END $$",
            f"{trigger} OF content ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_text()",
        ]
        drop = [f"DROP TRIGGER refuse_text ON {table}", "DROP FUNCTION refuse_text()"]
    else:
        create = [
            f"{trigger} ON {table} FOR EACH ROW IF NOT (NEW.content <=> OLD.content) "
            f"THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{REFUSE}'; END IF"
        ]
        drop = ["DROP TRIGGER refuse_text"]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)


def saved_text(message_id, expected, timeout):
    """The answer's text in the database once it is `expected`, or when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while (content := Message.objects.get(pk=message_id).content) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return content


def test_a_progress_save_that_failed_is_made_at_the_next_interval(live, owner, upstream, script, settings, caplog):
    """
    The text received so far is saved every CHAT_SAVE_INTERVAL, for the streams of other
    processes and in case this one dies. An answer that gets no new text after a failed save
    (a model thinking, a provider pausing) is saved at the next interval all the same.
    """
    held = script(tokens=6, hold_at=3)
    upstream.push(held)
    client = live(owner)
    with answer_writes_refused():
        stream = client.send(client.create_conversation(), "Tell me a story")
        events = iter(stream)
        message_id = next(events).data["assistant_message_id"]
        read_until(events, lambda seen: text_of(seen) == "t0 t1 t2 ")
        time.sleep(settings.CHAT_SAVE_INTERVAL * 4)  # several progress saves fail meanwhile
        assert Message.objects.get(pk=message_id).content == ""
    assert REFUSE in caplog.text

    # No new token since: the provider still holds the answer.
    assert saved_text(message_id, "t0 t1 t2 ", timeout=settings.CHAT_SAVE_INTERVAL * 10) == "t0 t1 t2 "
    held.release.set()
    rest = list(events)
    stream.close()
    assert rest[-1].name == "done"
    assert Message.objects.get(pk=message_id).content == "t0 t1 t2 t3 t4 t5 "
