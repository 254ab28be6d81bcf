from django.contrib import admin
from django.db.models import Count
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from chat.models import Conversation, Message


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
