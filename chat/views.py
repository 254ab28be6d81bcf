from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.csrf import csrf_failure as default_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from chat import branding, catalogue, files, limits, presets, profiles, shares, tokens
from chat.accounts import (
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    PasswordResetSetForm,
    SignupForm,
    first_start,
)
from chat.errors import ChatError
from chat.models import ApiToken, Conversation, Profile
from chat.upstream import DEMO_MODEL


def _page_strings():
    """The page script's own words, translated here so the page needs no extra request."""
    return {
        "appName": branding.name(),
        "newConversation": _("New chat"),
        "copy": _("Copy"),
        "copied": _("Copied"),
        "copyFailed": _("Could not copy"),
        "copyCode": _("Copy code"),
        "edit": _("Edit"),
        "cancel": _("Cancel"),
        "send": _("Send"),
        "regenerate": _("Regenerate"),
        "previousVersion": _("Previous version"),
        "nextVersion": _("Next version"),
        # Translators: a message's versions, as in "2 / 3": the second of three.
        "versionOf": _("{index} / {count}"),
        "retry": _("Retry"),
        "rename": _("Rename"),
        "delete": _("Delete"),
        # Translators: {title} is the conversation's title.
        "deleteConfirm": _("Delete “{title}”? Its messages will be deleted too. This cannot be undone."),
        "thinking": _("Thinking…"),
        "reasoning": _("Thoughts"),
        "stopped": _("Stopped."),
        "interrupted": _("Interrupted: the server stopped during this answer."),
        "error": _("Something went wrong."),
        "reconnecting": _("The connection was lost. Reconnecting…"),
        "connectionLost": _("The connection was lost. Reload the page to see the rest of the answer."),
        "networkError": _("The server could not be reached. Check your connection and try again."),
        "notFound": _("This conversation does not exist or was deleted."),
        "serverError": _("The server had a problem. Try again in a moment."),
        "pageError": _("Something went wrong on this page. Reload it to continue."),
        "offline": _("You are offline."),
        # Translators: {max} is a number of characters.
        "tooLong": _("The message is longer than {max} characters."),
        "noConversations": _("No conversations yet."),
        "noResults": _("No conversations found."),
        "noMessagesFound": _("No messages found."),
        "noArchived": _("No archived conversations."),
        "share": _("Share link"),
        "shareAgain": _("Update the link to this conversation as it is now"),
        "copyLink": _("Copy link"),
        "pin": _("Pin"),
        "unpin": _("Unpin"),
        "pinned": _("Pinned"),
        "archive": _("Archive"),
        "unarchive": _("Unarchive"),
        "archived": _("Archived"),
        "backToConversations": _("Back to the conversations"),
        "today": _("Today"),
        "yesterday": _("Yesterday"),
        "previous7": _("Previous 7 days"),
        "previous30": _("Previous 30 days"),
        "older": _("Older"),
        # Translators: {model} is the name of the built-in offline demo model.
        "demoModel": _("{model} (demo, offline)"),
        # Translators: in the model picker, while the conversation's model is no longer offered.
        "pickModel": _("Pick a model"),
        # Translators: {model} is the id of a model the administrator has disabled or removed.
        "modelRetired": _("The model {model} is no longer offered. Pick another model to go on."),
        "saved": _("Saved."),
        # Translators: {time} is a countdown such as 0:42 (minutes:seconds).
        "retryIn": _("You can send again in {time}."),
        "retryNow": _("You can send again now."),
        # Translators: {used} and {quota} are numbers of tokens.
        "budgetToday": _("Today: {used} of {quota} tokens"),
        "budgetMonth": _("This month: {used} of {quota} tokens"),
        "budgetLow": _("Almost all used."),
        # Translators: {name} is the name a person gave an API token.
        "viaToken": _("Through the API token {name}"),
        "image": _("Image"),
        # Attachments (static/chat/attachments.js). Translators: {name} is a file's name.
        "removeFile": _("Remove {name}"),
        "uploading": _("Uploading {name}"),
        "uploadFailed": _("The file could not be uploaded."),
        "waitForUploads": _("Wait for the files to finish uploading."),
        # Translators: {count} is a number of files.
        "tooManyFiles": _("A message takes at most {count} files."),
        "pastedImage": _("Pasted image"),
        "openImage": _("Open the image {name}"),
        "fileGone": _("This file no longer exists."),
        "loading": _("Loading…"),
        # Translators: the toggle under a long message of the person, folded to a few lines.
        "showMore": _("Show more"),
        "showLess": _("Show less"),
        # An answer's rating and its optional note, for the operator.
        "rateUp": _("Good answer"),
        "rateDown": _("Bad answer"),
        "feedbackNote": _("What was wrong with this answer? (optional)"),
        "skip": _("Skip"),
        "feedbackThanks": _("Thank you for your feedback."),
        # Translators: under an answer; {prompt} and {completion} are numbers of tokens.
        "tokensUsed": _("{prompt} + {completion} tokens"),
        # Translators: under an answer; {seconds} is a number such as 0.4.
        "firstToken": _("first token in {seconds} s"),
        # Translators: under an answer, how long it took; {seconds} is a number such as 3.1.
        "duration": _("{seconds} s in all"),
        "factsTitle": _(
            "Tokens of the question with the history sent, plus the answer's; ≈: estimated, the "
            "provider reported none. The cost is at the model's current prices."
        ),
        "temperatureInvalid": _("The temperature must be a number from 0 to 2, or empty for the model's default."),
        # Translators: {name} is the name of a preset (a saved way to start a chat).
        "deletePreset": _("Delete the preset {name}"),
        "deletePresetConfirm": _("Delete the preset “{name}”? Conversations started from it stay as they are."),
        "presetNameNeeded": _("Give the preset a name."),
        "presetSaved": _("Saved as the preset “{name}”."),
        "maxTokensInvalid": _("The longest answer must be a whole number of tokens, at least 1."),
        # Translators: {max} is the most tokens the model answers with.
        "maxTokensOverLimit": _("The longest answer must be a whole number of tokens from 1 to {max}."),
    }


