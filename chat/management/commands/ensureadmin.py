import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


def listening_on():
    """
    Where gunicorn (`make run`, gunicorn.conf.py) listens, read as gunicorn.conf.py reads it:
    GUNICORN_BIND, else 127.0.0.1:PORT, else 127.0.0.1:8000 (the settings put .env's values in
    the environment). A URL to open in a browser, or the first socket when it listens on none
    but Unix sockets.
    """
    binds = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT') or 8000}"
    addresses = [bind.strip() for bind in binds.split(",") if bind.strip()]
    for address in addresses:
        if address.startswith(("unix:", "fd://")):
            continue
        host, colon, port = address.rpartition(":")
        if not colon or host.endswith(":") and not host.startswith("["):  # no port, or a bare IPv6 address
            host, port = address, "8000"
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):  # every interface: this machine's own works
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"
    return addresses[0] if addresses else "http://127.0.0.1:8000/"


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
        where = listening_on()
        if where.startswith("http"):
            login = f"Log in at {where} (or the address your web server serves it at)"
        else:
            login = f"Log in through your web server (gunicorn listens on {where})"
        line = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{line}\n  First start: created the administrator account.\n"
                f"  Username: {username}\n  Password: {password}\n"
                f"  {login}\n  and change the password in the admin (/admin/), or with\n"
                f"  `python manage.py changepassword {username}`.\n"
                f"  This is shown only once.\n{line}"
            )
        )
