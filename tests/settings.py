"""Test settings: the product's settings, made fast and self-contained."""

import os

from tests.support import canary

# A developer's own .env (make run writes one) must change nothing here, nor in the servers and
# the settings the tests start in processes of their own, which inherit this.
os.environ["ENV_FILE"] = os.devnull
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "*")
# Nothing in the tests may reach a real provider. The key is a canary: no response, log line
# or saved message may carry it (tests/support/canary.py).
os.environ["OPENAI_API_KEY"] = canary.KEY
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ.setdefault("OPENAI_MODELS", "fake-model,fake-other,demo")
os.environ["OPENAI_MAX_RETRIES"] = "0"

from chatproject.settings import *  # noqa: E402,F403
from chatproject.settings import BASE_DIR, DATABASES, LOGGING, MIDDLEWARE  # noqa: E402

MIDDLEWARE = ["tests.support.canary.middleware", *MIDDLEWARE]
LOGGING["handlers"]["canary"] = {"class": "tests.support.canary.LogHandler", "formatter": "plain"}
LOGGING["root"]["handlers"] = [*LOGGING["root"]["handlers"], "canary"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Servers started by the tests in other processes must see the test database, so SQLite's is a
# file, not the default in-memory one. TEST_DB_SUFFIX keeps parallel runs apart.
if DATABASES["default"]["ENGINE"] in ("django.db.backends.sqlite3", "runtime.sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db{os.environ.get('TEST_DB_SUFFIX', '')}.sqlite3")}
# Static files straight from the source folders, as in development: no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests that want a model-made title turn it on; elsewhere it would take a queued script.
CHAT_AUTO_TITLE = False
SSE_HEARTBEAT_SECONDS = 0.3
CHAT_SAVE_INTERVAL = 0.2
CHAT_STOP_POLL_INTERVAL = 0.1
DEMO_TOKEN_DELAY = 0.002
