"""
Personal API tokens: a person's key to the OpenAI-compatible API (chat.openai_api) and to the
JSON API without a session. A token is shown once, when it is made; only its SHA-256 digest is
kept (a token is 32 random bytes: no slow hash is needed to keep it from being guessed), with
its first characters to recognise it by.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import catalogue, conversations
from chat.errors import Invalid, NotFound
from chat.models import ApiToken

PREFIX = "sk-chat-"
SHOWN = len(PREFIX) + 4
# last_used_at is written at most this often per token: not one write per request.
USE_RECORDED_EVERY = timedelta(minutes=1)
NAME_MAX_LENGTH = 100


def digest(token):
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(user_id, *, name, expires_at=None, models=()):
    """A new token of the user's: the ApiToken, and the token itself, to show once."""
    conversations.check_text(name, "name", max_length=NAME_MAX_LENGTH, required=True)
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid(_("'expires_at' must be in the future."), field="expires_at")
    offers = catalogue.current()
    unknown = [model for model in models if offers.find(model) is None]
    if unknown:
        raise Invalid(
            _("Unknown model %(model)s. Available: %(models)s.")
            % {"model": repr(unknown[0][:100]), "models": ", ".join(offers.ids)},
            field="models",
        )
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user_id=user_id,
        name=name.strip(),
        prefix=token[:SHOWN],
        digest=digest(token),
        allowed_models="\n".join(offers.find(model).id for model in models),
        expires_at=expires_at,
    )
    return row, token


def bearer(request):
    """The token of a request's `Authorization: Bearer <token>` header; None without one."""
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authenticate(token):
    """
    The usable ApiToken (not revoked, not expired, its user active) that `token` is, with its
    user; None for any other. One query, and now and then a write of when it was last used.
    """
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = ApiToken.objects.usable().select_related("user").filter(digest=digest(token)).first()
    if row is not None:
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at >= USE_RECORDED_EVERY:
            row.last_used_at = now
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def listed(user_id):
    return [token.as_json() for token in ApiToken.objects.for_user(user_id).filter(revoked_at__isnull=True)]


@transaction.atomic
def revoke(user_id, token_id):
    """Revoke a token of the user's at once; NotFound for another's, or one already revoked."""
    revoked = ApiToken.objects.for_user(user_id).filter(pk=token_id, revoked_at__isnull=True)
    if not revoked.update(revoked_at=timezone.now()):
        raise NotFound
