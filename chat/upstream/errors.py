"""
What can go wrong at the provider, said three times: in words the product chooses for each kind
of fault, for the person (in their language, never a traceback, never the API key, never a
setting's name: what they can do about it); for staff, the provider's own words about it, or
else what the operator should check (saved with the answer as its error_detail, shown in the
admin); and in detail for the server log (in English, what to check and the exceptions). All
of it redacted (chat/redaction.py).
"""

import asyncio
import email.utils
import math
import socket
import ssl
from datetime import UTC, datetime

import aiohttp
import httpx2
import openai
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from chat.redaction import redact


class UpstreamError(Exception):
    """A failure of the provider, with its public message and the detail for the log."""

    def __init__(self, public_message, *, detail="", kind="provider", provider_text=""):
        public_message = redact(public_message)
        super().__init__(public_message)
        self.public_message = public_message
        self.detail = redact(detail or public_message)
        # What the provider itself said (a context too long, a quota used up), for staff.
        self.provider_text = redact(provider_text)[:1000]
        self.kind = kind
        # Deltas that arrived together with the fault, not yet passed on.
        self.deltas = []

    @classmethod
    def of(cls, kind, *, detail="", **values):
        """The error of `kind`, told in the current language (the answer's task runs in the
        language of the person who asked), and logged in English with what the operator
        should check, which staff see too."""
        check = operator_message(kind, **values)
        logged = f"{check} Cause: {detail}" if detail and check else detail or check or MESSAGES[kind].format(**values)
        return cls(public_message(kind, **values), detail=logged, kind=kind, provider_text=check)


def public_message(kind, **values):
    """The message of `kind` (a key of MESSAGES) in the current language."""
    return gettext(MESSAGES[kind]).format(**values)


def operator_message(kind, **values):
    """What the operator should check for a fault of `kind`, in English; "" when nothing to add."""
    return OPERATOR_MESSAGES[kind].format(**values) if kind in OPERATOR_MESSAGES else ""


# The service out of reach, whatever the reason: nothing the person can fix but to wait or
# to ask another model (the operator's detail says which reason).
UNAVAILABLE = gettext_noop("The model service is unavailable right now; try again or pick another model.")

# What the person is shown, in English here and translated when shown (locale/): what
# happened, in their words, and what they can do. Never a setting's name: that is the
# operator's (OPERATOR_MESSAGES).
MESSAGES = {
    "dns": UNAVAILABLE,
    "connect": UNAVAILABLE,
    "tls": UNAVAILABLE,
    "timeout": gettext_noop("The model provider did not answer within {seconds:g} seconds."),
    "stalled": gettext_noop("The model provider stopped sending the answer for {seconds:g} seconds."),
    "broken": gettext_noop("The connection to the model provider broke off during the answer."),
    "truncated": gettext_noop("The answer ended before the model provider finished it."),
    "malformed": gettext_noop("The model provider sent data that could not be read."),
    "provider": gettext_noop("The model provider reported an error."),
    "retry": gettext_noop("Try again in {seconds} seconds."),
    401: gettext_noop(
        "The model service did not accept this site's credentials (HTTP 401); pick another model, or tell the "
        "administrator."
    ),
    403: gettext_noop(
        "The model service refused access to this model (HTTP 403); pick another model, or tell the administrator."
    ),
    404: gettext_noop(
        "The model service does not offer the model {model!r} (HTTP 404); pick another model, or tell the "
        "administrator."
    ),
    429: gettext_noop("The model provider is rate limiting requests (HTTP 429)."),
    "status": gettext_noop("The model provider answered with an error (HTTP {status})."),
}

# What the operator should check, for the log and staff (never shown to the person), in English.
OPERATOR_MESSAGES = {
    "dns": "Could not find the model provider's server (the name in OPENAI_BASE_URL, or in the provider's base URL "
    "in the admin, does not resolve).",
    "connect": "Could not reach the model provider. Check OPENAI_BASE_URL (or the provider's base URL in the admin) "
    "and the server's network.",
    "tls": "Could not set up a secure connection to the model provider (TLS certificate or proxy problem).",
    401: "The model provider rejected the API key (HTTP 401). Check OPENAI_API_KEY (or the provider's key in the "
    "admin).",
    403: "The model provider refused access to this model (HTTP 403): the key's permissions, the account or the "
    "region.",
    404: "The model provider does not know the model {model!r} (HTTP 404). Check OPENAI_MODELS and OPENAI_BASE_URL "
    "(or the provider's models and base URL in the admin).",
}


def provider_error(error, *, detail):
    """The UpstreamError of an `{"error": ...}` the provider sent inside its stream."""
    message = error.get("message") if isinstance(error, dict) else str(error)
    return UpstreamError(public_message("provider"), detail=detail, kind="provider", provider_text=str(message or ""))


def _chain(exc):
    """`exc` and the exceptions it was raised from, outermost first."""
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _describe(chain):
    return " <- ".join(f"{type(e).__name__}: {e}" for e in chain)


def _status_error(exc, model, detail):
    status = exc.status_code
    if status == 404:
        message = public_message(404, model=model)
    elif status in MESSAGES:
        message = public_message(status)
    else:
        message = public_message("status", status=status)
    if status == 429 and (seconds := retry_after(exc.response.headers)) is not None:
        message += " " + public_message("retry", seconds=seconds)
    # The provider's own words (a context too long, a quota used up, a region refused) are
    # for staff and the log: they may quote the key, or say what the person need not see.
    body = exc.body
    explanation = body.get("message") if isinstance(body, dict) else None
    provider_text = explanation.strip() if isinstance(explanation, str) else ""
    if check := operator_message(status, model=model):
        detail = f"{check} Cause: {detail}"
        provider_text = f"{check} The provider said: {provider_text}" if provider_text else check
    return UpstreamError(message, detail=detail, kind="status", provider_text=provider_text)


def retry_after(headers):
    """Whole seconds from a Retry-After (seconds or an HTTP date) or retry-after-ms header."""
    try:
        if value := headers.get("retry-after-ms"):
            return max(math.ceil(float(value) / 1000), 1)
        if value := headers.get("retry-after"):
            if value.strip().isdigit():
                return int(value)
            when = email.utils.parsedate_to_datetime(value)
            return max(math.ceil((when - datetime.now(UTC)).total_seconds()), 1)
    except (ValueError, TypeError, OverflowError):
        pass
    return None


def public_error(exc, *, model=""):
    """An UpstreamError for any exception raised while calling the provider."""
    if isinstance(exc, UpstreamError):
        return exc
    chain = _chain(exc)
    detail = _describe(chain)

    def has(*types):
        return any(isinstance(e, types) for e in chain)

    # The SDK's aiohttp transport maps every connection error, refused or reset, to a
    # connect timeout; what happened is told by the original exception underneath.
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, model, detail)
    if has(aiohttp.ClientConnectorDNSError, socket.gaierror):
        return UpstreamError.of("dns", detail=detail)
    if has(aiohttp.ClientSSLError, ssl.SSLError):
        return UpstreamError.of("tls", detail=detail)
    if has(aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, httpx2.ConnectError):
        return UpstreamError.of("connect", detail=detail)
    if has(aiohttp.ServerTimeoutError, TimeoutError, httpx2.TimeoutException):
        return UpstreamError.of("timeout", detail=detail, seconds=settings.OPENAI_READ_TIMEOUT)
    if has(aiohttp.ClientError, httpx2.HTTPError, OSError, asyncio.IncompleteReadError, openai.APIConnectionError):
        return UpstreamError.of("broken", detail=detail)
    return UpstreamError.of("provider", detail=detail)
