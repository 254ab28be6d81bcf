from django.urls import path, register_converter

from chat import api, demo, diagnostics, openai_api, views

app_name = "chat"


class IdConverter:
    """The id of a row: at most 18 digits, so that every id the URL takes fits a database's
    64-bit integer (a longer one is a 404, not an overflow)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")

# The API's paths say "chats" for conversations (docs/api.md): scripts depend on them.
urlpatterns = [
    path("", views.index, name="index"),
    path("c/<id:conversation_id>/", views.conversation, name="conversation"),
    path("healthz", views.healthz, name="healthz"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("account/", views.account_settings, name="account"),
    path("account/tokens/", views.api_tokens, name="tokens"),
    path("account/data/", views.data, name="data"),
    path("account/tokens/<id:token_id>/revoke/", views.revoke_api_token, name="revoke-token"),
    path("api/models/", api.models_view, name="api-models"),
    path("api/usage/", api.usage_view, name="api-usage"),
    path("api/account/", api.account_view, name="api-account"),
    path("api/tokens/", api.tokens_view, name="api-tokens"),
    path("api/tokens/<id:token_id>/", api.token_view, name="api-token"),
    path("api/presets/", api.presets_view, name="api-presets"),
    path("api/presets/<id:preset_id>/", api.preset_view, name="api-preset"),
    path("api/chats/", api.conversations_view, name="api-conversations"),
    path("api/chats/<id:conversation_id>/", api.conversation_view, name="api-conversation"),
    path("api/chats/<id:conversation_id>/export/", api.export_conversation_view, name="api-export-conversation"),
    path("api/chats/<id:conversation_id>/share/", api.share_view, name="api-share"),
    path("api/shares/", api.shares_view, name="api-shares"),
    path("api/search/", api.search_view, name="api-search"),
    path("s/<str:key>/", views.shared, name="shared"),
    path("api/export/", api.export_view, name="api-export"),
    path("api/import/", api.import_view, name="api-import"),
    path("api/files/", api.files_view, name="api-files"),
    path("api/files/<id:file_id>/", api.file_view, name="api-file"),
    path("api/chats/<id:conversation_id>/messages/", api.send_message, name="api-send-message"),
    path("api/messages/<id:message_id>/stop/", api.stop, name="api-stop"),
    path("api/messages/<id:message_id>/stream/", api.stream, name="api-stream"),
    path("api/messages/<id:message_id>/regenerate/", api.regenerate, name="api-regenerate"),
    path("api/messages/<id:message_id>/edit/", api.edit, name="api-edit"),
    path("api/messages/<id:message_id>/show/", api.show_version_view, name="api-show-version"),
    path("api/messages/<id:message_id>/feedback/", api.feedback_view, name="api-feedback"),
    path("api/diagnostics/stream/", diagnostics.stream, name="api-diagnostics-stream"),
    # The OpenAI-compatible API, at the site's root: a client's base URL is https://<site>/v1.
    path("v1/models", openai_api.models, name="openai-models"),
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("demo/v1/chat/completions", demo.chat_completions, name="demo-chat-completions"),
    path("demo/v1/models", demo.models, name="demo-models"),
]
