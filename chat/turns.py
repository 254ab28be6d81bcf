"""
A chat turn: the person's question and the answer the model streams to it.

Starting a turn, answering the last question again (regenerate, also the way to retry),
changing an earlier question (edit) and showing another version of either (show_version) are
each one database unit: they take plain values (the
user's id, the ids of the conversation or message, the text, the model), apply the turn's rules
and save the question and an empty answer before any upstream call, so that nothing the person
typed is lost whatever happens next. They return a Turn, which says what to send upstream; the
relay generates the answer (chat.relay.start). What they refuse raises chat.errors; the API
maps those to HTTP statuses.

Stopping an answer is the relay's (chat.relay.stop): any process may be generating it.
"""

import hashlib
from dataclasses import dataclass, replace
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from chat import catalogue, conversations, files, limits
from chat.errors import Conflict, Invalid, NotFound
from chat.models import Conversation, Message


@dataclass(frozen=True)
class Turn:
    user_id: int
    conversation_id: int
    question_id: int
    answer_id: int
    # The model it is asked of (chat.catalogue.Offer): its id is saved with the answer.
    offer: object
    # The conversation's title as it stands now (the question's first words on a new one).
    title: str
    # What goes upstream: the system prompt, the history that fits the budget, the question.
    messages: list
    # The question to name the conversation after, on its first turn, when a model is to be
    # asked for a title, and that model (CHAT_TITLE_MODEL, or the conversation's).
    title_from: str = ""
    title_offer: object = None
    # A regenerated answer's or an edited question's place: the ids of its versions, in
    # order, the new one last (models.Message.versions_of).
    versions: tuple = ()
    # A request of the OpenAI-compatible API: its token's id (for the usage). The parameters
    # the person set ((name, value) pairs, over the model's own: the conversation's
    # temperature, or what an API client sent) and the answer's limit in tokens (0: the
    # model's).
    token_id: int = None
    params: tuple = ()
    max_tokens: int = 0

    @property
    def model(self):
        return self.offer.id


def check_question(content):
    return conversations.check_text(content, "content", max_length=settings.CHAT_MAX_PROMPT_CHARS, required=True)


def _with_image_data(begin):
    """
    The turn `begin` returns, with its images' data read from storage (chat.files), once its
    transaction has ended: a slow storage holds no database lock.
    """

    @wraps(begin)
    def wrapper(*args, **kwargs):
        turn = begin(*args, **kwargs)
        return replace(turn, messages=files.with_image_data(turn.messages))

    return wrapper


@_with_image_data
@transaction.atomic
def start(user_id, conversation_id, content, *, model=None, attachments=()):
    """Ask `content` in the conversation, with the person's uploaded files `attachments` (ids)."""
    if attachments:
        # A question may be its files alone (a screenshot pasted and sent).
        conversations.check_text(content, "content", max_length=settings.CHAT_MAX_PROMPT_CHARS)
    else:
        check_question(content)
    conversations.check_model(model)
    conversation = conversations.get(user_id, conversation_id)
    offer = conversations.use_model(conversation, model)
    person = check_model(user_id, offer)
    attached = files.check(user_id, attachments, offer, person.allowed(catalogue.current()))
    # The history is read before the question is saved; the same read tells whether an answer
    # is still being generated here (from another tab or device): one answer at a time, or
    # the turns would interleave.
    messages, first, live = conversation.upstream_messages(
        question=content, tokens=history_tokens(offer), attachments=attached, vision=offer.vision
    )
    if live and not _only_abandoned(conversation):
        raise Conflict(_("An answer in this conversation is still being generated: stop it or wait for it to end."))
    named_after = content if content.strip() else ", ".join(a.name for a in attached)
    question, answer = conversation.add_turn(content, title_from=named_after)
    files.give(question, attached)
    turn = _turn(user_id, conversation, question, answer, messages, offer, person)
    if first and settings.CHAT_AUTO_TITLE:
        title_offer = catalogue.current().find(settings.CHAT_TITLE_MODEL) or offer
        if not title_offer.is_demo:
            turn = replace(turn, title_from=named_after, title_offer=title_offer)
    return turn


def _only_abandoned(conversation):
    """
    Whether the conversation's live answers were all abandoned (their process died: they
    would never end), now marked as ended. Rare: it costs its queries only then.
    """
    return bool(conversation.messages.mark_abandoned()) and not conversation.messages.live().exists()


def check_model(user_id, offer):
    """The person's limits (chat.limits), if they allow `offer`'s model: refused before anything is saved."""
    person = limits.of(user_id)
    person.check_model(offer, catalogue.current())
    return person


