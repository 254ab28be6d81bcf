"""
The site's own name, notice and logo (SITE_NAME, SITE_NOTICE, SITE_LOGO_URL), for every page's
template: a context processor (settings.TEMPLATES), so that no view passes them itself.
"""

from django.conf import settings
from django.utils.translation import gettext


def name():
    """The site's name: the operator's SITE_NAME, else the product's, in the page's language."""
    return settings.SITE_NAME or gettext("Chat")


def password_reset_enabled():
    """Whether people may reset a forgotten password by e-mail: only with a mail server."""
    return bool(settings.EMAIL_URL)


def site(request):
    # Not "site_name": Django's login and password views put the host's name under that one.
    return {
        "brand": {"name": name(), "notice": settings.SITE_NOTICE, "logo_url": settings.SITE_LOGO_URL},
        "password_reset_enabled": password_reset_enabled(),
    }
