"""
WSGI entry point, for tools that need one. Serve the product with ASGI (chatproject.asgi):
under WSGI Django drains a streaming answer into one block before sending it.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

application = get_wsgi_application()
