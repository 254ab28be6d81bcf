from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        # Registers the project's system checks (manage.py check --deploy, manage.py doctor),
        # connects the rebuilding of the models offered to the saves of providers and models,
        # and the removal of an attachment's stored file to the deletion of its row.
        from chat import catalogue, checks, files  # noqa: F401
