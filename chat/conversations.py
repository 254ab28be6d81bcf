"""
A person's conversations: creating, changing, opening and deleting them, with the rules for
their fields. Each function is one database unit that takes plain values (the user's id, the
conversation's id, the new values) and raises chat.errors for what it refuses; the API runs
them in a database thread.
"""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from chat.errors import Invalid, NotFound
from chat.models import Conversation, Message

TITLE_MAX_LENGTH = 200


def check_text(value, name, *, max_length, required=False):
    """`value`, a string the API took for the field `name`, checked against the field's rules."""
    if required and not value.strip():
        raise Invalid(_("'%(name)s' must not be empty.") % {"name": name}, field=name)
    if len(value) > max_length:
        raise Invalid(
            _("'%(name)s' is longer than %(max_length)s characters.") % {"name": name, "max_length": max_length},
            field=name,
        )
    return value


def check_model(model):
    """`model` if it is offered (OPENAI_MODELS); None stays None."""
    if model is not None and model not in settings.OPENAI_MODELS:
        raise Invalid(
            _("Unknown model %(model)s. Available: %(models)s.")
            % {"model": repr(str(model)[:100]), "models": ", ".join(settings.OPENAI_MODELS)},
            field="model",
        )
    return model


def use_model(conversation, model):
    """Switch the conversation to `model`, or off a model the operator has since removed."""
    wanted = model or conversation.model
    if wanted not in settings.OPENAI_MODELS:
        wanted = settings.OPENAI_DEFAULT_MODEL
    if wanted != conversation.model:
        conversation.model = wanted
        conversation.save(update_fields=["model"])


def get(user_id, conversation_id):
    try:
        return Conversation.objects.for_user(user_id).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound from None


def page(user_id, number, *, query=""):
    """A page of the person's conversations, most recently active first, and whether there is a next."""
    size = settings.CHAT_PAGE_SIZE
    conversations = Conversation.objects.for_user(user_id).recent()
    if query:
        conversations = conversations.filter(title__icontains=query)
    # One row more than the page tells whether there is a next page, without a COUNT.
    rows = list(conversations[(number - 1) * size : number * size + 1])
    return rows[:size], len(rows) > size


def create(user_id, *, model=None, system_prompt="", title=""):
    check_model(model)
    check_text(system_prompt, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS)
    check_text(title, "title", max_length=TITLE_MAX_LENGTH)
    return Conversation.objects.create(
        owner_id=user_id,
        model=model or settings.OPENAI_DEFAULT_MODEL,
        system_prompt=system_prompt,
        title=title.strip(),
    )


@transaction.atomic
def update(user_id, conversation_id, *, title=None, system_prompt=None, model=None):
    """Change the fields given (not None); returns the conversation with its messages."""
    conversation = get(user_id, conversation_id)
    if title is not None:
        conversation.title = check_text(title, "title", max_length=TITLE_MAX_LENGTH).strip()
    if system_prompt is not None:
        conversation.system_prompt = check_text(
            system_prompt, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
        )
    conversation.model = check_model(model) or conversation.model
    conversation.save(update_fields=["title", "system_prompt", "model"])
    return conversation, _messages(conversation)


def show(user_id, conversation_id):
    """The conversation and its messages (as the API shows them)."""
    conversation = get(user_id, conversation_id)
    return conversation, _messages(conversation)


def _messages(conversation):
    messages = conversation.messages.order_by("id").as_json()
    # Answers left live by a process that died are shown as ended, not as spinning for ever.
    if any(m["status"] in Message.LIVE_STATUSES for m in messages) and conversation.messages.mark_abandoned():
        messages = conversation.messages.order_by("id").as_json()
    return messages


def live_answers(user_id, conversation_id):
    """The ids of the conversation's answers still being generated: to stop before it goes."""
    return list(get(user_id, conversation_id).messages.live().values_list("pk", flat=True))


def delete(user_id, conversation_id):
    get(user_id, conversation_id).delete()
