"""
The database, whichever DATABASE_URL selects (the suite runs on SQLite, PostgreSQL and
MariaDB in CI): configured as Django advises under ASGI, storing any Unicode text, and never
held by a stream while it waits for the model.
"""

import gc
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from chat import usage
from chat.models import Conversation, Message
from chat.relay import store
from tests.support.fake_upstream import Script
from tests.support.live import read_text


def open_wrappers():
    """Django connections of this process, in any thread, that hold a database connection now."""
    gc.collect()
    mine = connections["default"]
    return [
        wrapper
        for wrapper in gc.get_objects()
        if isinstance(wrapper, BaseDatabaseWrapper) and wrapper is not mine and wrapper.connection is not None
    ]


def connections_in_use():
    """Server connections in use by the app, measured in the way each database allows."""
    if connection.vendor == "postgresql":
        stats = connection.pool.get_stats()
        # Checked out of the pool (idle connections in the pool are fine: that is its job).
        return stats["pool_size"] - stats["pool_available"]
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            )
            return cursor.fetchone()[0]
    return len(open_wrappers())


def test_a_stream_waiting_for_tokens_holds_no_database_connection(live, owner, upstream):
    gate = Script(tokens=4, hold_at=2)
    upstream.push(gate)
    # Connections other tests left in worker threads of this process (an error page rendered
    # off the request's thread, say) are not this stream's.
    if connection.vendor == "postgresql":
        connection.close()
    before = (connections_in_use(), len(open_wrappers()))
    client = live(owner)
    stream = client.send(client.create_conversation(model="fake-model"), "hold on")
    events = iter(stream)
    read_text(events, "t0 t1 ")
    # The stream is open and waiting for the provider. The background saver still uses a
    # connection briefly now and then, so sample: a connection held by the stream would be
    # in every sample.
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        connection.close()  # hand the test's own connection back to the pool before counting
    samples = []
    for _ in range(10):
        samples.append((connections_in_use(), len(open_wrappers())))
        time.sleep(0.1)
    gate.release.set()
    rest = [e.name for e in events]
    stream.close()
    assert rest[-1] == "done"
    assert min(server for server, _ in samples) <= before[0], (before, samples)
    assert min(wrappers for _, wrappers in samples) <= before[1], (before, samples)


@pytest.mark.django_db(transaction=True)
def test_writes_of_one_answer_from_several_processes_never_deadlock(owner):
    """
    While one process generates and saves an answer, others stop it, follow it and show its
    conversation, which look whether it was abandoned. On MySQL/MariaDB, writes that found
    the row through the status index deadlocked with writes by primary key, and the one
    picked as the victim failed: a follower's stream was cut, a stop answered 500.
    """
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    answer = chat.new_answer()
    answer.save()
    failures = []

    def repeat(work):
        try:
            for round in range(500):
                work(round)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def generate(round):
        store.save_progress.__wrapped__([(answer.pk, f"t{round}", "")], [])
        store.save_progress.__wrapped__([], [answer.pk])  # alive, without new text
        final = {name: None for name in Message.OUTCOME_FIELDS}
        final.update(content=f"t{round}.", reasoning="", finish_reason="", error="", error_detail="", status="complete")
        final.update(first_token_ms=1, duration_ms=2, prompt_tokens=3, completion_tokens=4, usage_estimated=False)
        charge = usage.Charge(owner.pk, "fake-model", "openai", 3, 4, estimated=False, cost=Decimal(0))
        store.save_finals.__wrapped__([(final, answer.pk, charge)])
        # And the next turn's answer starts streaming; the same row stands for it.
        Message.objects.filter(pk=answer.pk).update(status="streaming", duration_ms=None)

    def stop(round):
        # Now and then: a stopped answer is written by no one.
        if round % 10 == 0:
            store.request_stop.__wrapped__(answer.pk)
        else:
            time.sleep(0.002)

    def follow(round):
        store.load.__wrapped__(answer.pk)

    def show_conversation(round):
        chat.messages.mark_abandoned()

    works = (generate, stop, follow, show_conversation)
    threads = [threading.Thread(target=repeat, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert Message.objects.get(pk=answer.pk).content == "t499."


def test_the_database_is_configured_as_django_advises_under_asgi(db):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg's pool instead of persistent connections.
            assert type(connection.pool).__module__.startswith("psycopg_pool")
            cursor.execute("SHOW server_encoding")
            assert cursor.fetchone()[0] == "UTF8"
        elif connection.vendor == "mysql":
            cursor.execute("SELECT @@character_set_connection")
            assert cursor.fetchone()[0] == "utf8mb4"
            cursor.execute(
                "SELECT table_collation FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'chat_message'"
            )
            assert cursor.fetchone()[0].startswith("utf8mb4_")
        else:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"


def test_any_unicode_text_round_trips(db, owner):
    # 4-byte UTF-8: emoji and a CJK Extension B character, which MySQL's "utf8" cannot store.
    text = "你好，世界 😀🎉 𠀀𪚥 العربية ñ"
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title=text)
    message = conversation.messages.create(role=Message.Role.USER, content=text * 100)
    assert Conversation.objects.get(pk=conversation.pk).title == text
    assert Message.objects.get(pk=message.pk).content == text * 100
    assert Conversation.objects.filter(title__icontains="😀🎉").count() == 1


def database_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, chatproject.settings as s; db = s.DATABASES['default']; "
            "print(json.dumps({k: db.get(k) for k in ('ENGINE', 'NAME', 'CONN_MAX_AGE', 'OPTIONS', 'TEST')}))",
        ],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_url_gets_psycopg_with_a_connection_pool():
    db = database_settings(DATABASE_URL="postgres://chat:pw@127.0.0.1:5432/chat", DATABASE_POOL_MAX="7")
    assert db["ENGINE"] == "django.db.backends.postgresql" and db["NAME"] == "chat"
    assert db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 7, "timeout": 30}


def test_sqlite_pool_can_be_turned_off():
    db = database_settings(DATABASE_URL="sqlite:///db.sqlite3", DATABASE_POOL="false")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in db["OPTIONS"]


def test_postgresql_pool_can_be_turned_off():
    db = database_settings(DATABASE_URL="postgres://chat:pw@127.0.0.1:5432/chat", DATABASE_POOL="false")
    assert "pool" not in (db["OPTIONS"] or {})


def test_mysql_url_gets_utf8mb4_through_pymysql():
    db = database_settings(DATABASE_URL="mysql://chat:pw@127.0.0.1:3306/chat")
    assert db["ENGINE"] == "django.db.backends.mysql"
    assert db["OPTIONS"]["charset"] == "utf8mb4"
    assert db["TEST"] == {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}


@pytest.mark.parametrize("env", [{"DATABASE_URL": "sqlite:///db.sqlite3"}, {"DATABASE_URL": ""}, {}])
def test_sqlite_is_the_default_and_uses_wal_and_immediate_transactions(env):
    db = database_settings(**env)
    assert db["ENGINE"] == "runtime.sqlite3"
    assert db["OPTIONS"]["pool"] == {"max_size": 8}
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
