from datetime import timedelta

from django.core.management.base import BaseCommand

from chat import files


class Command(BaseCommand):
    help = (
        "Delete the uploads never sent with a message (a file attached, then the message not sent), "
        "with their stored files, once they are older than --hours (24). Run it daily, e.g. from cron "
        "(docs/deploy.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=24.0, help="Age of the unsent uploads deleted (24).")

    def handle(self, *args, hours, **options):
        count = files.purge_unsent(timedelta(hours=hours))
        self.stdout.write(f"Deleted {count} unsent upload(s).")
