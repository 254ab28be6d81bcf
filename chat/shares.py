"""
Share links: a person shares a conversation as a read-only public page at an unguessable
address (models.Share), a snapshot as of sharing; sharing again moves the snapshot on,
stopping removes the page at once.
"""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import conversations
from chat.errors import Invalid, NotFound
from chat.models import Share


@transaction.atomic
def share(user_id, conversation_id, *, shows_author=False):
    """Share the conversation as it is now (the same address when it was shared before)."""
    if not isinstance(shows_author, bool):
        raise Invalid(_("'%(name)s' must be true or false.") % {"name": "shows_author"}, field="shows_author")
    conversation = conversations.get(user_id, conversation_id)
    last = conversation.messages.shown().order_by("-id").values_list("id", flat=True).first() or 0
    snapshot = {
        "title": conversation.title,
        "last_message_id": last,
        "shows_author": shows_author,
        "created_at": timezone.now(),
    }
    found = Share.objects.select_for_update().filter(conversation=conversation).first()
    if found is None:
        return Share.objects.create(conversation=conversation, key=secrets.token_urlsafe(24), **snapshot)
    for name, value in snapshot.items():
        setattr(found, name, value)
    found.save()
    return found


def of(user_id, conversation_id):
    try:
        return Share.objects.for_user(user_id).get(conversation_id=conversation_id)
    except Share.DoesNotExist:
        raise NotFound from None


def stop(user_id, conversation_id):
    of(user_id, conversation_id).delete()


def listed(user_id):
    return Share.objects.for_user(user_id).select_related("conversation")


def public(key):
    """The share at `key`, with its conversation and owner; None when there is none."""
    return Share.objects.select_related("conversation__owner").filter(key=key).first()
