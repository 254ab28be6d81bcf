"""
Secrets out of everything the product writes: what a person sees (an answer's error), what is
saved (the error with the answer) and what is logged. A provider or a library may echo the API
key back, in another spelling: upper-cased, URL-encoded, or cut short and masked
(the key's first characters, then `*****`). `redact()` replaces, in any case:
- the API keys of the providers (from the environment and the admin), whole or URL-encoded;
- any run of text that starts with a key's first KEY_PREFIX characters (a key cut short);
- anything shaped like an API key (`sk-` and eight or more key characters), configured or not;
- the password in a URL (`redis://:password@host`, `https://user:password@proxy`).
"""

import logging
import re
from functools import lru_cache
from urllib.parse import quote, quote_plus

from django.conf import settings

REPLACEMENT = "[API key]"
KEY_PREFIX = 12
# What may follow a key's start: masks and key characters, not the punctuation after it.
_REST = r"(?:[^\s\"'<>,;)]*[^\s\"'<>,;).])?"
KEY_SHAPED = r"\bsk-[A-Za-z0-9_\-]{8,}" + _REST
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)


# The keys entered in the admin, as the catalogue of models last read them (chat.catalogue):
# this module never reads the database, as it runs for every log line.
_remembered = set()


def remember(keys):
    _remembered.update(key for key in keys if key)


def configured_keys():
    keys = {settings.OPENAI_API_KEY, *(spec["api_key"] for spec in settings.PROVIDERS), *_remembered}
    return sorted(key for key in keys if key and len(key) >= 8)


@lru_cache(maxsize=8)
def _pattern(keys):
    spellings = set()
    for key in keys:
        for spelling in (key, quote(key, safe=""), quote_plus(key)):
            spellings.add(re.escape(spelling))
        if len(key) > KEY_PREFIX:
            # A key cut short, with whatever masks the rest (***, …).
            spellings.add(re.escape(key[:KEY_PREFIX]) + _REST)
    alternatives = sorted(spellings, key=len, reverse=True) + [KEY_SHAPED]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def redact(text):
    """`text` with every spelling of a secret replaced."""
    if not text:
        return text
    text = URL_PASSWORD.sub(r"\1***@", text)
    return _pattern(tuple(configured_keys())).sub(REPLACEMENT, text)


class RedactingFormatter(logging.Formatter):
    """A log line, its traceback included, with every spelling of a secret replaced."""

    def format(self, record):
        return redact(super().format(record))
