"""
Django's SQLite backend, with a process's writers queued in order and its open connections
capped, as a pool would.

SQLite lets one connection write at a time. The others wait in its busy handler, which sleeps
and tries again (up to 100 ms apart), in no order: when hundreds of answers start at once,
the lock sits idle between tries while unlucky writers try until they time out with
"database is locked". Here the writers of one process queue in order on a lock of their own,
which hands over at once, so SQLite's busy handler only arbitrates between processes.

Each open SQLite connection holds its own copy of the schema and a page cache (about 140 KB
with this app's tables), and every request thread opens its own: a burst of hundreds of
requests queued for the writer held hundreds of connections, and the process kept the
memory. At most OPTIONS["max_connections"] (default 16) are open per process; the next thread
waits in order, up to OPTIONS["connection_wait"] seconds (default 60), for one to be closed or
for the thread that opened it to end.
"""

import threading
import weakref
from collections import deque

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class Queue:
    """Up to `size` holders at a time; the others are served in the order they came."""

    def __init__(self, size):
        self.free = size
        self.waiting = deque()
        self.lock = threading.Lock()

    def acquire(self, timeout):
        with self.lock:
            if self.free and not self.waiting:
                self.free -= 1
                return True
            turn = threading.Lock()
            turn.acquire()
            self.waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self.lock:
            if turn in self.waiting:
                self.waiting.remove(turn)
                return False
        return True  # handed over while timing out

    def release(self):
        with self.lock:
            if self.waiting:
                # Straight to the next in line: no one arriving later can take it first.
                self.waiting.popleft().release()
            else:
                self.free += 1


_writer = Queue(1)
_connections = {}
_connections_lock = threading.Lock()
_opened = threading.local()


def _connections_for(name, size):
    with _connections_lock:
        return _connections.setdefault(name, Queue(size))


class _Slot:
    """One of the connections a process may hold open, given back once."""

    def __init__(self, queue):
        self.queue = queue
        self.held = True

    def give_back(self):
        if self.held:
            self.held = False
            self.queue.release()

    __del__ = give_back


class DatabaseWrapper(base.DatabaseWrapper):
    holds_writer = False
    slot = None

    def get_connection_params(self):
        params = super().get_connection_params()
        # Ours, not sqlite3.connect()'s.
        self.max_connections = params.pop("max_connections", 16)
        self.connection_wait = params.pop("connection_wait", 60)
        return params

    def get_new_connection(self, conn_params):
        queue = _connections_for(self.settings_dict["NAME"], self.max_connections)
        if not queue.acquire(timeout=self.connection_wait):
            raise OperationalError(f"all {self.max_connections} connections to the database are busy")
        try:
            connection = super().get_new_connection(conn_params)
        except BaseException:
            queue.release()
            raise
        slot = _Slot(queue)
        # The opening thread holds the slot: if it ends without closing the connection, its
        # thread-local data goes, and the slot with it. The connection only points to it.
        _opened.slots = [held for held in getattr(_opened, "slots", ()) if held.held] + [slot]
        self.slot = weakref.ref(slot)
        return connection

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
            slot = self.slot and self.slot()
            if slot is not None:
                slot.give_back()

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
