"""
Django's database sessions (SESSION_ENGINE = "chat.sessions"), with the session read by one
SQL statement: every request of a signed-in person reads it, and the ORM took longer to build
the query than the database took to answer it. Writing, expiry and everything else are
Django's own.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {quote('session_data')} FROM {quote(model._meta.db_table)}"
            f" WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
            row = cursor.fetchone()
        if row is None:
            # As Django does for a session that expired or never was: a new one, if saved.
            self._session_key = None
            return {}
        return self.decode(row[0])
