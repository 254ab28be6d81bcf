import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "On a fresh install with no users, create an 'admin' superuser and print its password once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        line = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{line}\n  First start: created the administrator account.\n"
                f"  Username: {username}\n  Password: {password}\n"
                f"  Log in at http://127.0.0.1:8000/ and change it in the admin (/admin/).\n"
                f"  This is shown only once.\n{line}"
            )
        )
