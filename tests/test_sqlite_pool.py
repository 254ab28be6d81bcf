"""The SQLite backend's pool of open connections (runtime/sqlite3/base.py)."""

import threading

import pytest
from django.db import connection

from runtime.sqlite3.base import DatabaseWrapper


@pytest.fixture(autouse=True)
def own_databases(django_db_blocker):
    # These tests open databases of their own, not the test database.
    with django_db_blocker.unblock():
        yield


def wrapper_for(path, **options):
    # On files of their own, whichever database the suite runs on.
    settings = {**connection.settings_dict, "NAME": str(path), "OPTIONS": {**options}, "TEST": {}}
    return DatabaseWrapper(settings, alias="pool-test")


def raw(wrapper):
    wrapper.ensure_connection()
    return wrapper.connection


def test_a_closed_connection_is_the_next_one_opened_in_any_thread(tmp_path):
    first = wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 4})
    opened = raw(first)
    first.close()
    assert first.connection is None
    other = []
    thread = threading.Thread(target=lambda: other.append(raw(wrapper_for(tmp_path / "db.sqlite3", pool={}))))
    thread.start()
    thread.join()
    assert other == [opened]


def test_a_pooled_connection_still_has_the_settings_of_a_new_one(tmp_path):
    options = {"pool": {"max_size": 4}, "init_command": "PRAGMA journal_mode=WAL;"}
    first = wrapper_for(tmp_path / "db.sqlite3", **options)
    raw(first)
    first.close()
    again = wrapper_for(tmp_path / "db.sqlite3", **options)
    with again.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1
        # Django's SQL functions are registered on it.
        cursor.execute("SELECT django_format_dtdelta('+', 1000000, 1000000)")
        assert cursor.fetchone()[0] is not None
    again.close()


def test_a_transaction_left_open_is_rolled_back_before_the_connection_is_reused(tmp_path):
    path = tmp_path / "db.sqlite3"
    setup = wrapper_for(path, pool={"max_size": 4})
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE notes (text TEXT)")
    setup.close()
    writer = wrapper_for(path, pool={"max_size": 4})
    conn = raw(writer)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO notes VALUES ('half done')")
    writer.close()
    reader = wrapper_for(path, pool={"max_size": 4})
    assert raw(reader) is conn and not conn.in_transaction
    with reader.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM notes")
        assert cursor.fetchone()[0] == 0
    reader.close()


def test_the_pool_keeps_at_most_max_size_idle_connections(tmp_path):
    wrappers = [wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 2}) for _ in range(3)]
    connections = [raw(wrapper) for wrapper in wrappers]
    for wrapper in wrappers:
        wrapper.close()
    reopened = {id(raw(wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 2}))) for _ in range(3)}
    # Two come from the pool; the third was closed, so a new one is made.
    assert len(reopened & {id(c) for c in connections[:2]}) == 2


def test_a_database_file_made_again_gets_new_connections(tmp_path):
    path = tmp_path / "db.sqlite3"
    first = wrapper_for(path, pool={"max_size": 4})
    old = raw(first)
    first.close()
    path.unlink()
    (tmp_path / "db.sqlite3-wal").unlink(missing_ok=True)
    (tmp_path / "db.sqlite3-shm").unlink(missing_ok=True)
    path.touch()
    assert raw(wrapper_for(path, pool={"max_size": 4})) is not old


def test_without_the_pool_option_connections_are_closed(tmp_path):
    first = wrapper_for(tmp_path / "db.sqlite3")
    old = raw(first)
    first.close()
    assert raw(wrapper_for(tmp_path / "db.sqlite3")) is not old


def test_a_connection_closed_inside_a_transaction_block_is_not_handed_out(tmp_path):
    first = wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 4})
    old = raw(first)
    first.in_atomic_block = True  # as inside transaction.atomic()
    first.close()
    assert raw(wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 4})) is not old


def test_a_connection_comes_back_with_foreign_keys_enforced(tmp_path):
    first = wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 4})
    raw(first).execute("PRAGMA foreign_keys = OFF")  # as the schema editor does
    first.close()
    again = wrapper_for(tmp_path / "db.sqlite3", pool={"max_size": 4})
    assert raw(again).execute("PRAGMA foreign_keys").fetchone()[0] == 1
