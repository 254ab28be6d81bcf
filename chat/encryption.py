"""
Secrets kept in the database (the providers' API keys), encrypted at rest with Fernet
(`cryptography`): whoever reads a backup or the tables does not get the keys.

The encryption key is ENCRYPTION_KEY, or one derived from SECRET_KEY when it is not set. The
keys in ENCRYPTION_KEY_FALLBACKS (or, without ENCRYPTION_KEY, those derived from
SECRET_KEY_FALLBACKS) still decrypt, so the key can be rotated: the new one in ENCRYPTION_KEY,
the old one among the fallbacks, then `manage.py rotate_encryption_key` re-encrypts what is
stored (docs/providers.md).
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]


def _fernet_key(secret):
    # Fernet wants 32 url-safe base64-encoded bytes; any string of the operator's becomes one.
    digest = hashlib.sha256(f"chat.encryption:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


def secrets_in_use():
    """The strings the keys derive from: the one that encrypts first, then those that only decrypt."""
    if settings.ENCRYPTION_KEY:
        return [settings.ENCRYPTION_KEY, *settings.ENCRYPTION_KEY_FALLBACKS]
    return [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


@lru_cache(maxsize=4)
def _fernet(secrets):
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def fernet():
    return _fernet(tuple(secrets_in_use()))


def encrypt(text):
    return fernet().encrypt(text.encode()).decode() if text else ""


def decrypt(token):
    """The text of `token`; InvalidToken when no key in use made it."""
    return fernet().decrypt(token.encode()).decode() if token else ""


def rotate(token):
    """`token` encrypted again with the current key (it may have been made with a fallback)."""
    return fernet().rotate(token.encode()).decode() if token else ""
