"""
The JSON and SSE API that the page and scripts share (docs/api.md). Session authentication;
POST, PATCH and DELETE need the CSRF header like any Django form.
"""

import asyncio
import json
from dataclasses import dataclass
from functools import wraps

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.auth import get_user
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import relay as relay_module
from chat import sse
from chat.database import in_database_thread
from chat.models import Conversation, Message
from chat.relay import relay
from chat.upstream import Provider


class BadInput(Exception):
    def __init__(self, message, *, field=None, status=400):
        super().__init__(message)
        self.message, self.field, self.status = message, field, status

    def response(self):
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return JsonResponse(body, status=self.status)


def _unauthorized():
    return JsonResponse({"error": _("Authentication required.")}, status=401)


def _not_found():
    return JsonResponse({"error": _("Not found.")}, status=404)


class NotAuthenticated(Exception):
    pass


def api_view(view):
    """
    Like login_required, but for scripts: 401 JSON instead of a redirect to the login page,
    and 404 JSON instead of an HTML page. An async view checks the user itself, in the same
    thread hop as the rest of its database work (signed_in_user()).
    """
    if iscoroutinefunction(view):

        @wraps(view)
        async def wrapper(request, *args, **kwargs):
            try:
                response = await view(request, *args, **kwargs)
            except NotAuthenticated:
                return _unauthorized()
            except Http404:
                return _not_found()
            except BadInput as exc:
                return exc.response()
            if not getattr(request, "signed_in", False):
                # A view that never called signed_in_user() shows nothing to anybody.
                return _unauthorized()
            return response

    else:

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _unauthorized()
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return _not_found()

    return wrapper


def signed_in_user(request):
    """
    The request's user, with its session, loaded in the calling (worker) thread and then
    handed out by request.user and request.auser() as well; NotAuthenticated if nobody is
    signed in.
    """
    user = get_user(request)

    async def auser():
        return user

    request.user, request.auser = user, auser
    if not user.is_authenticated:
        raise NotAuthenticated
    request.signed_in = True
    return user


