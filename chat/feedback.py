"""
A person's feedback on an answer: thumbs up or down, with an optional note, for the operator
to see in the admin which models disappoint. One per answer: rating again replaces it, and the
page clears it when the same thumb is clicked again. Only the answers of one's own
conversations can be rated; each function is one database unit and raises chat.errors for
what it refuses.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from chat import conversations
from chat.errors import Invalid, NotFound
from chat.models import Feedback, Message


def check_rating(rating):
    if rating not in Feedback.Rating.values:
        raise Invalid(_('\'rating\' must be "up" or "down".'), field="rating")
    return rating


def _answer(user_id, message_id):
    """The person's message `message_id`, which must be an answer (Invalid for a question)."""
    message = Message.objects.for_user(user_id).filter(pk=message_id).only("id", "role").first()
    if message is None:
        raise NotFound
    if message.role != Message.Role.ASSISTANT:
        raise Invalid(_("Only answers can be rated, not questions."))
    return message


@transaction.atomic
def rate(user_id, message_id, rating, note=""):
    """Rate the person's answer `message_id`, in place of any earlier rating; returns the Feedback."""
    check_rating(rating)
    conversations.check_text(note, "note", max_length=Feedback.NOTE_MAX_LENGTH)
    answer = _answer(user_id, message_id)
    feedback, _created = Feedback.objects.update_or_create(
        message=answer, defaults={"user_id": user_id, "rating": rating, "note": note.strip()}
    )
    return feedback


def clear(user_id, message_id):
    """Take back the person's rating of their answer `message_id`, if any."""
    Feedback.objects.filter(message=_answer(user_id, message_id)).delete()
