from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        # Registers the project's system checks (manage.py check --deploy, manage.py doctor),
        # and connects the rebuilding of the models offered to the saves of providers and models.
        from chat import catalogue, checks  # noqa: F401
