"""
A person's conversations: creating, changing, opening and deleting them, with the rules for
their fields. Each function is one database unit that takes plain values (the user's id, the
conversation's id, the new values) and raises chat.errors for what it refuses; the API runs
them in a database thread.
"""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from chat import catalogue, files, limits
from chat.errors import Invalid, NotFound
from chat.models import Conversation, Message, Profile

TITLE_MAX_LENGTH = 200
MAX_TEMPERATURE = 2
# A field of update() not given: left as it is (None sets temperature and max_tokens back to
# the model's default).
UNSET = object()


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


def check_temperature(value):
    """A conversation's temperature: a number from 0 to 2, or None (the model's default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TEMPERATURE:
        raise Invalid(
            _("'temperature' must be a number from 0 to %(max)s, or null for the model's default.")
            % {"max": MAX_TEMPERATURE},
            field="temperature",
        )
    return float(value)


def check_max_tokens(value, offer):
    """
    A conversation's longest answer: a positive number of tokens, at most its model's limit
    (`offer`'s, when it is known), or None (the model's default).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(
            _("'max_tokens' must be a positive whole number, or null for the model's default."), field="max_tokens"
        )
    if offer is not None and offer.output_limit and value > offer.output_limit:
        raise Invalid(
            _("'max_tokens' must be at most %(limit)s, the most this model answers with.")
            % {"limit": offer.output_limit},
            field="max_tokens",
        )
    return value


def check_model(model):
    """The offer (chat.catalogue.Offer) of `model`, which must be offered; None stays None."""
    if model is None:
        return None
    offers = catalogue.current()
    if (offer := offers.find(model)) is None:
        raise Invalid(
            _("Unknown model %(model)s. Available: %(models)s.")
            % {"model": repr(str(model)[:100]), "models": ", ".join(offers.ids)},
            field="model",
        )
    return offer


def use_model(conversation, model):
    """
    The offer the conversation's next answer is asked of: `model` when one is given (the
    conversation switches to it), else the conversation's own, which must still be offered:
    a conversation whose model the operator has since disabled or removed goes on only with
    another model, that the person picks.
    """
    if model is not None:
        offer = check_model(model)
    elif (offer := catalogue.current().find(conversation.model)) is None:
        raise Invalid(
            _("The model %(model)s is no longer offered. Pick another model to go on.")
            % {"model": repr(conversation.model)},
            field="model",
        )
    if offer.id != conversation.model:
        conversation.model = offer.id
        conversation.save(update_fields=["model"])
    return offer


def is_offered(conversation):
    return catalogue.current().find(conversation.model) is not None


def get(user_id, conversation_id):
    try:
        return Conversation.objects.for_user(user_id).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound from None


def page(user_id, number, *, query="", archived=False):
    """
    A page of the person's conversations, pinned first, then the most recently active, and
    whether there is a next: those in the sidebar, or the `archived` ones; with `query`, any
    whose title has it.
    """
    size = settings.CHAT_PAGE_SIZE
    conversations = Conversation.objects.for_user(user_id).recent()
    if query:
        conversations = conversations.filter(title__icontains=query)
    else:
        conversations = conversations.filter(archived=archived)
    # One row more than the page tells whether there is a next page, without a COUNT.
    rows = list(conversations[(number - 1) * size : number * size + 1])
    return rows[:size], len(rows) > size


def create(user_id, *, model=None, system_prompt=None, title="", temperature=None, max_tokens=None):
    """A new conversation; without a model or a system prompt, the person's own defaults."""
    offers, person = catalogue.current(), limits.of(user_id)
    if model is None or system_prompt is None:
        profile = Profile.objects.of(user_id)
        model = profile.default_offer(offers, person).id if model is None else model
        system_prompt = profile.custom_instructions if system_prompt is None else system_prompt
    offer = check_model(model)
    person.check_model(offer, offers)
    check_text(system_prompt, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS)
    check_text(title, "title", max_length=TITLE_MAX_LENGTH)
    return Conversation.objects.create(
        owner_id=user_id,
        model=offer.id,
        system_prompt=system_prompt,
        title=title.strip(),
        temperature=check_temperature(temperature),
        max_tokens=check_max_tokens(max_tokens, offer),
    )


@transaction.atomic
def update(
    user_id,
    conversation_id,
    *,
    title=None,
    system_prompt=None,
    model=None,
    temperature=UNSET,
    max_tokens=UNSET,
    pinned=None,
    archived=None,
):
    """
    Change the fields given (not None; for temperature and max_tokens, not UNSET: None is
    the model's default); returns the conversation with its messages.
    """
    conversation = get(user_id, conversation_id)
    if title is not None:
        conversation.title = check_text(title, "title", max_length=TITLE_MAX_LENGTH).strip()
    if system_prompt is not None:
        conversation.system_prompt = check_text(
            system_prompt, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
        )
    if model is not None:
        offer = check_model(model)
        limits.of(user_id).check_model(offer, catalogue.current())
        conversation.model = offer.id
    if temperature is not UNSET:
        conversation.temperature = check_temperature(temperature)
    if max_tokens is not UNSET:
        conversation.max_tokens = check_max_tokens(max_tokens, catalogue.current().find(conversation.model))
    for name, value in (("pinned", pinned), ("archived", archived)):
        if value is not None:
            if not isinstance(value, bool):
                raise Invalid(_("'%(name)s' must be true or false.") % {"name": name}, field=name)
            setattr(conversation, name, value)
    conversation.save(
        update_fields=["title", "system_prompt", "model", "temperature", "max_tokens", "pinned", "archived"]
    )
    return conversation, _messages(conversation)


def show(user_id, conversation_id):
    """The conversation and its messages (as the API shows them)."""
    conversation = get(user_id, conversation_id)
    return conversation, _messages(conversation)


def _messages(conversation):
    shown = conversation.messages.shown().order_by("id")
    messages = shown.as_json()
    # Answers left live by a process that died are shown as ended, not as spinning for ever.
    if any(m["status"] in Message.LIVE_STATUSES for m in messages) and conversation.messages.mark_abandoned():
        messages = shown.as_json()
    # The files sent with each question (one query, only in a conversation that had any).
    sent = files.of_messages([m["id"] for m in messages if m["role"] == "user"]) if conversation.has_files else {}
    for message in messages:
        message["attachments"] = [attachment.as_json() for attachment in sent.get(message["id"], ())]
    return messages


def live_answers(user_id, conversation_id):
    """The ids of the conversation's answers still being generated: to stop before it goes."""
    return list(get(user_id, conversation_id).messages.live().values_list("pk", flat=True))


def delete(user_id, conversation_id):
    get(user_id, conversation_id).delete()
