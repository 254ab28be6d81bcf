"""
A chat turn: the person's question and the answer the model streams to it.

Starting a turn, answering the last question again (regenerate, also the way to retry) and
changing an earlier question (edit) are each one database unit: they take plain values (the
user's id, the ids of the conversation or message, the text, the model), apply the turn's rules
and save the question and an empty answer before any upstream call, so that nothing the person
typed is lost whatever happens next. They return a Turn, which says what to send upstream; the
relay generates the answer (chat.relay.start). What they refuse raises chat.errors; the API
maps those to HTTP statuses.

Stopping an answer is the relay's (chat.relay.stop): any process may be generating it.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from chat import conversations
from chat.errors import Conflict, Invalid, NotFound
from chat.models import Message
from chat.upstream import DEMO_MODEL


@dataclass(frozen=True)
class Turn:
    user_id: int
    conversation_id: int
    question_id: int
    answer_id: int
    model: str
    # The conversation's title as it stands now (the question's first words on a new one).
    title: str
    # What goes upstream: the system prompt, the history that fits the budget, the question.
    messages: list
    # The question to name the conversation after, on its first turn, when the model is to
    # be asked for a title.
    title_from: str = ""


def check_question(content):
    return conversations.check_text(content, "content", max_length=settings.CHAT_MAX_PROMPT_CHARS, required=True)


@transaction.atomic
def start(user_id, conversation_id, content, *, model=None):
    """Ask `content` in the conversation."""
    check_question(content)
    conversations.check_model(model)
    conversation = conversations.get(user_id, conversation_id)
    conversations.use_model(conversation, model)
    # The history is read before the question is saved.
    messages, first = conversation.upstream_messages(question=content)
    question, answer = conversation.add_turn(content)
    title_from = content if first and settings.CHAT_AUTO_TITLE and conversation.model != DEMO_MODEL else ""
    return _turn(user_id, conversation, question, answer, messages, title_from=title_from)


@transaction.atomic
def regenerate(user_id, answer_id, *, model=None):
    """Answer the last question again, in place of its answer (which is deleted)."""
    conversations.check_model(model)
    answer = _message(user_id, answer_id, Message.Role.ASSISTANT)
    conversation = answer.conversation
    if answer.is_live and conversation.messages.filter(pk=answer.pk).mark_abandoned():
        answer.refresh_from_db(fields=["status"])  # its process died: there is nothing to stop
    if answer.is_live:
        raise Conflict(_("This answer is still being generated: stop it first."))
    if conversation.messages.filter(id__gt=answer.pk).exists():
        raise Invalid(_("Only the last answer of a conversation can be regenerated."))
    question = conversation.messages.filter(role=Message.Role.USER, id__lt=answer.pk).order_by("-id").only("id").first()
    if question is None:
        raise Invalid(_("There is no question to answer again."))
    conversations.use_model(conversation, model)
    answer.delete()
    return _answer_again(user_id, conversation, question)


@transaction.atomic
def edit(user_id, question_id, content, *, model=None):
    """Change an earlier question and answer it again: every message after it goes."""
    check_question(content)
    conversations.check_model(model)
    question = _message(user_id, question_id, Message.Role.USER)
    conversation = question.conversation
    later = conversation.messages.filter(id__gt=question.pk)
    later.mark_abandoned()
    if later.live().exists():
        raise Conflict(_("An answer after this message is still being generated: stop it first."))
    conversations.use_model(conversation, model)
    question.content = content
    question.save(update_fields=["content", "updated_at"])
    later.delete()
    return _answer_again(user_id, conversation, question)


def answer_of(user_id, answer_id):
    """The person's answer `answer_id` (NotFound for a question or someone else's)."""
    return _message(user_id, answer_id, Message.Role.ASSISTANT)


def _message(user_id, message_id, role):
    try:
        return Message.objects.for_user(user_id).select_related("conversation").get(pk=message_id, role=role)
    except Message.DoesNotExist:
        raise NotFound from None


def _answer_again(user_id, conversation, question):
    conversation.touch()
    answer = conversation.new_answer()
    answer.save()
    messages, _first = conversation.upstream_messages(before_id=answer.pk)
    return _turn(user_id, conversation, question, answer, messages)


def _turn(user_id, conversation, question, answer, messages, *, title_from=""):
    return Turn(
        user_id=user_id,
        conversation_id=conversation.pk,
        question_id=question.pk,
        answer_id=answer.pk,
        model=conversation.model,
        title=conversation.title,
        messages=messages,
        title_from=title_from,
    )
