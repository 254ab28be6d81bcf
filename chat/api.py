"""
The JSON and SSE API that the page and scripts share (docs/api.md). Session authentication,
where POST, PATCH and DELETE need the CSRF header like any Django form; or a personal API token
(chat.tokens) as `Authorization: Bearer <token>`, without CSRF: a token is no cookie a browser
sends by itself.

The views parse the request and answer it; the rules are the domain's (chat.conversations,
chat.turns), whose refusals (chat.errors) become HTTP statuses here, in api_view.
"""

import asyncio
import json
from functools import wraps

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import (
    conversations,
    exports,
    feedback,
    files,
    imports,
    limits,
    presets,
    profiles,
    relay,
    search,
    shares,
    sse,
    tokens,
    turns,
    usage,
)
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound, OverLimit, TooLarge
from runtime.database import in_database_thread

STATUS = {Invalid: 400, Forbidden: 403, NotFound: 404, Conflict: 409, TooLarge: 413, OverLimit: 429}
MAX_PAGE = 10**9


class NotAuthenticated(Exception):
    pass


def error_response(exc):
    body = {"error": exc.message}
    if exc.field:
        body["field"] = exc.field
    if isinstance(exc, OverLimit):
        body["retry_after"] = exc.retry_after
    response = JsonResponse(body, status=STATUS[type(exc)])
    if isinstance(exc, OverLimit):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _unauthorized():
    return JsonResponse({"error": _("Authentication required.")}, status=401)


def _csrf_refusal(request):
    """The CSRF middleware's refusal of a request signed in by its session cookie, or None."""
    return CsrfViewMiddleware(lambda request: None).process_view(request, _needs_csrf, (), {})


def _needs_csrf(request):
    """A view without csrf_exempt, for the CSRF middleware's check."""


def person_of(request):
    """
    The person a request comes from: the holder of its API token when it has one (a wrong one
    is nobody, whatever its cookies), else its session's. Reads the database: call it from
    sync code.
    """
    token = tokens.bearer(request)
    if token is None:
        return get_user(request)
    found = tokens.authenticate(token)
    return found.user if found is not None else AnonymousUser()


def api_view(view):
    """
    Like login_required, but for scripts: 401 JSON instead of a redirect to the login page,
    and the domain's refusals as JSON with their status. CSRF is checked here, for requests
    signed in by their session only. An async view reads the person's session (or token)
    itself, in the database thread hop of its own work (as_signed_in_user()).
    """
    if iscoroutinefunction(view):

        @wraps(view)
        async def wrapper(request, *args, **kwargs):
            if tokens.bearer(request) is None and (refusal := _csrf_refusal(request)):
                return refusal
            try:
                response = await view(request, *args, **kwargs)
            except NotAuthenticated:
                return _unauthorized()
            except ChatError as exc:
                return error_response(exc)
            if not getattr(request, "signed_in", False):
                # A view that never called as_signed_in_user() shows nothing to anybody.
                return _unauthorized()
            return response

    else:

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if tokens.bearer(request) is not None:
                request.user = person_of(request)
            elif refusal := _csrf_refusal(request):
                return refusal
            if not request.user.is_authenticated:
                return _unauthorized()
            try:
                return view(request, *args, **kwargs)
            except ChatError as exc:
                return error_response(exc)

    return csrf_exempt(wrapper)


@in_database_thread
def as_signed_in_user(request, function, *args, **kwargs):
    """
    `function(user_id, *args, **kwargs)` for the person signed in, in one database thread hop
    with reading their session; NotAuthenticated if nobody is. The user, with its session, is
    then handed out by request.user and request.auser() as well.
    """
    user = person_of(request)

    async def auser():
        return user

    request.user, request.auser = user, auser
    if not user.is_authenticated:
        raise NotAuthenticated
    request.signed_in = True
    return function(user.pk, *args, **kwargs)


