"""
Django's SQLite backend with a pool of open connections, as Django's PostgreSQL backend has
with psycopg's pool: OPTIONS["pool"] = {"max_size": N} (settings: DATABASE_POOL,
DATABASE_POOL_MAX).

Under ASGI every request and every database unit runs in a thread of Django's choosing, and Django
opens a new SQLite connection for each one and closes it afterwards (CONN_MAX_AGE = 0, as
Django advises there). Opening is the expensive part: the file is opened, the WAL mode and
the pragmas are set and Django registers its thirty-odd SQL functions, several times per
chat turn. Here closing hands the connection back to the pool, and opening takes one from
it. Nothing else changes: a connection is only ever used by one thread at a time, and no
thread holds one while it is not using it.
"""

import os
import sqlite3
import threading

from django.db.backends.sqlite3 import base


class ConnectionPool:
    """Open SQLite connections to one file, idle until a thread needs one."""

    def __init__(self, max_size):
        self.max_size = max_size
        self._idle = []
        self._lock = threading.Lock()
        self._file_id = None

    @staticmethod
    def file_id(path):
        # A database file deleted and made again (a test database, a restore) is another
        # database: connections to the old one must not be handed out for it.
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def take(self, path):
        """An idle connection to the file at `path`, or None."""
        file_id = self.file_id(path)
        with self._lock:
            stale = self._forget_other_files(file_id)
            connection = self._idle.pop() if self._idle else None
        for old in stale:
            old.close()
        return connection

    def give_back(self, connection, path):
        try:
            if connection.in_transaction:
                connection.rollback()
            # As a new connection has it, whatever a schema change did meanwhile.
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            connection.close()
            return
        file_id = self.file_id(path)
        with self._lock:
            stale = self._forget_other_files(file_id)
            if len(self._idle) < self.max_size:
                self._idle.append(connection)
                connection = None
        for old in [*stale, connection]:
            if old is not None:
                old.close()

    def _forget_other_files(self, file_id):
        if file_id == self._file_id:
            return []
        stale, self._idle, self._file_id = self._idle, [], file_id
        return stale


_pools = {}
_pools_lock = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        """This database's pool (OPTIONS["pool"]: True or {"max_size": N}), or None."""
        options = self.settings_dict["OPTIONS"].get("pool", False)
        if options is False or self.is_in_memory_db():
            return None
        name = self.settings_dict["NAME"]
        pool = _pools.get(name)
        if pool is None:
            max_size = options.get("max_size", 8) if isinstance(options, dict) else 8
            with _pools_lock:
                pool = _pools.setdefault(name, ConnectionPool(max_size))
        return pool

    def get_connection_params(self):
        params = super().get_connection_params()
        params.pop("pool", None)  # ours, not sqlite3.connect()'s
        return params

    def get_new_connection(self, conn_params):
        if (pool := self.pool) and (connection := pool.take(self.settings_dict["NAME"])):
            return connection
        return super().get_new_connection(conn_params)

    def _close(self):
        # Closed inside atomic(), the wrapper keeps its connection until the block exits:
        # another thread must not be given it meanwhile.
        pool = self.pool
        if self.connection is None or pool is None or self.in_atomic_block:
            return super()._close()
        with self.wrap_database_errors:
            pool.give_back(self.connection, self.settings_dict["NAME"])
