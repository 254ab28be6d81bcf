"""
ASGI entry point: `gunicorn -c gunicorn.conf.py` (uvicorn workers) serves this.

Django does not speak the ASGI lifespan protocol, so a thin wrapper answers it: at start-up it
marks answers left half-written by a killed process as interrupted, and on shutdown it lets the
answers still being generated in this process finish (or saves them as far as they got).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

django_application = get_asgi_application()

from chat.lifespan import LifespanMiddleware  # noqa: E402  (needs the app registry)

application = LifespanMiddleware(django_application)
