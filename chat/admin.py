from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Sum
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _

from chat import admin_usage, providers
from chat.models import (
    Allowance,
    ApiToken,
    Attachment,
    Conversation,
    Feedback,
    Message,
    Preset,
    Profile,
    Provider,
    ProviderModel,
    Share,
    StaffRead,
    Usage,
)

User = get_user_model()


def shows_content():
    """CHAT_ADMIN_SHOWS_CONTENT, read at each request: off, staff see what was said nowhere here."""
    return settings.CHAT_ADMIN_SHOWS_CONTENT


class Named:
    """
    What the admin's templates show for an object (its breadcrumbs, the title of its history or
    its deletion) in place of the object, whose str() is what was said (a conversation's title,
    a message's content): its model's name and its id.
    """

    def __init__(self, model, pk):
        self.pk = pk
        self.label = f"{capfirst(model._meta.verbose_name)} #{pk}"

    def __str__(self):
        return self.label


class HidesContent:
    """
    For the admins of what people wrote (conversations, messages): with CHAT_ADMIN_SHOWS_CONTENT
    off, the `content_fields` are shown nowhere (pages, columns, search) and the object's str()
    neither, where Django's admin would show it (breadcrumbs, titles, the deletion's list, the
    action checkbox's label, the log). What was said cannot be edited then either: the pages are
    read-only, so a form never saves the fields it does not show.
    """

    content_fields = ()
    content_search_fields = ()

    def label(self, obj):
        return Named(self.model, obj.pk).label

    def has_add_permission(self, request, *args):
        return shows_content() and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return shows_content() and super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if shows_content() else [name for name in fields if name not in self.content_fields]

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return columns if shows_content() else ["private_label" if name == "__str__" else name for name in columns]

    def get_search_fields(self, request):
        # Searching by content would tell it, a probe at a time.
        fields = super().get_search_fields(request)
        return fields if shows_content() else [name for name in fields if name not in self.content_search_fields]

    @admin.display(description=_("id"), ordering="pk")
    def private_label(self, obj):
        return self.label(obj)

    def action_checkbox(self, obj):
        if shows_content():
            return super().action_checkbox(obj)
        # As Django's, named by the id: Django's label quotes str(obj).
        attrs = {"class": "action-select", "aria-label": self.label(obj)}
        return forms.CheckboxInput(attrs, lambda value: False).render(helpers.ACTION_CHECKBOX_NAME, str(obj.pk))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not shows_content():
            named = Named(self.model, unquote(object_id))
            extra_context = {**(extra_context or {}), "original": named, "subtitle": named.label}
        response = super().change_view(request, object_id, form_url, extra_context)
        if (
            isinstance(response, TemplateResponse)
            and response.status_code == 200
            and "adminform" in response.context_data
        ):
            self.record_read(request, response.context_data["adminform"].form.instance)
        return response

    def record_read(self, request, obj):
        raise NotImplementedError

    def history_view(self, request, object_id, extra_context=None):
        if not shows_content():
            named = Named(self.model, unquote(object_id))
            extra_context = {
                **(extra_context or {}),
                "object": named,
                "title": _("Change history: %s") % named.label,
            }
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if not shows_content():
            named = Named(self.model, unquote(object_id))
            # "escaped_object" is str(obj) in the confirmation's sentences (Django 6 adds it).
            extra_context = {**(extra_context or {}), "object": named, "escaped_object": named.label}
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request):
        return without_content(super().get_deleted_objects(objs, request), objs)

    def response_delete(self, request, obj_display, obj_id):
        if not shows_content():
            obj_display = Named(self.model, obj_id).label
        return super().response_delete(request, obj_display, obj_id)

    def log_deletions(self, request, queryset):
        if shows_content():
            return super().log_deletions(request, queryset)
        # Django's log entry keeps str(obj), shown again in "Recent actions".
        content_type = ContentType.objects.get_for_model(self.model, for_concrete_model=False)
        return LogEntry.objects.bulk_create(
            LogEntry(
                user_id=request.user.pk,
                content_type_id=content_type.pk,
                object_id=str(obj.pk),
                object_repr=Named(self.model, obj.pk).label,
                action_flag=DELETION,
            )
            for obj in queryset
        )


