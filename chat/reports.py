"""
What Django's error reports show of the settings (the debug page with DEBUG on, the mails to
ADMINS): Django hides the names that say key, secret, token or password; here also every URL
setting, since a database's, Redis's or a provider's URL carries its password in it
(redis://:password@host) under a name that says none of those.
"""

import re

from django.views.debug import SafeExceptionReporterFilter


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile("API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN", flags=re.IGNORECASE)