def _page_config(request, conversation=None):
    """What the page script needs to start, passed with json_script."""
    profile = Profile.objects.of(request.user.pk)
    models = profiles.offered_models(request.user.pk, profile)
    return {
        "conversation_id": conversation.pk if conversation else None,
        "models": models["results"],
        "default_model": models["default"],
        "currency": models["currency"],
        # What a new conversation's system prompt starts as (the person's custom instructions).
        "custom_instructions": profile.custom_instructions,
        "demo_model": DEMO_MODEL,
        "max_prompt_chars": settings.CHAT_MAX_PROMPT_CHARS,
        "max_files_per_message": settings.CHAT_MAX_FILES_PER_MESSAGE,
        "max_system_prompt_chars": settings.CHAT_MAX_SYSTEM_PROMPT_CHARS,
        # The presets a new chat starts from (GET /api/presets/).
        "presets": presets.listed(request.user.pk),
        "username": request.user.get_username(),
        "login_url": reverse(settings.LOGIN_URL),
        "strings": _page_strings(),
    }


@login_required
def index(request):
    return render(request, "chat/chat.html", {"config": _page_config(request)})


@login_required
def conversation(request, conversation_id):
    conversation = get_object_or_404(Conversation.objects.for_user(request.user.pk), pk=conversation_id)
    return render(
        request, "chat/chat.html", {"config": _page_config(request, conversation), "conversation": conversation}
    )


class TokenForm(forms.Form):
    """A new API token: a name, how long it lasts, which of the person's models it may use."""

    LASTS = [
        ("", gettext_lazy("Never expires")),
        ("30", gettext_lazy("30 days")),
        ("90", gettext_lazy("90 days")),
        ("365", gettext_lazy("A year")),
    ]

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.NAME_MAX_LENGTH,
        help_text=gettext_lazy("Where you use it, e.g. Laptop."),
    )
    lasts = forms.ChoiceField(label=gettext_lazy("Expires"), choices=LASTS, required=False)
    models = forms.MultipleChoiceField(
        label=gettext_lazy("Models"),
        required=False,
        help_text=gettext_lazy("None selected: every model you may use."),
    )

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [(offer.id, offer.label or offer.id) for offer in offers]


@login_required
def api_tokens(request):
    """The person's API tokens: make one (shown once), see them, revoke them."""
    offers = limits.of(request.user.pk).allowed(catalogue.current())
    form = TokenForm(request.POST or None, offers=offers)
    new_token = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["lasts"]
        expires_at = timezone.now() + timedelta(days=int(days)) if days else None
        try:
            _row, new_token = tokens.create(
                request.user.pk,
                name=form.cleaned_data["name"],
                expires_at=expires_at,
                models=form.cleaned_data["models"],
            )
        except ChatError as exc:
            form.add_error(None, exc.message)
        else:
            form = TokenForm(offers=offers)
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": ApiToken.objects.for_user(request.user.pk).filter(revoked_at__isnull=True),
        "base_url": request.build_absolute_uri("/v1"),
    }
    return render(request, "chat/tokens.html", context)


