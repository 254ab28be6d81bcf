"""
Django's SQLite backend, with the writers of a process queued in order.

SQLite lets one connection write at a time. The others wait in its busy handler, which sleeps
and tries again (up to 100 ms apart), in no order: when hundreds of answers start at once,
the lock sits idle between tries while unlucky writers try until they time out with
"database is locked". Here the writers of one process queue on a lock of their own, which
hands over at once, so SQLite's busy handler only arbitrates between processes.
"""

import threading

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_writer = threading.Lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class DatabaseWrapper(base.DatabaseWrapper):
    holds_writer = False

    def take_writer(self):
        if not self.holds_writer:
            # As long as SQLite itself would wait before giving up.
            if not _writer.acquire(timeout=self.settings_dict["OPTIONS"].get("timeout", 5)):
                raise OperationalError("database is locked")
            self.holds_writer = True

    def give_writer(self):
        if self.holds_writer:
            self.holds_writer = False
            _writer.release()

    def _start_transaction_under_autocommit(self):
        self.take_writer()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.give_writer()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self.give_writer()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self.give_writer()

    def _close(self):
        try:
            return super()._close()
        finally:
            self.give_writer()

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=CursorWrapper)
        cursor.database = self
        return cursor


class CursorWrapper(base.SQLiteCursorWrapper):
    database = None

    def execute(self, query, params=None):
        if self.database.holds_writer or not query.lstrip()[:7].upper().startswith(_WRITES):
            return super().execute(query, params)
        # A write outside a transaction: its own short transaction.
        self.database.take_writer()
        try:
            return super().execute(query, params)
        finally:
            self.database.give_writer()

    def executemany(self, query, param_list):
        if self.database.holds_writer:
            return super().executemany(query, param_list)
        self.database.take_writer()
        try:
            return super().executemany(query, param_list)
        finally:
            self.database.give_writer()
