"""
The threads behind a request's synchronous code (chat/handler.py) and behind the database
work of requests and answers (chat/database.py).
"""

import asyncio
import threading
import time

from django.core.signals import request_started
from django.db import connection

from chat.database import in_database_thread
from chat.handler import ASGIHandler, RequestThread, ThreadPool
from tests.fake_upstream import Script
from tests.live import read_text


def test_requests_reuse_the_threads_of_earlier_requests(live, owner):
    client = live(owner)
    chat_id = client.create_chat()
    seen = threading.local()
    new_threads = []

    def count_new_thread(**kwargs):
        # Django sends request_started in the request's thread.
        if not getattr(seen, "before", False):
            seen.before = True
            new_threads.append(threading.current_thread().name)

    request_started.connect(count_new_thread)
    try:
        for _ in range(20):
            status, _ = client.json("GET", f"/api/chats/{chat_id}/")
            assert status == 200
    finally:
        request_started.disconnect(count_new_thread)
    # One after another, twenty requests need one thread (and asgiref alone would start 20).
    assert len(new_threads) <= 2, new_threads


def test_a_streaming_answer_holds_no_request_thread(live, owner, upstream):
    gate = Script(tokens=4, hold_at=2)
    upstream.push(gate)
    client = live(owner)
    stream = client.send(client.create_chat(model="fake-model"), "hold on")
    events = iter(stream)
    read_text(events, "t0 t1 ")
    # The answer is streaming and waits for the provider: its request gave its thread back.
    assert ASGIHandler.threads.lent == 0
    gate.release.set()
    assert [e.name for e in events][-1] == "done"
    stream.close()


def test_the_pool_keeps_only_so_many_idle_threads():
    pool = ThreadPool(keep=2)
    executors = [pool.take() for _ in range(3)]
    assert len({id(executor) for executor in executors}) == 3 and pool.lent == 3
    for executor in executors:
        pool.give_back(executor)
    assert pool.lent == 0
    # The third was shut down, the two kept are handed out again.
    assert {id(pool.take()), id(pool.take())} == {id(executors[0]), id(executors[1])}
    assert executors[2]._shutdown


def test_database_work_runs_in_the_database_threads_in_arrival_order(transactional_db):
    order = []

    @in_database_thread
    def work(number):
        order.append(number)
        time.sleep(0.02)  # as if waiting on the database: the others arrive meanwhile
        return threading.get_ident()

    async def many():
        return await asyncio.gather(*(work(n) for n in range(10)))

    threads = asyncio.run(many())
    assert threading.get_ident() not in threads
    if connection.vendor == "sqlite":
        # One writer at a time: one thread, which takes the work as it comes.
        assert len(set(threads)) == 1
        assert order == list(range(10))
    else:
        assert 1 < len(set(threads)) <= 10


def test_a_lent_thread_comes_without_the_connections_an_earlier_request_left_in_it(transactional_db):
    pool = ThreadPool(keep=1)

    def leave_a_connection_open():
        connection.ensure_connection()
        return threading.get_ident()

    def connection_is_open():
        return threading.get_ident(), connection.connection is not None

    earlier = RequestThread(pool)
    first_thread = earlier.submit(leave_a_connection_open).result()
    earlier.give_back()
    later = RequestThread(pool)
    thread, still_open = later.submit(connection_is_open).result()
    later.give_back()
    # The same thread, tidied as Django's request_started would have done.
    assert thread == first_thread and not still_open
