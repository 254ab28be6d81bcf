from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        # Registers the project's system checks (manage.py check --deploy, manage.py doctor).
        from chat import checks  # noqa: F401