def _json_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: arrays or objects nested thousands deep.
        raise Invalid(_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise Invalid(_("The request body must be a JSON object."))
    return data


def _string(data, name, default=""):
    """data[name], which must be a string when given; `default` when it is not."""
    if name not in data:
        return default
    if not isinstance(value := data[name], str):
        raise Invalid(_("'%(name)s' must be a string.") % {"name": name}, field=name)
    try:
        # JSON may spell a lone surrogate (\ud800), which is no text: no database stores it.
        value.encode()
    except UnicodeEncodeError:
        raise Invalid(_("The request body is not valid JSON."), field=name) from None
    return value


def _model(data):
    """The model asked for, or None. Only its type is checked here, its name by the domain."""
    model = data.get("model")
    return None if model is None else str(model)


@require_http_methods(["GET", "POST"])
@api_view
def conversations_view(request):
    if request.method == "POST":
        data = _json_body(request)
        fields = {
            "model": _model(data),
            "system_prompt": _string(data, "system_prompt", None),
            "title": _string(data, "title"),
            "temperature": data.get("temperature"),
            "max_tokens": data.get("max_tokens"),
        }
        if "preset" in data:
            # The preset's values, but those the request names itself win (a null temperature
            # too: the model's default; a null model is none named).
            given = {
                name: value for name, value in fields.items() if name in data and (value is not None or name != "model")
            }
            conversation = presets.start_conversation(request.user.pk, data["preset"], **given)
        else:
            conversation = conversations.create(request.user.pk, **fields)
        return JsonResponse(conversation.as_json(), status=201)
    number = _page_number(request)
    archived = request.GET.get("archived", "") in ("1", "true")
    rows, more = conversations.page(request.user.pk, number, query=request.GET.get("q", "").strip(), archived=archived)
    return JsonResponse({"results": [c.as_json() for c in rows], "next_page": number + 1 if more else None})


def _page_number(request):
    try:
        number = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        number = None
    # A page far past any list would be an offset no database takes.
    if number is None or number > MAX_PAGE:
        raise Invalid(_("'page' must be a number."), field="page")
    return number


@require_GET
@api_view
def search_view(request):
    """The person's conversations and messages that have the words of ?q= (chat.search)."""
    results, next_page = search.search(request.user.pk, request.GET.get("q", ""), _page_number(request))
    return JsonResponse({"results": results, "next_page": next_page})


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_view
def conversation_view(request, conversation_id):
    if request.method == "DELETE":
        # Its answers stop first: the provider would otherwise go on generating (and billing)
        # an answer that nobody can read any more.
        for answer_id in conversations.live_answers(request.user.pk, conversation_id):
            async_to_sync(relay.stop)(answer_id)
        conversations.delete(request.user.pk, conversation_id)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        data = _json_body(request)
        conversation, messages = conversations.update(
            request.user.pk,
            conversation_id,
            title=_string(data, "title", None),
            system_prompt=_string(data, "system_prompt", None),
            model=_model(data),
            temperature=data.get("temperature", conversations.UNSET),
            max_tokens=data.get("max_tokens", conversations.UNSET),
            pinned=data.get("pinned"),
            archived=data.get("archived"),
        )
    else:
        conversation, messages = conversations.show(request.user.pk, conversation_id)
    return _conversation_response(conversation, messages)


def _conversation_response(conversation, messages):
    return JsonResponse(
        {**conversation.as_json(), "model_offered": conversations.is_offered(conversation), "messages": messages}
    )


@require_POST
@api_view
def show_version_view(request, message_id):
    """Show this version of an answer or a question in place of the one shown; answers the conversation."""
    conversation = turns.show_version(request.user.pk, message_id)
    return _conversation_response(*conversations.show(request.user.pk, conversation.pk))


@require_GET
@api_view
def export_conversation_view(request, conversation_id):
    """The conversation as a download, ?format=markdown (the default) or json."""
    name, content_type, text = exports.conversation_file(
        request.user.pk, conversation_id, request.GET.get("format", "markdown")
    )
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@require_GET
@api_view
def export_view(request):
    """All of the person's data as one JSON file, written as it is read."""
    response = StreamingHttpResponse(exports.everything(request.user.pk), content_type="application/json")
    name = f"chat-export-{timezone.localdate().isoformat()}.json"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@require_POST
@api_view
def import_view(request):
    """
    Conversations from an export file (multipart `file`): with ?preview=1 what would be
    imported, else imported, in one transaction.
    """
    upload = request.FILES.get("file")
    if upload is None:
        raise Invalid(_("Choose a file to import: 'file'."), field="file")
    reading = imports.read(upload)
    if request.GET.get("preview") in ("1", "true"):
        return JsonResponse(imports.preview(request.user.pk, reading))
    return JsonResponse(imports.save(request.user.pk, reading), status=201)


@require_POST
@api_view
def files_view(request):
    """An upload (multipart `file`): an image or a document to send with a question."""
    upload = request.FILES.get("file")
    if upload is None:
        raise Invalid(_("Choose a file to upload: 'file'."), field="file")
    attachment = files.upload(request.user.pk, upload)
    return JsonResponse({name: value for name, value in attachment.as_json().items() if name != "url"}, status=201)


@require_http_methods(["GET", "DELETE"])
@api_view
def file_view(request, file_id):
    """
    The person's own file (anybody else's: 404), as stored: an image as re-encoded, a document
    as uploaded; ?text=1 a document's text as it goes to the model. DELETE: an upload not sent.
    """
    if request.method == "DELETE":
        files.delete(request.user.pk, file_id)
        return HttpResponse(status=204)
    attachment = files.get(request.user.pk, file_id)
    if request.GET.get("text") in ("1", "true"):
        response = HttpResponse(attachment.text, content_type="text/plain; charset=utf-8")
        disposition = content_disposition_header(False, f"{attachment.name}.txt")
    else:
        # Images open in the page; documents download: a file's bytes are never a page of
        # this site (nosniff: the browser takes the type given, never guesses HTML).
        inline = attachment.is_image
        disposition = content_disposition_header(not inline, attachment.name)
        if settings.CHAT_FILES_ACCEL_REDIRECT:
            # nginx sends the bytes from its internal location (deploy/nginx/chat.conf).
            response = HttpResponse(content_type=attachment.content_type)
            response["X-Accel-Redirect"] = settings.CHAT_FILES_ACCEL_REDIRECT.rstrip("/") + "/" + attachment.file.name
        else:
            try:
                stored = attachment.file.open("rb")
            except FileNotFoundError:
                raise NotFound(_("This file no longer exists.")) from None
            response = FileResponse(stored, content_type=attachment.content_type)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    # Nothing the file holds runs here, even opened on its own.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    return response


def _share_json(request, share):
    return share.as_json(request.build_absolute_uri(reverse("chat:shared", args=[share.key])))


@require_http_methods(["GET", "POST", "DELETE"])
@api_view
def share_view(request, conversation_id):
    """The conversation's share link: shared (again) as it is now, shown, or stopped."""
    if request.method == "POST":
        data = _json_body(request)
        share = shares.share(request.user.pk, conversation_id, shows_author=data.get("shows_author", False))
        return JsonResponse(_share_json(request, share), status=201)
    if request.method == "DELETE":
        shares.stop(request.user.pk, conversation_id)
        return HttpResponse(status=204)
    return JsonResponse(_share_json(request, shares.of(request.user.pk, conversation_id)))


@require_GET
@api_view
def shares_view(request):
    """The person's share links, newest first."""
    return JsonResponse({"results": [_share_json(request, share) for share in shares.listed(request.user.pk)]})


@require_http_methods(["GET", "POST"])
@api_view
def presets_view(request):
    """The presets the person may start a chat from (the staff's and their own), or a new one of theirs."""
    if request.method == "POST":
        data = _json_body(request)
        preset = presets.create(
            request.user.pk,
            name=_string(data, "name"),
            system_prompt=_string(data, "system_prompt"),
            model=_model(data) or None,
            temperature=data.get("temperature"),
            greeting=_string(data, "greeting"),
        )
        return JsonResponse(preset.as_json(request.user.pk), status=201)
    return JsonResponse({"results": presets.listed(request.user.pk)})


@require_http_methods(["DELETE"])
@api_view
def preset_view(request, preset_id):
    """Delete one of the person's own presets (the staff's and other people's: 404)."""
    presets.delete(request.user.pk, preset_id)
    return HttpResponse(status=204)


@require_GET
@api_view
def models_view(request):
    """The models offered to the person, in order, and their default one (theirs, else the site's)."""
    return JsonResponse(profiles.offered_models(request.user.pk))


@require_http_methods(["GET", "PATCH"])
@api_view
def account_view(request):
    """The person's own settings, as on their settings page; PATCH changes the fields given."""
    form = profiles.AccountForm(user=request.user)
    values = form.values()
    if request.method == "GET":
        return JsonResponse(values)
    data = _json_body(request)
    for name in data:
        if name not in values:
            raise Invalid(_("Unknown field %(name)s.") % {"name": repr(name[:100])}, field=name[:100])
        _string(data, name)
    form = profiles.AccountForm({**values, **data}, user=request.user)
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise Invalid(f"{form.fields[name].label}: {errors[0]}" if name in form.fields else errors[0], field=name)
    profile = form.save()
    return profiles.remember_language(JsonResponse(form.values()), profile.language)


@require_http_methods(["GET", "POST"])
@api_view
def tokens_view(request):
    """The person's API tokens (never their secret), or a new one (its secret shown this once)."""
    if request.method == "POST":
        data = _json_body(request)
        expires_at = None
        if (value := data.get("expires_at")) is not None:
            expires_at = parse_datetime(value) if isinstance(value, str) else None
            if expires_at is None or expires_at.tzinfo is None:
                raise Invalid(
                    _("'expires_at' must be a date and time with its time zone (ISO 8601)."), field="expires_at"
                )
        models = data.get("models") or []
        if not isinstance(models, list) or not all(isinstance(model, str) for model in models):
            raise Invalid(_("'models' must be a list of model ids."), field="models")
        row, token = tokens.create(request.user.pk, name=_string(data, "name"), expires_at=expires_at, models=models)
        return JsonResponse({**row.as_json(), "token": token}, status=201)
    return JsonResponse({"results": tokens.listed(request.user.pk)})


@require_http_methods(["DELETE"])
@api_view
def token_view(request, token_id):
    tokens.revoke(request.user.pk, token_id)
    return HttpResponse(status=204)


@require_GET
@api_view
def usage_view(request):
    """The person's tokens of today and of this month, against their quotas."""
    return JsonResponse(usage.summary(request.user.pk, limits.of(request.user.pk)))


@require_http_methods(["PUT", "DELETE"])
@api_view
def feedback_view(request, message_id):
    """The person's thumbs up or down on an answer, with an optional note; DELETE takes it back."""
    if request.method == "DELETE":
        feedback.clear(request.user.pk, message_id)
        return HttpResponse(status=204)
    data = _json_body(request)
    rated = feedback.rate(request.user.pk, message_id, data.get("rating"), _string(data, "note"))
    return JsonResponse(rated.as_json())


@require_POST
@api_view
async def send_message(request, conversation_id):
    """Save the person's message, start the answer, and stream it as it is generated."""
    data = _json_body(request)
    return await _answer(
        request,
        turns.start,
        conversation_id,
        _string(data, "content"),
        model=_model(data),
        attachments=data.get("attachments") or [],
    )


@require_POST
@api_view
async def regenerate(request, message_id):
    """Answer the last question again, the last answer kept as an earlier version (also: retry after an error)."""
    return await _answer(request, turns.regenerate, message_id, model=_model(_json_body(request)))


@require_POST
@api_view
async def edit(request, message_id):
    """Ask a changed version of an earlier question; it and the messages after it are kept as its earlier version."""
    data = _json_body(request)
    return await _answer(request, turns.edit, message_id, _string(data, "content"), model=_model(data))


async def _answer(request, begin, *args, **kwargs):
    """
    Begin the turn (`begin` saves it) and start generating its answer, then stream it. The two
    go together whatever happens to the request: a client that hangs up while the turn is
    being saved cancels the view, and the saved question would never be answered.
    """
    server = getattr(request, "scope", {}).get("server")

    async def begin_and_start():
        turn = await as_signed_in_user(request, begin, *args, **kwargs)
        relay.start(turn, server=server)
        return turn

    task = asyncio.ensure_future(begin_and_start())
    # Left alone by a request that went away, its error (bad input, say) is nobody's to see.
    task.add_done_callback(lambda task: task.cancelled() or task.exception())
    turn = await asyncio.shield(task)
    meta = {
        "conversation_id": turn.conversation_id,
        "user_message_id": turn.question_id,
        "assistant_message_id": turn.answer_id,
        "model": turn.model,
        "title": turn.title,
    }
    if turn.versions:
        meta["versions"] = list(turn.versions)
    return sse.response(
        relay.follow(turn.answer_id, first=sse.event("meta", meta), stop_on_disconnect=settings.CHAT_STOP_ON_DISCONNECT)
    )


@require_POST
@api_view
async def stop(request, message_id):
    """Stop an answer, whichever process generates it. Stopping a finished answer does nothing."""
    answer = await as_signed_in_user(request, turns.answer_of, message_id)
    return JsonResponse({"id": answer.pk, "status": await relay.stop(answer.pk)})


@require_GET
@api_view
async def stream(request, message_id):
    """Replay an answer from the start, or from `Last-Event-ID`, and follow it live to its end."""
    answer = await as_signed_in_user(request, turns.answer_of, message_id)
    cursor = relay.Cursor.from_event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    meta = {"assistant_message_id": answer.pk, "conversation_id": answer.conversation_id}
    return sse.response(relay.follow(answer.pk, cursor, first=sse.event("meta", meta)))
