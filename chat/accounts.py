"""
Accounts: the login form and its lockout page, the sign-up and password forms (a reset link
mailed at most every RESET_MAIL_INTERVAL), and the client's address.

Failed logins are counted by django-axes (settings: the AXES_* block), per username and per IP
address; these are the parts of it the product shapes: which address is the client's, and the
page a locked-out person sees.
"""

import hashlib
import hmac
import ipaddress
import math
from datetime import timedelta

from axes.helpers import (
    get_client_ip_address,
    get_client_parameters,
    get_client_user_agent,
    get_client_username,
    get_cool_off,
    get_failure_limit,
)
from axes.models import AccessAttempt
from axes.utils import reset as reset_failed_logins
from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from chat.models import Profile

# A reset link is mailed to an account at most this often: asking again and again (anyone may
# ask, for any address) does not fill a person's mailbox. The page says the same either way.
RESET_MAIL_INTERVAL = timedelta(minutes=10)


def client_ip(request):
    """
    The address failed logins are counted against (AXES_CLIENT_IP_CALLABLE).

    X-Forwarded-For is anyone's to write, so it counts only with LOGIN_TRUSTED_PROXY_COUNT
    set. nginx appends the address it sees to whatever the client sent
    ($proxy_add_x_forwarded_for), so with N trusted proxies the client is the Nth address from
    the right; the ones further left are the client's own claims.
    """
    address = request.META.get("REMOTE_ADDR")
    proxies = settings.LOGIN_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            address = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        # Not an address (a unix socket has none): the column takes NULL, not garbage.
        return None


def lockout_ends(request, credentials=None):
    """
    When the lockout of this request's username or address ends.

    axes counts the failures of the attempts seen within the cool-off; an attempt stops
    counting a cool-off after its last failure. So each locked parameter is free again once
    its newest attempts no longer add up to the limit.
    """
    now = timezone.now()
    cool_off = get_cool_off(request)
    limit = get_failure_limit(request, credentials)
    lookups = get_client_parameters(
        get_client_username(request, credentials),
        get_client_ip_address(request),
        get_client_user_agent(request),
        request,
        credentials,
    )
    ends = now
    for lookup in lookups:
        failures = 0
        attempts = AccessAttempt.objects.filter(**lookup, attempt_time__gte=now - cool_off).order_by("-attempt_time")
        for attempt in attempts:
            failures += attempt.failures_since_start
            if failures >= limit:
                ends = max(ends, attempt.attempt_time + cool_off)
                break
    return ends


def lockout_response(request, original_response=None, credentials=None):
    """
    The login page, saying for how long logging in is refused (AXES_LOCKOUT_CALLABLE): for the
    admin's login as well, whose form posts the same fields.
    """
    seconds = max((lockout_ends(request, credentials) - timezone.now()).total_seconds(), 0)
    minutes = max(math.ceil(seconds / 60), 1)
    message = ngettext(
        "Too many failed logins. Try again in %(minutes)d minute.",
        "Too many failed logins. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    next_url = request.POST.get("next") or request.GET.get("next", "")
    hosts = {request.get_host()}
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=hosts, require_https=request.is_secure()):
        next_url = ""
    context = {
        "form": LoginForm(request, initial={"username": get_client_username(request, credentials) or ""}),
        "lockout_message": message,
        "next": next_url,
        "signup_enabled": settings.SIGNUP_ENABLED,
    }
    response = render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(minutes * 60)
    return response


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Your username and password didn't match. Please try again."),
        "awaiting_approval": _("Your account waits for approval. You can log in once an administrator activates it."),
    }

    @sensitive_variables()
    def clean(self):
        try:
            return super().clean()
        except ValidationError as error:
            if error.code == "invalid_login" and self.awaits_approval():
                raise ValidationError(self.error_messages["awaiting_approval"], code="awaiting_approval") from None
            raise

    @sensitive_variables()
    def awaits_approval(self):
        """
        Whether the login failed only because the account is not active yet: the right password
        of an account that never logged in. Django's ModelBackend refuses an inactive account
        as it does a wrong password; it stays the backend, so that deactivating someone still
        ends their sessions (an AllowAllUsersModelBackend would keep them).
        """
        if getattr(self.request, "axes_locked_out", False):
            # During a lockout no password is checked, or guesses would go on through this.
            return False
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:
            return False
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            return False
        return not user.is_active and user.last_login is None and user.check_password(password)


def invite_codes():
    return [code.strip() for code in settings.SIGNUP_INVITE_CODES if code.strip()]


def is_invite_code(given):
    # Digests first, so that the comparison takes the same time whatever the code's length;
    # every code is compared, so the time does not tell which one came close either.
    given_digest = hashlib.sha256(given.encode()).digest()
    matches = [hmac.compare_digest(given_digest, hashlib.sha256(code.encode()).digest()) for code in invite_codes()]
    return any(matches)


class NewPasswordErrorsUnderIt:
    """
    The password validators' errors (too short, too common…) under the new password's field,
    where the person typed it. Django checks the confirmation's value and puts them under the
    confirmation, which reads as if only the confirmation were wrong; a mismatch of the two
    still shows under the confirmation.
    """

    FIRST_OF = {"password2": "password1", "new_password2": "new_password1"}

    def validate_password_for_user(self, user, password_field_name="password2"):
        super().validate_password_for_user(user, self.FIRST_OF.get(password_field_name, password_field_name))


class PasswordChangeForm(NewPasswordErrorsUnderIt, auth_forms.PasswordChangeForm):
    pass


class PasswordResetForm(auth_forms.PasswordResetForm):
    """The address to mail a reset link to: Django's, at most one link per RESET_MAIL_INTERVAL."""

    def get_users(self, email):
        now = timezone.now()
        for user in super().get_users(email):
            Profile.objects.get_or_create(user=user)
            # Claimed in one UPDATE, so that two requests at once mail one link, not two.
            due = Q(password_reset_sent_at__isnull=True) | Q(password_reset_sent_at__lte=now - RESET_MAIL_INTERVAL)
            if Profile.objects.filter(due, user=user).update(password_reset_sent_at=now):
                yield user


class PasswordResetSetForm(NewPasswordErrorsUnderIt, auth_forms.SetPasswordForm):
    """The new password, from the link of a password reset mail."""

    def save(self, commit=True):
        user = super().save(commit)
        # A forgotten password is often why the account is locked out: the new one works at once.
        reset_failed_logins(username=user.get_username())
        return user


def first_start(users=None):
    """
    Whether the site is as the first `make run` left it: its one account the administrator
    that `manage.py ensureadmin` created, who has never logged in. The login page then says
    where that account's password is (printed once by `make run`), which no visitor can use
    without it; after the first login, or once there are other accounts, it says nothing.
    """
    users = list(get_user_model().objects.order_by("pk")[:2]) if users is None else users
    return len(users) == 1 and users[0].is_superuser and users[0].last_login is None


class SignupForm(NewPasswordErrorsUnderIt, UserCreationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if invite_codes():
            self.fields["invite_code"] = forms.CharField(label=_("Invite code"), max_length=200)

    def clean_invite_code(self):
        code = self.cleaned_data["invite_code"]
        if not is_invite_code(code):
            raise ValidationError(_("This invite code is not valid."), code="invalid_invite_code")
        return code

    def save(self, commit=True):
        user = super().save(commit=False)
        # Inactive until a staff member ticks "Active" in the admin.
        user.is_active = not settings.SIGNUP_REQUIRES_APPROVAL
        if commit:
            user.save()
            self.save_m2m()
        return user
