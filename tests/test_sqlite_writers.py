"""
The SQLite backend queues a process's writers instead of letting them poll SQLite's lock, and
caps the connections a process holds open.
"""

import sqlite3
import threading

import pytest
from django.db import connections, transaction
from django.db.utils import OperationalError

from chat.sqlite3.base import DatabaseWrapper, Queue

ALIAS = "writers"


@pytest.fixture
def connect(tmp_path, django_db_blocker):
    """
    connect(timeout) makes this thread's connection of our backend to a file database of this
    test's own, registered as ALIAS so that transaction.atomic(using=ALIAS) works.
    """
    settings = {
        "ENGINE": "chat.sqlite3",
        "NAME": str(tmp_path / "writers.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }

    def connect(timeout=5, max_connections=16, connection_wait=5):
        options = {
            **settings["OPTIONS"],
            "timeout": timeout,
            "max_connections": max_connections,
            "connection_wait": connection_wait,
        }
        connection = DatabaseWrapper({**settings, "OPTIONS": options}, ALIAS)
        connections[ALIAS] = connection
        return connection

    # Made without the backend, so that the test's first connection sets the cap.
    with sqlite3.connect(settings["NAME"]) as database:
        database.execute("CREATE TABLE row (who TEXT)")
    # Not the test database: pytest-django need not set anything up, only let us connect.
    with django_db_blocker.unblock():
        yield connect
        if ALIAS in connections:
            connections[ALIAS].close()
            del connections[ALIAS]


def in_thread(function, *args):
    """Run `function` in a thread with its own connection; its result or error lands in a dict."""
    result = {}

    def run():
        try:
            result["value"] = function(*args)
        except Exception as exc:
            result["error"] = exc
        finally:
            connections[ALIAS].close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def insert(who):
    connections[ALIAS].cursor().execute("INSERT INTO row VALUES (%s)", [who])


def rows():
    return [who for (who,) in connections[ALIAS].cursor().execute("SELECT who FROM row ORDER BY rowid")]


def test_a_write_waits_for_the_transaction_in_progress_then_succeeds(connect):
    inside, release = threading.Event(), threading.Event()

    def hold():
        connect()
        with transaction.atomic(using=ALIAS):
            insert("first")
            inside.set()
            release.wait(10)

    def write():
        connect()
        insert("second")

    first, first_result = in_thread(hold)
    assert inside.wait(10)
    second, second_result = in_thread(write)
    release.set()
    first.join(10)
    second.join(10)
    assert first_result == {"value": None} and second_result == {"value": None}
    connect()
    assert rows() == ["first", "second"]


def test_a_writer_that_waits_longer_than_the_timeout_gets_database_is_locked(connect):
    inside, done = threading.Event(), threading.Event()

    def hold():
        connect()
        with transaction.atomic(using=ALIAS):
            inside.set()
            done.wait(10)

    def write():
        connect(timeout=0.2)
        try:
            insert("late")
        finally:
            done.set()

    first, _ = in_thread(hold)
    assert inside.wait(10)
    second, result = in_thread(write)
    second.join(10)
    first.join(10)
    assert isinstance(result.get("error"), OperationalError) and "locked" in str(result["error"])
    connect()
    assert rows() == []


def test_the_writer_lock_is_given_back_after_commit_rollback_and_errors(connect):
    connection = connect()
    with transaction.atomic(using=ALIAS):
        insert("kept")
        assert connection.holds_writer
    assert not connection.holds_writer
    with pytest.raises(RuntimeError), transaction.atomic(using=ALIAS):
        insert("rolled back")
        raise RuntimeError("the view failed")
    assert not connection.holds_writer
    with pytest.raises(OperationalError):
        connection.cursor().execute("INSERT INTO no_such_table VALUES (1)")
    assert not connection.holds_writer

    def write_quickly():
        connect(timeout=0.5)
        insert("other")

    thread, result = in_thread(write_quickly)
    thread.join(10)
    assert result == {"value": None}
    assert rows() == ["kept", "other"]


def test_a_connection_past_the_cap_waits_for_one_to_close(connect):
    connect(max_connections=2).ensure_connection()  # this thread's: one of two
    opened, release = threading.Event(), threading.Event()

    def hold():
        connect(max_connections=2).ensure_connection()
        opened.set()
        release.wait(10)

    def third():
        connect(max_connections=2)
        return rows()

    holder, _ = in_thread(hold)
    assert opened.wait(10)
    waiting, result = in_thread(third)
    release.set()  # the holder closes its connection as it ends
    holder.join(10)
    waiting.join(10)
    assert result == {"value": []}


def test_past_the_cap_a_connection_that_waits_too_long_is_refused(connect):
    connect(max_connections=1).ensure_connection()

    def second():
        connect(max_connections=1, connection_wait=0.2)
        return rows()

    thread, result = in_thread(second)
    thread.join(10)
    assert isinstance(result.get("error"), OperationalError) and "busy" in str(result["error"])


def test_a_thread_that_ends_without_closing_its_connection_gives_it_back(connect):
    def open_and_forget():
        connect(max_connections=1).ensure_connection()

    thread = threading.Thread(target=open_and_forget)
    thread.start()
    thread.join(10)
    connect(timeout=2, max_connections=1)
    assert rows() == []


def test_the_queue_serves_waiters_in_the_order_they_came():
    queue = Queue(1)
    assert queue.acquire(timeout=1)
    served = []

    def wait(name):
        assert queue.acquire(timeout=10)
        served.append(name)
        queue.release()

    threads = []
    for name in "abc":
        thread = threading.Thread(target=wait, args=(name,))
        thread.start()
        threads.append(thread)
        while len(queue.waiting) < len(threads):  # in line before the next one comes
            threading.Event().wait(0.001)
    queue.release()
    for thread in threads:
        thread.join(10)
    assert served == ["a", "b", "c"]
    assert queue.free == 1 and not queue.waiting


def test_a_waiter_that_times_out_leaves_the_line():
    queue = Queue(1)
    assert queue.acquire(timeout=1)
    assert not queue.acquire(timeout=0.05)
    assert not queue.waiting
    queue.release()
    assert queue.acquire(timeout=0)