def manifest(request):
    """
    The web app manifest, by which a phone installs the chat as an app: the site's name and
    icons, opening on the chat. No service worker: nothing private is ever cached offline.
    """
    name = branding.name()
    data = {
        "name": name,
        "short_name": name[:12],
        "start_url": reverse("chat:index"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0d0d0d",
        "icons": [
            {"src": static(f"chat/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png"}
            for size in (192, 512)
        ]
        + [
            {
                "src": static(f"chat/icon-maskable-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "maskable",
            }
            for size in (192, 512)
        ],
    }
    response = JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=3600"
    return response


def shared(request, key):
    """
    A conversation someone shared: its snapshot, read-only, for anybody with the address.
    Nothing else of the owner (their name only if they chose it), no session used or made,
    not for search engines, never cached (a link stopped is gone at once).
    """
    share = shares.public(key)
    if share is None:
        raise Http404
    rows = list(share.messages().values_list("id", "role", "content", "model"))
    # The names of the files sent with each question: the files themselves are their owner's only.
    sent = files.of_messages([row[0] for row in rows]) if share.conversation.has_files else {}
    messages = [
        {"role": role, "content": content, "model": model, "files": [a.name for a in sent.get(pk, ())]}
        for pk, role, content, model in rows
    ]
    context = {
        "share": share,
        "messages": messages,
        "author": share.conversation.owner.get_username() if share.shows_author else "",
    }
    response = render(request, "chat/shared.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
def data(request):
    """The person's data: download all of it, their share links, import conversations (static/chat/data.js)."""
    context = {"max_mb": settings.CHAT_MAX_IMPORT_MB, "shares": shares.listed(request.user.pk)}
    return render(request, "chat/data.html", context)


@login_required
def account_settings(request):
    """The person's own settings: display name, language, theme, default model, custom instructions."""
    form = profiles.AccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        # Redirected, so that a reload does not post the form again; in the language just saved.
        response = redirect(f"{reverse('chat:account')}?saved=1")
        return profiles.remember_language(response, profile.language)
    return render(request, "chat/account.html", {"form": form, "saved": "saved" in request.GET})


@require_POST
@login_required
def revoke_api_token(request, token_id):
    try:
        tokens.revoke(request.user.pk, token_id)
    except ChatError:
        raise Http404 from None
    return redirect("chat:tokens")


def set_language(request):
    """
    Django's set_language (the language picker at the foot of every page); a signed-in person's
    choice is also saved in their settings, which apply it at each login, so that the picker
    and the settings page never disagree.
    """
    response = django_set_language(request)
    if request.method == "POST" and request.user.is_authenticated and response.status_code == 302:
        profiles.save_language(request.user.pk, request.POST.get("language", ""))
    return response


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(signup_enabled=settings.SIGNUP_ENABLED, first_start=first_start(), **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        # The language the person chose in their settings, from this login on (else the
        # browser's, or what they picked on this page).
        if language := Profile.objects.of(form.get_user().pk).language:
            profiles.remember_language(response, language)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "registration/account_form.html"
    extra_context = {
        "heading": gettext_lazy("Change your password"),
        "submit": gettext_lazy("Change password"),
        "back_to_chat": True,
    }


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/account_message.html"
    extra_context = {
        "heading": gettext_lazy("Password changed"),
        "message": gettext_lazy(
            "Your password is changed. Other browsers logged in to your account are logged out; "
            "your API tokens keep working."
        ),
        "back_to_chat": True,
    }


def needs_email(view_class):
    """A password reset page: only with a mail server to send the link (EMAIL_URL), else 404."""
    view = view_class.as_view()

    def wrapper(request, *args, **kwargs):
        if not branding.password_reset_enabled():
            raise Http404("Password reset by e-mail is not configured.")
        return view(request, *args, **kwargs)

    return wrapper


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "registration/account_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    extra_context = {
        "heading": gettext_lazy("Reset your password"),
        "intro": gettext_lazy(
            "Enter the e-mail address of your account: we send a link there to choose a new password."
        ),
        "submit": gettext_lazy("Send the link"),
    }

    @property
    def extra_email_context(self):
        return {"site_name": branding.name()}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/account_message.html"
    extra_context = {
        "heading": gettext_lazy("Check your e-mail"),
        "message": gettext_lazy(
            "If an account has this address, a link to choose a new password is on its way. It works once."
        ),
    }


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/account_message.html"
    extra_context = {
        "heading": gettext_lazy("Password changed"),
        "message": gettext_lazy("Your new password is set: log in with it."),
    }


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = PasswordResetSetForm
    template_name = "registration/account_form.html"
    extra_context = {
        "heading": gettext_lazy("Choose a new password"),
        "submit": gettext_lazy("Change password"),
        "invalid_link": gettext_lazy(
            "This link is not valid: it was used already, or it is too old. Ask for a new one."
        ),
    }


# Where the sign-up's redirect finds the new account's name, to say it waits for approval.
AWAITING_APPROVAL = "signup_awaiting_approval"


def signup(request):
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off.")
    if request.user.is_authenticated:
        return redirect("chat:index")
    if request.method == "GET" and AWAITING_APPROVAL in request.session:
        username = request.session.pop(AWAITING_APPROVAL)
        return render(request, "registration/signup_pending.html", {"username": username})
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if not user.is_active:
            # Redirected, so that reloading the page does not post the form again.
            request.session[AWAITING_APPROVAL] = user.get_username()
            return redirect("signup")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})


@never_cache
def healthz(request):
    """For the panel's monitor and the load balancer: is the database reachable?"""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return HttpResponse("database unreachable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


def csrf_failure(request, reason=""):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": _("CSRF verification failed: send the X-CSRFToken header with the csrftoken cookie's value.")},
            status=403,
        )
    return default_csrf_failure(request, reason=reason)