def _json_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadInput(_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadInput(_("The request body must be a JSON object."))
    return data


def _text(data, name, *, max_length, required=False):
    value = data.get(name, "")
    if not isinstance(value, str):
        raise BadInput(_("'%(name)s' must be a string.") % {"name": name}, field=name)
    if required and not value.strip():
        raise BadInput(_("'%(name)s' must not be empty.") % {"name": name}, field=name)
    if len(value) > max_length:
        raise BadInput(
            _("'%(name)s' is longer than %(max_length)s characters.") % {"name": name, "max_length": max_length},
            field=name,
        )
    return value


def _model(data):
    model = data.get("model")
    if model is None:
        return None
    if model not in settings.OPENAI_MODELS:
        raise BadInput(
            _("Unknown model %(model)s. Available: %(models)s.")
            % {"model": repr(str(model)[:100]), "models": ", ".join(settings.OPENAI_MODELS)},
            field="model",
        )
    return model


def _conversation_json(conversation):
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def _get_conversation(user, chat_id):
    try:
        return Conversation.objects.get_for_user(user, chat_id)
    except Conversation.DoesNotExist:
        raise Http404 from None


@require_http_methods(["GET", "POST"])
@api_view
def chats(request):
    if request.method == "POST":
        return _create_chat(request)
    try:
        page = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return BadInput(_("'page' must be a number."), field="page").response()
    size = settings.CHAT_PAGE_SIZE
    conversations = Conversation.objects.for_user(request.user).recent()
    if query := request.GET.get("q", "").strip():
        conversations = conversations.filter(title__icontains=query)
    # One row more than the page tells whether there is a next page, without a COUNT.
    rows = list(conversations[(page - 1) * size : page * size + 1])
    return JsonResponse(
        {
            "results": [_conversation_json(c) for c in rows[:size]],
            "next_page": page + 1 if len(rows) > size else None,
        }
    )


def _create_chat(request):
    try:
        data = _json_body(request)
        model = _model(data) or settings.OPENAI_DEFAULT_MODEL
        system_prompt = _text(data, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS)
        title = _text(data, "title", max_length=200)
    except BadInput as exc:
        return exc.response()
    conversation = Conversation.objects.create(
        owner=request.user, model=model, system_prompt=system_prompt, title=title.strip()
    )
    return JsonResponse(_conversation_json(conversation), status=201)


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_view
def chat(request, chat_id):
    conversation = _get_conversation(request.user, chat_id)
    if request.method == "DELETE":
        conversation.delete()
        return HttpResponse(status=204)
    if request.method == "PATCH":
        try:
            data = _json_body(request)
            if "title" in data:
                conversation.title = _text(data, "title", max_length=200).strip()
            if "system_prompt" in data:
                conversation.system_prompt = _text(
                    data, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
                )
            conversation.model = _model(data) or conversation.model
        except BadInput as exc:
            return exc.response()
        conversation.save(update_fields=["title", "system_prompt", "model"])
    messages = conversation.messages.order_by("id").as_json()
    # Answers left streaming by a process that died are shown as interrupted, not as
    # spinning for ever.
    if any(m["status"] == Message.Status.STREAMING for m in messages) and (
        conversation.messages.mark_abandoned_interrupted()
    ):
        messages = conversation.messages.order_by("id").as_json()
    body = _conversation_json(conversation)
    body["messages"] = messages
    return JsonResponse(body)


def _use_model(conversation, model):
    """Switch the conversation to `model`, or off a model the operator has since removed."""
    wanted = model or conversation.model
    if wanted not in settings.OPENAI_MODELS:
        wanted = settings.OPENAI_DEFAULT_MODEL
    if wanted != conversation.model:
        conversation.model = wanted
        conversation.save(update_fields=["model"])


@dataclass
class Turn:
    conversation: Conversation
    question: Message
    answer: Message
    history: list
    first: bool = False


def _turn(conversation, question, answer):
    history, _ = conversation.upstream_messages(before_id=answer.pk)
    return Turn(conversation, question, answer, history)


def _question(request):
    data = _json_body(request)
    return _text(data, "content", max_length=settings.CHAT_MAX_PROMPT_CHARS, required=True), _model(data)


@in_database_thread
def _begin_turn(request, chat_id):
    user = signed_in_user(request)
    content, model = _question(request)
    conversation = _get_conversation(user, chat_id)
    _use_model(conversation, model)
    # The history is read before the question is saved, in the same thread hop.
    history, first = conversation.upstream_messages(question=content)
    return Turn(conversation, *conversation.begin_turn(content), history, first=first)


def _last_question(conversation, before_id):
    return conversation.messages.filter(role=Message.Role.USER, id__lt=before_id).order_by("-id").first()


@in_database_thread
def _begin_regenerate(request, message_id):
    user = signed_in_user(request)
    model = _model(_json_body(request))
    answer = _get_message(user, message_id, Message.Role.ASSISTANT)
    conversation = answer.conversation
    if answer.status == Message.Status.STREAMING and conversation.messages.filter(pk=answer.pk).abandoned().exists():
        # Its process died: there is nothing to stop.
        answer.status = Message.Status.INTERRUPTED
    if answer.status == Message.Status.STREAMING:
        raise BadInput(_("This answer is still being generated: stop it first."), status=409)
    if conversation.messages.filter(id__gt=answer.pk).exists():
        raise BadInput(_("Only the last answer of a conversation can be regenerated."))
    question = _last_question(conversation, answer.pk)
    if question is None:
        raise BadInput(_("There is no question to answer again."))
    _use_model(conversation, model)
    return _turn(conversation, question, conversation.regenerate(answer))


@in_database_thread
def _begin_edit(request, message_id):
    user = signed_in_user(request)
    content, model = _question(request)
    question = _get_message(user, message_id, Message.Role.USER)
    conversation = question.conversation
    if conversation.messages.filter(id__gt=question.pk, status=Message.Status.STREAMING).exists():
        raise BadInput(_("An answer after this message is still being generated: stop it first."), status=409)
    _use_model(conversation, model)
    return _turn(conversation, question, conversation.edit(question, content))


def _server_address(request):
    return getattr(request, "scope", {}).get("server")


async def _answer(request, begin, *args):
    """
    Begin the turn (`begin` saves it) and start generating its answer, then stream it. The two
    go together whatever happens to the request: a client that hangs up while the turn is
    being saved cancels the view, and the saved question would never be answered.
    """

    async def begin_and_start():
        turn = await begin(request, *args)
        return turn, _start(request, turn)

    task = asyncio.ensure_future(begin_and_start())
    # Left alone by a request that went away, its error (bad input, say) is nobody's to see.
    task.add_done_callback(lambda task: task.cancelled() or task.exception())
    turn, answer = await asyncio.shield(task)
    meta = sse.event(
        "meta",
        {
            "conversation_id": turn.conversation.pk,
            "user_message_id": turn.question.pk,
            "assistant_message_id": turn.answer.pk,
            "model": turn.conversation.model,
            "title": turn.conversation.title,
        },
    )
    return sse.response(relay_module.follow(answer, stop_on_disconnect=settings.CHAT_STOP_ON_DISCONNECT, first=meta))


def _start(request, turn):
    conversation = turn.conversation
    return relay.start(
        turn.answer,
        user_id=request.user.pk,
        provider=Provider.for_model(conversation.model, server=_server_address(request)),
        messages=turn.history,
        title_from=turn.question.content if turn.first and settings.CHAT_AUTO_TITLE else None,
    )


@require_POST
@api_view
async def send_message(request, chat_id):
    """Save the person's message, start the answer, and stream it as it is generated."""
    return await _answer(request, _begin_turn, chat_id)


@require_POST
@api_view
async def regenerate(request, message_id):
    """Answer the last question again, in place of the last answer (also: retry after an error)."""
    return await _answer(request, _begin_regenerate, message_id)


@require_POST
@api_view
async def edit(request, message_id):
    """Change an earlier question and answer it again; the messages after it are replaced."""
    return await _answer(request, _begin_edit, message_id)


def _get_message(user, message_id, role):
    try:
        return Message.objects.for_user(user).select_related("conversation").get(pk=message_id, role=role)
    except Message.DoesNotExist:
        raise Http404 from None


@in_database_thread
def _get_answer(request, message_id):
    return _get_message(signed_in_user(request), message_id, Message.Role.ASSISTANT)


@require_POST
@api_view
async def stop(request, message_id):
    """Stop an answer, whichever process generates it. Stopping a finished answer does nothing."""
    message = await _get_answer(request, message_id)
    status = await relay_module.stop(message.pk)
    return JsonResponse({"id": message.pk, "status": status})


@require_GET
@api_view
async def stream(request, message_id):
    """
    Replay an answer from the start, or from `Last-Event-ID`, and follow it live to its end.
    """
    message = await _get_answer(request, message_id)
    content_from, reasoning_from = sse.parse_delta_id(
        request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    )
    meta = sse.event("meta", {"assistant_message_id": message.pk, "conversation_id": message.conversation_id})
    if answer := relay.get(message.pk):
        return sse.response(
            relay_module.follow(answer, content_from=content_from, reasoning_from=reasoning_from, first=meta)
        )
    return sse.response(
        relay_module.follow_saved(message.pk, content_from=content_from, reasoning_from=reasoning_from, first=meta)
    )
