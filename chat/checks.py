"""
The project's system checks: what Django's own deployment checks do not know about these
settings. `manage.py check --deploy` runs them, and `manage.py doctor` reports them with the
rest of its checks.

Each message's hint is the line to set in .env. They are deployment checks: on your own
computer, with DEBUG on, the development key and loopback host names are what is expected.
Like Django's, any of them can be silenced with SILENCED_SYSTEM_CHECKS in .env.

Django's checks already cover a short or simple SECRET_KEY (security.W009), DEBUG on
(security.W018) and an empty ALLOWED_HOSTS (security.W020); these do not repeat them.
"""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

TAG = "chat"

# The key chatproject/settings.py uses with DEBUG on and no SECRET_KEY: it is in the source
# code, so anyone knows it.
DEVELOPMENT_KEY = "django-insecure-development-only-key"
# The names chatproject/settings.py always adds to ALLOWED_HOSTS, for callers on the server itself.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")

NEW_SECRET_KEY = 'SECRET_KEY=<output of: python3 -c "import secrets; print(secrets.token_urlsafe(50))"> in .env.'
SET_ALLOWED_HOSTS = "ALLOWED_HOSTS=chat.example.com (your domain) in .env."

E001 = Error(
    "SECRET_KEY is the development default. It is published with the source code, so anyone "
    "can sign cookies and tokens this site would trust.",
    hint=NEW_SECRET_KEY,
    id="chat.E001",
)

W002 = Warning(
    "ALLOWED_HOSTS allows any host name (*): Django's protection against forged Host headers is off.",
    hint=SET_ALLOWED_HOSTS,
    id="chat.W002",
)

W003 = Warning(
    "ALLOWED_HOSTS has only loopback names: the app answers 400 Bad Request to anyone coming by the site's domain.",
    hint=SET_ALLOWED_HOSTS,
    id="chat.W003",
)

E004_MSG = "No collected static files in {}: with DEBUG off, pages answer 500."
E004_HINT = (
    "python manage.py collectstatic --noinput (after every upgrade); STATIC_ROOT in .env is the folder it fills."
)


def public_hosts():
    """The names in ALLOWED_HOSTS other than the loopback ones."""
    return [host for host in settings.ALLOWED_HOSTS if host not in LOOPBACK_HOSTS]


@register(Tags.security, TAG, deploy=True)
def check_development_secret_key(app_configs, **kwargs):
    return [E001] if settings.SECRET_KEY == DEVELOPMENT_KEY else []


@register(Tags.security, TAG, deploy=True)
def check_allowed_hosts(app_configs, **kwargs):
    if "*" in settings.ALLOWED_HOSTS:
        return [W002]
    # Empty is Django's security.W020 (and the settings refuse to start with DEBUG off).
    if settings.ALLOWED_HOSTS and not public_hosts():
        return [W003]
    return []


@register(Tags.staticfiles, TAG, deploy=True)
def check_static_files_collected(app_configs, **kwargs):
    """With DEBUG off, pages link the hashed names listed in the manifest collectstatic writes."""
    if settings.DEBUG or not settings.STATIC_ROOT:
        return []
    if (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        return []
    return [Error(E004_MSG.format(settings.STATIC_ROOT), hint=E004_HINT, id="chat.E004")]
