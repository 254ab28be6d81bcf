"""
A person's own settings (chat.models.Profile, and User.first_name for the display name): the
form that edits them, for the settings page and for PATCH /api/account/ alike, and how the
language saved reaches the pages (Django's language cookie, which LocaleMiddleware reads).
"""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.db import transaction
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from chat import catalogue, limits
from chat.models import Profile

DISPLAY_NAME_MAX_LENGTH = get_user_model()._meta.get_field("first_name").max_length


class AccountForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"),
        max_length=DISPLAY_NAME_MAX_LENGTH,
        required=False,
        help_text=_("Shown on your pages instead of your username. Blank: your username."),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        help_text=_("Where the link to reset a forgotten password goes, if this site sends e-mail."),
    )
    language = forms.ChoiceField(label=_("Language"), required=False)
    theme = forms.ChoiceField(label=_("Theme"), choices=Profile.Theme.choices)
    default_model = forms.ChoiceField(
        label=_("Default model"), required=False, help_text=_("The model your new conversations start with.")
    )
    custom_instructions = forms.CharField(
        label=_("Custom instructions"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "The system prompt your new conversations start with, such as what the model should know about "
            "you or how it should answer. You can still change it in each conversation's settings."
        ),
    )

    def __init__(self, data=None, *, user):
        self.user = user
        self.profile = Profile.objects.of(user.pk)
        offers = self.offers = catalogue.current()
        self.person = limits.of(user.pk)
        site_default = self.person.default(offers)
        super().__init__(data, initial=self.values())
        self.fields["language"].choices = [("", _("The browser's")), *settings.LANGUAGES]
        self.fields["default_model"].choices = [
            ("", _("The site's default (%(model)s)") % {"model": site_default.label or site_default.id}),
            *((offer.id, offer.label or offer.id) for offer in self.person.allowed(offers)),
        ]
        # As a conversation's own system prompt may be (a setting, so read here, not at import).
        self.fields["custom_instructions"].validators.append(MaxLengthValidator(settings.CHAT_MAX_SYSTEM_PROMPT_CHARS))

    def values(self):
        """The settings saved, as the form's fields name them (and GET /api/account/ shows them)."""
        profile = self.profile
        offer = self.offers.find(profile.default_model) if profile.default_model else None
        return {
            "display_name": self.user.first_name,
            "email": self.user.email,
            "language": profile.language,
            "theme": profile.theme,
            # A model no longer offered to the person reads as the site's default, which is
            # what their new conversations get.
            "default_model": offer.id if offer is not None and self.person.allows(offer) else "",
            "custom_instructions": profile.custom_instructions,
        }

    @transaction.atomic
    def save(self):
        data = self.cleaned_data
        self.user.first_name = data["display_name"]
        self.user.email = get_user_model().objects.normalize_email(data["email"])
        self.user.save(update_fields=["first_name", "email"])
        profile = self.profile
        profile.language = data["language"]
        profile.theme = data["theme"]
        profile.default_model = data["default_model"]
        profile.custom_instructions = data["custom_instructions"]
        profile.save()
        return profile


def offered_models(user_id, profile=None):
    """
    The models the person may use, as GET /api/models/ lists them, and the default of their
    new conversations: theirs while they may use it, else the site's.
    """
    offers, person = catalogue.current(), limits.of(user_id)
    profile = Profile.objects.of(user_id) if profile is None else profile
    return {
        "default": profile.default_offer(offers, person).id,
        "currency": settings.CHAT_CURRENCY,
        "results": [offer.as_json() for offer in person.allowed(offers)],
    }


def display_name(user):
    return user.first_name or user.get_username()


def save_language(user_id, language):
    """Make `language` (a code of settings.LANGUAGES) the person's own, as their settings save it."""
    if language in dict(settings.LANGUAGES):
        Profile.objects.update_or_create(user_id=user_id, defaults={"language": language})


def remember_language(response, language):
    """
    Make `language` the pages' language from the next request on, as Django's set_language
    view does (the cookie LocaleMiddleware reads); blank: the browser's again.
    """
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    else:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response


def context(request):
    """
    The person's profile for every page's template (its theme on <html>), a context processor
    (settings.TEMPLATES): read only when a template asks, None for a visitor.
    """
    user = getattr(request, "user", None)

    def profile():
        return Profile.objects.of(user.pk) if user is not None and user.is_authenticated else None

    return {"profile": SimpleLazyObject(profile)}