def history_tokens(offer):
    """
    How many tokens of history may go with a question to `offer`'s model: its context window
    less what its answer may take; 0 (the CHAT_HISTORY_CHARS budget) when the window is not
    set.
    """
    if not offer.context_window:
        return 0
    reserve = offer.output_limit or min(4096, offer.context_window // 4)
    return max(offer.context_window - reserve, 1)


@_with_image_data
@transaction.atomic
def regenerate(user_id, answer_id, *, model=None):
    """
    Answer the last question again, in place of its answer, which is kept as an earlier
    version of it; an answer with no text (a fault before the first token, a stop at once)
    is nothing to keep, and goes.
    """
    conversations.check_model(model)
    answer = _message(user_id, answer_id, Message.Role.ASSISTANT)
    conversation = answer.conversation
    _check_shown(answer)
    if answer.is_live and conversation.messages.filter(pk=answer.pk).mark_abandoned():
        answer.refresh_from_db(fields=["status"])  # its process died: there is nothing to stop
    if answer.is_live:
        raise Conflict(_("This answer is still being generated: stop it first."))
    shown = conversation.messages.shown()
    if shown.filter(id__gt=answer.pk).exists():
        raise Invalid(_("Only the last answer of a conversation can be regenerated."))
    question = shown.filter(role=Message.Role.USER, id__lt=answer.pk).order_by("-id").only("id").first()
    if question is None:
        raise Invalid(_("There is no question to answer again."))
    offer = conversations.use_model(conversation, model)
    person = check_model(user_id, offer)
    if answer.content:
        place = answer.versions_of or answer.pk
        Message.objects.filter(pk=answer.pk).update(versions_of=place, hidden_in=answer.pk)
    else:
        place = answer.versions_of
        answer.delete()
    return _answer_again(user_id, conversation, question, offer, person, versions_of=place)


@_with_image_data
@transaction.atomic
def edit(user_id, question_id, content, *, model=None):
    """
    Ask a changed version of an earlier question, answered anew: the question as it was and
    every message after it are kept as its earlier version (its branch).
    """
    check_question(content)
    conversations.check_model(model)
    question = _message(user_id, question_id, Message.Role.USER)
    conversation = question.conversation
    _check_shown(question)
    later = conversation.messages.shown().filter(id__gt=question.pk)
    later.mark_abandoned()
    if later.live().exists():
        raise Conflict(_("An answer after this message is still being generated: stop it first."))
    offer = conversations.use_model(conversation, model)
    person = check_model(user_id, offer)
    place = question.versions_of or question.pk
    Message.objects.filter(pk=question.pk).update(versions_of=place)
    conversation.messages.shown().filter(id__gte=question.pk).update(hidden_in=question.pk)
    edited, answer = conversation.add_turn(content, versions_of=place)
    return _answering(user_id, conversation, edited, answer, offer, person, place)


@transaction.atomic
def show_version(user_id, message_id):
    """
    Show the version `message_id` of its place (an answer regenerated, a question edited) in
    place of the one shown, which is kept: from that place on, the conversation is the one
    that version began, as it goes upstream next. Returns the conversation.
    """
    chosen = _message(user_id, message_id)
    conversation = Conversation.objects.select_for_update().get(pk=chosen.conversation_id)
    if chosen.versions_of is None:
        raise Invalid(_("This message has no other versions."))
    shown = conversation.messages.shown()
    current = shown.filter(versions_of=chosen.versions_of).only("id").first()
    if current is None:
        raise Invalid(_("This version's place is in another version, which is not shown: show that one first."))
    if current.pk != chosen.pk:
        shown.mark_abandoned()
        if shown.live().exists():
            raise Conflict(_("An answer in this conversation is still being generated: stop it or wait for it to end."))
        shown.filter(id__gte=current.pk).update(hidden_in=current.pk)
        conversation.messages.filter(hidden_in=chosen.pk).update(hidden_in=None)
    return conversation


def answer_of(user_id, answer_id):
    """The person's answer `answer_id` (NotFound for a question or someone else's)."""
    return _message(user_id, answer_id, Message.Role.ASSISTANT)


def _message(user_id, message_id, role=None):
    found = Message.objects.for_user(user_id).select_related("conversation").filter(pk=message_id)
    if role is not None:
        found = found.filter(role=role)
    try:
        return found.get()
    except Message.DoesNotExist:
        raise NotFound from None


def _check_shown(message):
    if message.hidden_in is not None:
        raise Invalid(_("This version is not the one shown: show it first."))


def _answer_again(user_id, conversation, question, offer, person, versions_of=None):
    conversation.touch()
    answer = conversation.new_answer()
    answer.versions_of = versions_of
    answer.save()
    return _answering(user_id, conversation, question, answer, offer, person, versions_of)


def _answering(user_id, conversation, question, answer, offer, person, place=None):
    """
    The turn of a new `answer` to `question`, both saved: the history before it goes
    upstream, and, when the answer or the question is a new version of `place`, its versions.
    """
    messages, _first, _live = conversation.upstream_messages(
        before_id=answer.pk, tokens=history_tokens(offer), vision=offer.vision
    )
    turn = _turn(user_id, conversation, question, answer, messages, offer, person)
    if place is None:
        return turn
    versions = conversation.messages.filter(versions_of=place).order_by("id").values_list("id", flat=True)
    return replace(turn, versions=tuple(versions))


def _turn(user_id, conversation, question, answer, messages, offer, person):
    """
    The turn of `answer`, once the person's limits admit it (chat.limits.admit: over one,
    OverLimit, and the transaction that saved the turn is rolled back), with the
    conversation's own temperature and longest answer, when the person set them (the longest
    within the model's limit, which a model picked since may have lowered).
    """
    limits.admit(user_id, person, answer.pk)
    limit = offer.output_limit
    max_tokens = conversation.max_tokens or 0
    return Turn(
        user_id=user_id,
        conversation_id=conversation.pk,
        question_id=question.pk,
        answer_id=answer.pk,
        offer=offer,
        title=conversation.title,
        messages=messages,
        params=() if conversation.temperature is None else (("temperature", conversation.temperature),),
        max_tokens=min(max_tokens, limit) if max_tokens and limit else max_tokens,
    )


@transaction.atomic
def start_from_api(token, model, messages, *, params=(), max_tokens=0, save_history=True):
    """
    A turn asked through the OpenAI-compatible API with `token` (models.ApiToken): `messages`
    the conversation as the client sends it, whole, its last one the new question; each is
    {"role", "content" (what goes upstream: text, or parts with images), "text" (what is
    kept)}. The client's messages go upstream as they are. A conversation of the same token
    that began the same way and has exactly the earlier messages goes on; any other request
    starts a new one, with the earlier messages saved as its history. `save_history` off
    (CHAT_API_SAVES_HISTORY): a new one every time, which chat.openai_api deletes once its
    answer has ended.
    """
    user_id = token.user_id
    offers = catalogue.current()
    if (offer := offers.find(model)) is None:
        raise NotFound(_("The model %(model)s does not exist.") % {"model": repr(str(model)[:100])}, field="model")
    person = limits.of(user_id).through(token)
    person.check_model(offer, offers)
    *earlier, question = messages
    if question["role"] != Message.Role.USER:
        raise Invalid(_("The last message must be the user's."), field="messages")
    check_question(question["text"])
    system = "\n\n".join(m["text"] for m in earlier if m["role"] == Message.Role.SYSTEM)
    system = system[: settings.CHAT_MAX_SYSTEM_PROMPT_CHARS]
    history = [(m["role"], m["text"]) for m in earlier if m["role"] in (Message.Role.USER, Message.Role.ASSISTANT)]
    thread = api_thread(system, history[0][1] if history else question["text"])
    conversation = _api_conversation(token, thread, history) if save_history else None
    if conversation is None:
        conversation = Conversation.objects.create(
            owner_id=user_id, model=offer.id, system_prompt=system, api_token=token, api_thread=thread
        )
        Message.objects.bulk_create(
            Message(conversation=conversation, role=role, content=text, model=offer.id if role == "assistant" else "")
            for role, text in history
        )
    elif conversation.model != offer.id:
        conversation.model = offer.id
        conversation.save(update_fields=["model"])
    question_row, answer = conversation.add_turn(question["text"])
    upstream = [{"role": m["role"], "content": m["content"]} for m in messages]
    limit = offer.output_limit
    return replace(
        _turn(user_id, conversation, question_row, answer, upstream, offer, person),
        token_id=token.pk,
        params=params,
        max_tokens=min(max_tokens, limit) if max_tokens and limit else max_tokens or limit,
    )


def api_thread(system, first_question):
    """The digest of how an API conversation began, by which its next request finds it."""
    return hashlib.sha256(f"{system}\0{first_question}".encode("utf-8", "surrogatepass")).hexdigest()


def _api_conversation(token, thread, history):
    """The token's conversation that began as `thread` and holds exactly `history`, if any."""
    if not history:
        return None
    candidates = Conversation.objects.filter(api_token=token, api_thread=thread).order_by("-updated_at")[:5]
    for conversation in candidates:
        kept = conversation.messages.shown().filter(role__in=(Message.Role.USER, Message.Role.ASSISTANT))
        kept = kept.exclude(content="")
        if list(kept.order_by("id").values_list("role", "content")) == history:
            return conversation
    return None
