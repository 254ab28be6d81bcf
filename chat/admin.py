from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from chat import providers
from chat.models import Conversation, Message, Provider, ProviderModel


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "short_content", "status", "model", "prompt_tokens", "completion_tokens", "created_at"]
    readonly_fields = fields
    ordering = ["id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("content"))
    def short_content(self, message):
        return Truncator(message.content).chars(300)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "model", "message_count", "updated_at"]
    list_filter = ["model", "messages__status", "updated_at"]
    list_select_related = ["owner"]
    search_fields = ["title", "owner__username", "owner__email", "messages__content"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["owner"]
    date_hierarchy = "updated_at"
    inlines = [MessageInline]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(message_count=Count("messages", distinct=True))

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, conversation):
        return conversation.message_count


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "conversation", "role", "status", "model", "completion_tokens", "created_at"]
    list_filter = ["status", "role", "model", "created_at"]
    list_select_related = ["conversation"]
    search_fields = ["content", "conversation__title", "conversation__owner__username"]
    raw_id_fields = ["conversation"]
    readonly_fields = ["conversation", "role", "model", *Message.OUTCOME_FIELDS, "created_at", "updated_at"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("base URL"),
        assume_scheme="https",
        max_length=500,
        help_text=_(
            "As the provider documents it, e.g. https://api.deepseek.com: a trailing / is removed, "
            "a bare host gets /v1. Saved as the URL requests go to."
        ),
    )
    # Write-only: the key is never sent back to the browser, not even masked.
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep the key that is set."),
    )
    clear_api_key = forms.BooleanField(label=_("Clear the API key"), required=False)

    class Meta:
        model = Provider
        fields = ["name", "base_url", "api_key", "clear_api_key", "extra_headers", "enabled", "sort_order"]

    def save(self, commit=True):
        provider = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            provider.api_key = ""
        elif key := self.cleaned_data.get("api_key"):
            provider.api_key = key
        if commit:
            provider.save()
        return provider


class PricesInCurrency:
    """The price fields' labels name the currency they are in (CHAT_CURRENCY)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("input_price", "output_price") and field is not None:
            field.label = f"{field.label} ({settings.CHAT_CURRENCY})"
        return field


# A model's settings as a row: in its provider's page and in the list of all models.
MODEL_COLUMNS = [
    "display_name",
    "enabled",
    "sort_order",
    "vision",
    "reasoning",
    "context_window",
    "max_output_tokens",
    "input_price",
    "output_price",
]


class ProviderModelInline(PricesInCurrency, admin.TabularInline):
    model = ProviderModel
    fields = ["name", *MODEL_COLUMNS]
    extra = 0
    show_change_link = True


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "base_url", "enabled", "from_environment", "key_status", "model_count", "last_check"]
    list_filter = ["enabled", "from_environment"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["key_status", "from_environment", "checked_at", "check_ok", "check_message"]
    inlines = [ProviderModelInline]
    actions = ["fetch_models", "test_providers"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(model_count=Count("models"))

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and obj.from_environment:
            # The environment's: restored from it at every start, so not edited here.
            fields = [f for f in fields if f not in ("api_key", "clear_api_key")]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.from_environment:
            readonly += ["name", "base_url", "extra_headers", "enabled", "sort_order"]
        return readonly

    @admin.display(description=_("API key"))
    def key_status(self, provider):
        if provider.from_environment:
            return _("set in the environment") if providers.api_key(provider) else _("not set (environment)")
        return _("set") if provider.has_api_key else _("not set")

    @admin.display(description=_("models"), ordering="model_count")
    def model_count(self, provider):
        return provider.model_count

    @admin.display(description=_("last check"))
    def last_check(self, provider):
        if provider.checked_at is None:
            return "-"
        verdict = _("passed") if provider.check_ok else _("failed")
        return f"{verdict}: {Truncator(provider.check_message).chars(120)}"

    @admin.action(description=_("Fetch the models the provider lists (added disabled)"))
    def fetch_models(self, request, queryset):
        for provider in queryset:
            try:
                added = providers.add_missing_models(provider)
            except providers.ProviderFault as fault:
                self.message_user(request, f"{provider.name}: {fault}", messages.ERROR)
                continue
            if added:
                text = _("%(provider)s: added %(count)s models, disabled: %(names)s. Enable those to offer.") % {
                    "provider": provider.name,
                    "count": len(added),
                    "names": ", ".join(added),
                }
            else:
                text = _("%(provider)s: no model to add.") % {"provider": provider.name}
            self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Test with a 1-token request"))
    def test_providers(self, request, queryset):
        for provider in queryset:
            finding = providers.test(provider)
            text = f"{provider.name}: {finding.text}" + (f" {finding.fix}" if finding.fix else "")
            self.message_user(request, text, messages.SUCCESS if finding.ok else messages.ERROR)


@admin.register(ProviderModel)
class ProviderModelAdmin(PricesInCurrency, admin.ModelAdmin):
    list_display = ["name", "provider", *MODEL_COLUMNS]
    list_editable = ["enabled", "sort_order"]
    list_filter = ["provider", "enabled", "vision", "reasoning"]
    list_select_related = ["provider"]
    search_fields = ["name", "display_name", "provider__name"]
    readonly_fields = ["from_environment"]
