"""
`python manage.py searchindex`: on MySQL/MariaDB, write the search's n-grams of every message
changed since the last search (chat.search.index_pending) at once, as after importing a large
history; searches otherwise catch up 500 messages at a time. SQLite and PostgreSQL keep their
index current themselves: nothing to do there.
"""

from django.core.management.base import BaseCommand
from django.db import connection

from chat import search


class Command(BaseCommand):
    help = "Write the search index of the messages changed since the last search (MySQL/MariaDB)."

    def handle(self, *args, **options):
        if connection.vendor != "mysql":
            self.stdout.write(f"Nothing to do: {connection.vendor} keeps the search index current itself.")
            return
        total = 0
        while indexed := search.index_pending(2000):
            total += indexed
        self.stdout.write(f"Indexed {total} messages.")
