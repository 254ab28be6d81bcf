"""
`python manage.py rotate_encryption_key`: encrypt every stored API key again with the current
ENCRYPTION_KEY (or SECRET_KEY), once the old one is among the fallbacks (docs/providers.md).
Afterwards the fallback can go.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from chat import encryption
from chat.models import Provider


class Command(BaseCommand):
    help = "Encrypt the stored API keys again with the current encryption key."

    def handle(self, *args, **options):
        rotated, unreadable = 0, []
        with transaction.atomic():
            for provider in Provider.objects.exclude(encrypted_api_key="").select_for_update():
                try:
                    token = encryption.rotate(provider.encrypted_api_key)
                except encryption.InvalidToken:
                    unreadable.append(provider.name)
                    continue
                Provider.objects.filter(pk=provider.pk).update(encrypted_api_key=token)
                rotated += 1
        self.stdout.write(f"{rotated} API key(s) encrypted with the current key.")
        if unreadable:
            raise CommandError(
                f"No key in use decrypts the API key of: {', '.join(unreadable)}. Put the key it was "
                "encrypted with in ENCRYPTION_KEY_FALLBACKS (or the old SECRET_KEY in SECRET_KEY_FALLBACKS), "
                "or enter the API key again in the admin."
            )