def without_content(deleted, objs):
    """
    get_deleted_objects()'s answer without what was said, when CHAT_ADMIN_SHOWS_CONTENT is
    off: Django lists every object deleted along by its str(), conversations' titles and
    messages' content among them. The objects asked for are listed by their id; the summary
    (how many of each model) stays.
    """
    if shows_content():
        return deleted
    _deleted_objects, model_count, perms_needed, protected = deleted
    listed = [
        str(obj) if not isinstance(obj, Conversation | Message) else Named(type(obj), obj.pk).label for obj in objs
    ]
    return listed, model_count, perms_needed, protected


def record_staff_read(request, conversation_id, message_id=None):
    """
    A StaffRead of a staff member opening a conversation or a message of another person: who,
    whose, which and when. None when it is their own.
    """
    owner = Conversation.objects.filter(pk=conversation_id).values_list("owner_id", "owner__username").first()
    if owner is None or owner[0] == request.user.pk:
        return None
    return StaffRead.objects.create(
        staff=request.user,
        staff_username=request.user.get_username(),
        owner_id=owner[0],
        owner_username=owner[1],
        conversation_id=conversation_id,
        conversation_number=conversation_id,
        message_id=message_id,
        message_number=message_id,
    )


class ReadOnlyInline(admin.TabularInline):
    """
    The rows a record holds, as the product wrote them: listed in order, never added, changed
    or deleted here; its `content_fields` (what people wrote) shown only where content shows
    (CHAT_ADMIN_SHOWS_CONTENT).
    """

    ordering = ["id"]
    extra = 0
    can_delete = False
    content_fields = ()

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if shows_content() else [name for name in fields if name not in self.content_fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["role", "short_content", "status", "model", "prompt_tokens", "completion_tokens", "created_at"]
    readonly_fields = fields
    content_fields = ["short_content"]
    # Its rows are named by the message's id, not by its content (str()).
    template = "admin/chat/conversation/message_inline.html"

    @admin.display(description=_("content"))
    def short_content(self, message):
        return Truncator(message.content).chars(300)


@admin.register(Conversation)
class ConversationAdmin(HidesContent, admin.ModelAdmin):
    list_display = ["__str__", "owner", "model", "api_token", "message_count", "updated_at"]
    list_filter = ["model", "messages__status", "updated_at", ("api_token", admin.EmptyFieldListFilter)]
    list_select_related = ["owner", "api_token"]
    search_fields = ["title", "owner__username", "owner__email", "messages__content"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["owner"]
    date_hierarchy = "updated_at"
    inlines = [MessageInline]
    show_full_result_count = False
    content_fields = ("title", "system_prompt")
    content_search_fields = ("title", "messages__content")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(message_count=Count("messages", distinct=True))

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, conversation):
        return conversation.message_count

    def record_read(self, request, conversation):
        record_staff_read(request, conversation.pk)


class AttachmentInline(ReadOnlyInline):
    """A question's files: what they are and their size; their names only where content shows."""

    model = Attachment
    fields = ["name", "kind", "content_type", "size_shown", "created_at"]
    readonly_fields = fields
    content_fields = ["name"]
    verbose_name_plural = _("files sent with it")

    @admin.display(description=_("size"))
    def size_shown(self, attachment):
        return filesizeformat(attachment.size)


@admin.register(Message)
class MessageAdmin(HidesContent, admin.ModelAdmin):
    list_display = ["__str__", "conversation", "role", "status", "model", "completion_tokens", "created_at"]
    list_filter = ["status", "role", "model", "created_at"]
    list_select_related = ["conversation"]
    search_fields = ["content", "conversation__title", "conversation__owner__username"]
    raw_id_fields = ["conversation"]
    readonly_fields = [
        "conversation",
        "conversation_link",
        "role",
        "model",
        *Message.OUTCOME_FIELDS,
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False
    inlines = [AttachmentInline]
    content_fields = ("content", "reasoning", "error_detail")
    content_search_fields = ("content", "conversation__title")

    def has_add_permission(self, request):
        return False

    def get_fields(self, request, obj=None):
        fields = [name for name in super().get_fields(request, obj) if name != "conversation_link"]
        # The conversation by its id, not by its title (its str()).
        return fields if shows_content() else ["conversation_link" if n == "conversation" else n for n in fields]

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return columns if shows_content() else ["conversation_link" if n == "conversation" else n for n in columns]

    @admin.display(description=_("conversation"), ordering="conversation")
    def conversation_link(self, message):
        url = reverse("admin:chat_conversation_change", args=[message.conversation_id])
        return format_html('<a href="{}">{}</a>', url, Named(Conversation, message.conversation_id))

    def record_read(self, request, message):
        record_staff_read(request, message.conversation_id, message.pk)


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


class ReadOnly:
    """Records the product writes itself: staff read them, never add, change or delete them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """
    People's uploads, to see what takes the storage: read-only, but a staff member may delete
    one (its stored file goes with it). Their names only where content shows.
    """

    list_display = ["id", "owner", "kind", "content_type", "size_shown", "sent", "created_at"]
    list_filter = ["kind", "content_type", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["owner__username"]
    fields = ["owner", "message", "name", "kind", "content_type", "size_shown", "created_at"]
    readonly_fields = fields
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if shows_content() else [name for name in fields if name not in ("name", "message")]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("size"), ordering="size")
    def size_shown(self, attachment):
        return filesizeformat(attachment.size)

    @admin.display(description=_("sent"), boolean=True)
    def sent(self, attachment):
        return attachment.message_id is not None


@admin.register(Feedback)
class FeedbackAdmin(ReadOnly, admin.ModelAdmin):
    """
    People's thumbs up and down on answers, by model: which models disappoint. The note is
    written for the operator, so it shows whatever CHAT_ADMIN_SHOWS_CONTENT says; the answer
    itself is a link by its id, opened (and traced) in the messages' admin, where that
    setting decides what shows.
    """

    list_display = ["rating", "model", "user", "short_note", "answer_link", "updated_at"]
    list_filter = ["rating", "message__model", "updated_at"]
    list_select_related = ["user", "message"]
    search_fields = ["note", "user__username", "message__model"]
    fields = ["rating", "model", "user", "note", "answer_link", "created_at", "updated_at"]
    readonly_fields = fields
    date_hierarchy = "updated_at"
    ordering = ["-updated_at"]
    show_full_result_count = False
    actions = None

    @admin.display(description=_("model"), ordering="message__model")
    def model(self, feedback):
        return feedback.message.model

    @admin.display(description=_("note"))
    def short_note(self, feedback):
        return Truncator(feedback.note).chars(120)

    @admin.display(description=_("answer"), ordering="message")
    def answer_link(self, feedback):
        url = reverse("admin:chat_message_change", args=[feedback.message_id])
        return format_html('<a href="{}">{}</a>', url, Named(Message, feedback.message_id))


def _cost_column():
    return f"{_('cost')} ({settings.CHAT_CURRENCY})"


@admin.register(Usage)
class UsageAdmin(ReadOnly, admin.ModelAdmin):
    """
    The usage report: the rows (user, day, model) as filtered, their totals, a chart of the
    tokens per day, the totals per user and model, and the CSV export of the rows as filtered
    (usage/export/, with the page's query string).
    """

    list_display = [
        "user",
        "day",
        "model",
        "provider",
        "token",
        "requests",
        "tokens",
        "estimated_share",
        "cost_display",
    ]
    list_filter = [
        ("day", admin_usage.DayRangeFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        "model",
        "provider",
        ("token", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["user", "token"]
    search_fields = ["user__username"]
    ordering = ["-day", "user__username", "model"]
    list_per_page = 100
    show_full_result_count = False
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(total_tokens=F("prompt_tokens") + F("completion_tokens"))

    @admin.display(description=_("tokens"), ordering="total_tokens")
    def tokens(self, usage):
        return usage.total_tokens

    @admin.display(description=_("estimated share"))
    def estimated_share(self, usage):
        return admin_usage.percent(admin_usage.share(usage.estimated_tokens, usage.total_tokens))

    @admin.display(description=lazy(_cost_column, str)(), ordering="cost")
    def cost_display(self, usage):
        return admin_usage.money(usage.cost)

    def get_urls(self):
        export = path(
            "export/", self.admin_site.admin_view(self.export_view), name=f"{self.opts.app_label}_usage_export"
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        # A redirect (wrong filter values) has no changelist to report on.
        if isinstance(response, TemplateResponse) and "cl" in (response.context_data or {}):
            response.context_data.update(admin_usage.report(response.context_data["cl"]))
        return response

    def export_view(self, request):
        """The rows of the report as its filters, search and ordering in the query string select them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # The changelist's own queryset (admin.ModelAdmin's view, without the report's sums):
        # the export has exactly the rows the page lists, all its pages.
        response = super().changelist_view(request)
        if not isinstance(response, TemplateResponse) or "cl" not in (response.context_data or {}):
            return response
        return admin_usage.csv_response(response.context_data["cl"].queryset)


class AllowanceForm(forms.ModelForm):
    class Meta:
        model = Allowance
        fields = [
            "user",
            "group",
            "messages_per_minute",
            "max_streams",
            "daily_tokens",
            "monthly_tokens",
            "allowed_models",
        ]

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool(cleaned.get("group")):
            raise ValidationError(_("An allowance is a user's or a group's: choose one, not both."))
        return cleaned


def _limit_column(name):
    field = Allowance._meta.get_field(name)

    @admin.display(description=field.verbose_name, ordering=name)
    def column(self, allowance):
        value = getattr(allowance, name)
        if value is None:
            return _("as the settings")
        return _("no limit") if value == 0 else value

    return column


@admin.register(Allowance)
class AllowanceAdmin(admin.ModelAdmin):
    """Who has which limits (chat.limits): the users' and the groups' allowances."""

    form = AllowanceForm
    list_display = ["__str__", "kind", "per_minute", "streams", "daily", "monthly", "models"]
    list_select_related = ["user", "group"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user", "group"]

    per_minute = _limit_column("messages_per_minute")
    streams = _limit_column("max_streams")
    daily = _limit_column("daily_tokens")
    monthly = _limit_column("monthly_tokens")

    @admin.display(description=_("for"))
    def kind(self, allowance):
        return _("user") if allowance.user_id else _("group")

    @admin.display(description=_("models allowed"))
    def models(self, allowance):
        return ", ".join(sorted(allowance.model_ids)) or _("every enabled model")


class AllowanceInline(admin.StackedInline):
    model = Allowance
    form = AllowanceForm
    max_num = 1
    extra = 1


class UserAllowanceInline(AllowanceInline):
    fk_name = "user"
    exclude = ["group"]


class GroupAllowanceInline(AllowanceInline):
    fk_name = "group"
    exclude = ["user"]


class ProfileInline(admin.StackedInline):
    """The person's own settings (their settings page's), for staff to see and to mend."""

    model = Profile
    can_delete = False
    fields = ["language", "theme", "default_model", "custom_instructions", "password_reset_sent_at", "updated_at"]
    readonly_fields = ["password_reset_sent_at", "updated_at"]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's, with the user's settings, allowance and a summary of their usage."""

    fieldsets = [*DjangoUserAdmin.fieldsets, (_("Usage"), {"fields": ["usage_summary", "storage_used"]})]
    readonly_fields = [*DjangoUserAdmin.readonly_fields, "usage_summary", "storage_used"]
    list_display = [*DjangoUserAdmin.list_display, "storage_used"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(stored=Sum("attachments__size"))

    @admin.display(description=_("storage used"), ordering="stored")
    def storage_used(self, user):
        used = user.stored or 0
        quota = settings.CHAT_STORAGE_QUOTA_MB
        if not quota:
            return filesizeformat(used)
        return _("%(used)s of %(quota)s MB") % {"used": filesizeformat(used), "quota": quota}

    def get_inlines(self, request, obj):
        # Not on the add page, Django's two-step one (the username and the password first).
        return [ProfileInline, UserAllowanceInline] if obj is not None else []

    @admin.display(description=_("usage"))
    def usage_summary(self, user):
        return admin_usage.user_summary(user)

    def get_deleted_objects(self, objs, request):
        # Deleting a user deletes their conversations and messages, listed by their str().
        return without_content(super().get_deleted_objects(objs, request), objs)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Django's, with the group's allowance."""

    inlines = [GroupAllowanceInline]


@admin.register(StaffRead)
class StaffReadAdmin(ReadOnly, admin.ModelAdmin):
    """The trace of staff reading other people's conversations and messages here."""

    list_display = ["at", "staff_username", "owner_username", "conversation_link", "message_link"]
    list_filter = ["staff_username", ("at", admin.DateFieldListFilter)]
    search_fields = ["staff_username", "owner_username"]
    date_hierarchy = "at"
    fields = ["at", "staff_username", "owner_username", "conversation_link", "message_link"]
    readonly_fields = fields
    show_full_result_count = False
    actions = None

    # By their id: the str() of a conversation or a message is what was said.
    @admin.display(description=_("conversation"), ordering="conversation_number")
    def conversation_link(self, read):
        label = Named(Conversation, read.conversation_number)
        if read.conversation_id is None:
            return format_html("{} ({})", label, _("deleted"))
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:chat_conversation_change", args=[read.conversation_id]), label
        )

    @admin.display(description=_("message"), ordering="message_number")
    def message_link(self, read):
        if read.message_number is None:
            return "-"
        label = Named(Message, read.message_number)
        if read.message_id is None:
            return format_html("{} ({})", label, _("deleted"))
        url = reverse("admin:chat_message_change", args=[read.message_id])
        return format_html('<a href="{}">{}</a>', url, label)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone's API tokens, never their secret (only its digest is kept): staff revoke them."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "user", "prefix", "allowed_models", "expires_at", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    show_full_result_count = False

    def has_add_permission(self, request):
        # Made by their owner, who alone ever sees the token.
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)s tokens revoked.") % {"count": count}, messages.SUCCESS)


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    """
    Everyone's shared links, which staff can stop (delete: the page is gone at once). The
    conversation by its number, its title only where staff see content.
    """

    list_display = ["key_start", "conversation_number", "owner", "shared_title", "shows_author", "created_at"]
    list_select_related = ["conversation__owner"]
    list_filter = ["shows_author", "created_at"]
    search_fields = ["conversation__owner__username"]
    fields = [
        "key_start",
        "conversation_number",
        "owner",
        "shared_title",
        "shows_author",
        "last_message_id",
        "created_at",
    ]
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # shared by the conversation's owner

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("address"))
    def key_start(self, share):
        return f"/s/{share.key[:6]}…"

    @admin.display(description=_("conversation"), ordering="conversation_id")
    def conversation_number(self, share):
        return Named(Conversation, share.conversation_id).label

    @admin.display(description=_("owner"), ordering="conversation__owner__username")
    def owner(self, share):
        return share.conversation.owner

    @admin.display(description=_("title"))
    def shared_title(self, share):
        return share.title if shows_content() else "—"


class PresetForm(forms.ModelForm):
    class Meta:
        model = Preset
        fields = ["name", "system_prompt", "model", "greeting", "temperature", "sort_order", "enabled"]

    def clean_model(self):
        # A model offered now (the picker's id); a preset naming one no longer offered later
        # still starts chats, with the person's default model.
        model = self.cleaned_data["model"].strip()
        if model:
            from chat import catalogue

            offers = catalogue.current()
            if (offer := offers.find(model)) is None:
                raise ValidationError(
                    _("Unknown model %(model)s. Available: %(models)s.")
                    % {"model": repr(model), "models": ", ".join(offers.ids)}
                )
            model = offer.id
        return model


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    """
    The staff's presets (no owner), offered to everyone while enabled, made and changed here;
    and people's own, saved from their chats, shown read-only (filter by "Owner"). What people
    wrote in theirs, the system prompt and the greeting, shows only where
    CHAT_ADMIN_SHOWS_CONTENT says staff see content.
    """

    form = PresetForm
    list_display = ["name", "offered_by", "model", "temperature", "short_prompt", "enabled", "sort_order"]
    list_filter = [("owner", admin.EmptyFieldListFilter), "enabled"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    ordering = ["owner", "sort_order", "name"]
    show_full_result_count = False
    personal_content_fields = ("system_prompt", "greeting")

    @admin.display(description=_("owner"), ordering="owner__username")
    def offered_by(self, preset):
        return preset.owner if preset.owner_id else _("staff (everyone)")

    @admin.display(description=_("system prompt"))
    def short_prompt(self, preset):
        if preset.owner_id and not shows_content():
            return "—"
        return Truncator(preset.system_prompt).chars(80)

    def has_change_permission(self, request, obj=None):
        # A person's own preset is theirs to change, from the page.
        return (obj is None or obj.owner_id is None) and super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        if obj is None or obj.owner_id is None:
            return super().get_fields(request, obj)
        fields = ["name", "owner", "system_prompt", "model", "greeting", "temperature", "created_at"]
        return fields if shows_content() else [name for name in fields if name not in self.personal_content_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.owner_id is None:
            return super().get_readonly_fields(request, obj)
        return self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = None  # made here: the staff's, for everyone
        super().save_model(request, obj, form, change)
