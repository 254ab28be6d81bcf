from django.urls import path

from chat import api, demo, diagnostics, views

app_name = "chat"

# The API's paths say "chats" for conversations (docs/api.md): scripts depend on them.
urlpatterns = [
    path("", views.index, name="index"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("healthz", views.healthz, name="healthz"),
    path("api/chats/", api.conversations_view, name="api-conversations"),
    path("api/chats/<int:conversation_id>/", api.conversation_view, name="api-conversation"),
    path("api/chats/<int:conversation_id>/messages/", api.send_message, name="api-send-message"),
    path("api/messages/<int:message_id>/stop/", api.stop, name="api-stop"),
    path("api/messages/<int:message_id>/stream/", api.stream, name="api-stream"),
    path("api/messages/<int:message_id>/regenerate/", api.regenerate, name="api-regenerate"),
    path("api/messages/<int:message_id>/edit/", api.edit, name="api-edit"),
    path("api/diagnostics/stream/", diagnostics.stream, name="api-diagnostics-stream"),
    path("demo/v1/chat/completions", demo.chat_completions, name="demo-chat-completions"),
    path("demo/v1/models", demo.models, name="demo-models"),
]
