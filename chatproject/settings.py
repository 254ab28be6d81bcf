"""
Settings, read from the environment (and an optional `.env` file beside manage.py).

Every variable is listed with a comment in `.env.example`. With nothing set, the project runs
for development: DEBUG on, a SQLite file database and the built-in demo model. With DEBUG off,
start-up refuses to go on without a real SECRET_KEY and ALLOWED_HOSTS.
"""

import re
import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE names another file (the tests use none, so that a developer's .env changes nothing).
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))

# Off unless set: Django's debug pages show the settings, the URL patterns and tracebacks to
# whoever reaches the port. DEBUG=true in .env for development on your own computer.
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: `make run` writes a random one into .env, or put a long random "
            "string there yourself (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = "django-insecure-development-only-key"
# Earlier keys, still accepted for sessions and signatures (and for the stored API keys, unless
# ENCRYPTION_KEY is set) while a new SECRET_KEY takes over.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Only loopback names unless set: the site answers nobody who reaches it by another name
# (400) until its domain is here (`manage.py check --deploy` says so: chat.W003).
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[]) or ["localhost", "127.0.0.1", "[::1]"]
# The server calls itself on loopback (the demo model), and a panel's monitor checks /healthz
# there, whatever public name the site has.
ALLOWED_HOSTS += [host for host in ("127.0.0.1", "localhost", "[::1]") if host not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "chat",
]

# Django's stock middleware is synchronous (WhiteNoise's only so). The last one here is sync-only
# too, so Django runs the whole chain as one synchronous pass in the request's thread, with one
# thread hop in and one to the async views, instead of a hop for every hook of every middleware
# (chat/middleware.py).
MIDDLEWARE = [
    "chat.middleware.content_security_policy",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a refused login into the lockout page (chat.accounts.lockout_response). Inside
    # private_responses, so that the page is as uncacheable as the others.
    "axes.middleware.AxesMiddleware",
    "chat.middleware.private_responses",
]

ROOT_URLCONF = "chatproject.urls"
WSGI_APPLICATION = "chatproject.wsgi.application"
ASGI_APPLICATION = "chatproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chat.branding.site",
                "chat.profiles.context",
            ],
        },
    },
]

# Databases. DATABASE_URL picks the engine: sqlite:///path, postgres://..., mysql://...
# An empty DATABASE_URL (as a .env copied from .env.example may have) means the default.
DATABASES = {
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
_db = DATABASES["default"]
# Under ASGI every request runs in its own thread, so persistent connections would pile up;
# Django's docs ask for CONN_MAX_AGE = 0 there and a pool in the backend instead.
_db["CONN_MAX_AGE"] = 0
_db["CONN_HEALTH_CHECKS"] = False
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers go on while a stream saves its answer; IMMEDIATE makes writers
            # queue for the lock instead of failing with "database is locked" mid-transaction.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_TIMEOUT", default=20),
        }
    )
    if env.bool("DATABASE_POOL", default=True):
        # Django's backend with a pool of open connections (runtime/sqlite3/base.py).
        _db["ENGINE"] = "runtime.sqlite3"
        _db["OPTIONS"]["pool"] = {"max_size": env.int("DATABASE_POOL_MAX", default=8)}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=True):
        # django-environ cannot express the pool in the URL.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=1),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=30),
        }
elif _db["ENGINE"] == "django.db.backends.mysql":
    # PyMySQL is pure Python, so it installs on any server without MySQL headers or a compiler.
    # Django checks the version of the mysqlclient API it stands in for.
    import pymysql

    pymysql.version_info = (2, 2, 1, "final", 0)
    pymysql.install_as_MySQLdb()
    _db.setdefault("OPTIONS", {}).update({"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"})
    _db.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})

# Threads per process that run the database work of requests and answers (runtime/database.py).
# 0: one on SQLite, which lets one writer in at a time; ten on PostgreSQL and MySQL.
try:
    DATABASE_THREADS = max(int(env.str("DATABASE_THREADS", default="") or 0), 0)
except ValueError:
    raise ImproperlyConfigured("DATABASE_THREADS must be a whole number (or empty for the default).") from None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=False)
# With sign-up on: new accounts wait for a staff member to activate them in the admin.
SIGNUP_REQUIRES_APPROVAL = env.bool("SIGNUP_REQUIRES_APPROVAL", default=False)
# With sign-up on and codes listed: signing up needs one of them.
SIGNUP_INVITE_CODES = env.list("SIGNUP_INVITE_CODES", default=[])
# Failed logins tolerated for a username, or from an IP address, within LOGIN_LOCKOUT_MINUTES;
# past them, logging in is refused until the lockout ends, even with the right password.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
if LOGIN_FAILURE_LIMIT < 0 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT must be 0 or more (0: no throttling) and LOGIN_LOCKOUT_MINUTES 1 or more."
    )
# How many proxies in front of the app append the client's address to X-Forwarded-For (behind
# nginx: 1). 0: the header is ignored, since a client can send any; failed logins are counted
# against the address of the connection, which behind a proxy is the proxy's, everyone's.
LOGIN_TRUSTED_PROXY_COUNT = env.int("LOGIN_TRUSTED_PROXY_COUNT", default=0)

# Login throttling by django-axes, from the settings above. The login form asks the first
# backend, which refuses during a lockout whatever the password; the admin's login too.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = LOGIN_LOCKOUT_MINUTES / 60  # hours, as axes reads a float
# Either locks: a username from anywhere, an address whatever usernames it tries.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Attempts refused during a lockout do not prolong it, so that the time the page gives is true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Off: a successful login would clear the failures of its address too, those against other
# usernames included, so an attacker with an account of their own could reset the count.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "chat.accounts.client_ip"
AXES_LOCKOUT_CALLABLE = "chat.accounts.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# Failures only: a row for every successful login (address, browser) would grow for ever and
# is not what a lockout needs.
AXES_DISABLE_ACCESS_LOG = True
# Masked in the attempts' stored form data and in axes' log lines, as the password always is.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

# Password reset by e-mail, only with a mail server: EMAIL_URL such as
# smtp+tls://user:password@smtp.example.com:587 (or smtps://…:465; consolemail:// prints the
# mails, for development). Empty: no reset links are shown and the reset pages are 404.
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="") or "webmaster@localhost"
# Mails about passwords must not wait for ever on a mail server that does not answer.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# Branding (chat.branding): the name in the pages' titles and headings (empty: "Chat", in the
# page's language), an optional short notice such as the terms of use, shown on the login and
# sign-up pages and under the chat's sidebar, and an optional logo, served by this site (the
# pages load images from their own origin only).
SITE_NAME = env.str("SITE_NAME", default="")
SITE_NOTICE = env.str("SITE_NOTICE", default="")
SITE_LOGO_URL = env.str("SITE_LOGO_URL", default="")

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic puts the files WhiteNoise serves (and nginx may, see deploy/nginx/).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "chat.staticfiles.ModuleImportsManifestStorage"},
}
# Uploaded files (chat/files.py: attachments) go to the `default` storage: the filesystem
# under MEDIA_ROOT unless STORAGES names another backend (django-storages: S3, Aliyun OSS...).
# They are never served from a public URL: GET /api/files/<id>/ checks whose they are.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "media")
# In development, serve static files from the source folders without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise answers with a file iterator, which Django's ASGI handler reads in a thread and
# says so once per process. Static files are small; every stream of the product is async.
warnings.filterwarnings(
    "ignore", "StreamingHttpResponse must consume synchronous iterators", Warning, "django.core.handlers.asgi"
)

# Security. Behind nginx terminating TLS, set SECURE_PROXY_SSL_HEADER=true so Django trusts
# X-Forwarded-Proto from it; the secure-cookie and HSTS knobs follow.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Loopback callers speak plain HTTP: the demo model's relay and health monitors.
SECURE_REDIRECT_EXEMPT = [r"^demo/", r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
X_FRAME_OPTIONS = "DENY"
# Checks an operator has decided about, e.g. security.W021 (HSTS preload list, a separate and
# hard-to-undo commitment), so that `check --deploy` stays clean for the rest.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
CSRF_FAILURE_VIEW = "chat.views.csrf_failure"

# Error reports hide every URL setting too: a URL may carry a password (chat/reports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "chat.reports.ExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line, tracebacks included, without the API keys in any spelling (chat/redaction.py).
    "formatters": {
        "plain": {"()": "chat.redaction.RedactingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "chat": {"level": env.str("CHAT_LOG_LEVEL", default="INFO"), "propagate": True},
    },
}

# --- The chat product ---------------------------------------------------------------------

# Providers and their models are data, edited in the admin (docs/providers.md). These define
# some from the environment as well; the admin shows them, and they are restored from here at
# every start. The first: any OpenAI-compatible provider (OpenAI, DeepSeek, Qwen, Ollama...).
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
# Its name in the admin and in model ids (default: from the base URL's host, chat.catalogue).
OPENAI_PROVIDER_NAME = env.str("OPENAI_PROVIDER_NAME", default="")
# "demo" is the built-in offline model; it is offered when no provider is configured.
_provider_configured = bool(OPENAI_API_KEY or OPENAI_BASE_URL)
# Empty (as in a .env copied from .env.example) means the default, like unset.
OPENAI_MODELS = env.list("OPENAI_MODELS", default=[]) or (["gpt-4o-mini"] if _provider_configured else ["demo"])
# Which of them take images, and which reason ("think") before they answer.
OPENAI_VISION_MODELS = env.list("OPENAI_VISION_MODELS", default=[])
OPENAI_REASONING_MODELS = env.list("OPENAI_REASONING_MODELS", default=[])


def _provider_from_env(name):
    prefix = re.sub(r"[^A-Z0-9]", "_", name.upper())
    return {
        "name": name,
        "base_url": env.str(f"{prefix}_BASE_URL", default=""),
        "api_key": env.str(f"{prefix}_API_KEY", default=""),
        "models": env.list(f"{prefix}_MODELS", default=[]),
        "vision_models": env.list(f"{prefix}_VISION_MODELS", default=[]),
        "reasoning_models": env.list(f"{prefix}_REASONING_MODELS", default=[]),
        "headers": env.json(f"{prefix}_HEADERS", default={}),
    }


# More providers: PROVIDERS=deepseek,qwen reads DEEPSEEK_BASE_URL, DEEPSEEK_API_KEY,
# DEEPSEEK_MODELS (and _VISION_MODELS, _REASONING_MODELS, _HEADERS), then QWEN_...
PROVIDERS = [_provider_from_env(name) for name in env.list("PROVIDERS", default=[]) if name.strip()]
_models_from_env = {model for p in [{"models": OPENAI_MODELS}, *PROVIDERS] for model in p["models"]}
# Any provider's model; `<provider>/<name>` names one that two providers offer.
OPENAI_DEFAULT_MODEL = env.str("OPENAI_DEFAULT_MODEL", default="") or OPENAI_MODELS[0]
if OPENAI_DEFAULT_MODEL not in _models_from_env and OPENAI_DEFAULT_MODEL.partition("/")[2] not in _models_from_env:
    raise ImproperlyConfigured(f"OPENAI_DEFAULT_MODEL={OPENAI_DEFAULT_MODEL!r} is not in OPENAI_MODELS.")
# The model asked for conversation titles: a cheap, fast one (default: the conversation's).
CHAT_TITLE_MODEL = env.str("CHAT_TITLE_MODEL", default="")
# The currency of the models' prices (per million tokens), set in the admin.
CHAT_CURRENCY = env.str("CHAT_CURRENCY", default="USD")
# The providers' API keys entered in the admin are stored encrypted with this (default: one
# derived from SECRET_KEY). To change it, keep the old one among the fallbacks until
# `manage.py rotate_encryption_key` has re-encrypted them (docs/providers.md).
ENCRYPTION_KEY = env.str("ENCRYPTION_KEY", default="")
ENCRYPTION_KEY_FALLBACKS = env.list("ENCRYPTION_KEY_FALLBACKS", default=[])
OPENAI_CONNECT_TIMEOUT = env.float("OPENAI_CONNECT_TIMEOUT", default=10.0)
# The longest silence tolerated from the provider, before the first token or between two (a
# silence mid-answer is noticed within a quarter of this after it: chat.upstream.StallWatch).
OPENAI_READ_TIMEOUT = env.float("OPENAI_READ_TIMEOUT", default=300.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=1)

CHAT_MAX_TOKENS = env.int("CHAT_MAX_TOKENS", default=0)  # 0: let the provider decide
# Fair use, per user (0: no limit), overridden per user or group in the admin (Allowances):
# messages sent per minute, answers generating at once, and tokens (prompt and completion)
# per day and per calendar month in TIME_ZONE.
CHAT_RATE_LIMIT = env.int("CHAT_RATE_LIMIT", default=0)
CHAT_MAX_STREAMS_PER_USER = env.int("CHAT_MAX_STREAMS_PER_USER", default=0)
CHAT_DAILY_TOKEN_QUOTA = env.int("CHAT_DAILY_TOKEN_QUOTA", default=0)
CHAT_MONTHLY_TOKEN_QUOTA = env.int("CHAT_MONTHLY_TOKEN_QUOTA", default=0)
# Off: conversations held through the OpenAI-compatible API (/v1/) are not kept (their
# usage still counts).
CHAT_API_SAVES_HISTORY = env.bool("CHAT_API_SAVES_HISTORY", default=True)
# Off: staff see the conversations' metadata and usage in the admin, not what was said.
CHAT_ADMIN_SHOWS_CONTENT = env.bool("CHAT_ADMIN_SHOWS_CONTENT", default=True)
CHAT_MAX_PROMPT_CHARS = env.int("CHAT_MAX_PROMPT_CHARS", default=32000)
CHAT_MAX_SYSTEM_PROMPT_CHARS = env.int("CHAT_MAX_SYSTEM_PROMPT_CHARS", default=8000)
# How much of the earlier conversation goes upstream with each turn, newest first.
CHAT_HISTORY_CHARS = env.int("CHAT_HISTORY_CHARS", default=24000)
CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", default=40)
# Ask the model for a short title after the first message (else: the message's first words).
CHAT_AUTO_TITLE = env.bool("CHAT_AUTO_TITLE", default=True)
# Title requests each server process makes at once; the others wait, so that a burst of new
# chats in the morning does not slow the answers down (they come a little later instead).
CHAT_TITLE_CONCURRENCY = env.int("CHAT_TITLE_CONCURRENCY", default=4)
CHAT_PAGE_SIZE = env.int("CHAT_PAGE_SIZE", default=50)
# The largest file POST /api/import/ reads (an export's JSON, or its zip), in MB; nginx's
# client_max_body_size for /api/import/ (deploy/nginx/chat.conf) must be at least as large.
CHAT_MAX_IMPORT_MB = env.int("CHAT_MAX_IMPORT_MB", default=50)
# Attachments (chat/files.py): the largest file a person may upload, in MB (nginx's
# client_max_body_size for /api/files/, deploy/nginx/chat.conf, must be a little larger); the
# longest side of an image once re-encoded, in pixels; the files one message takes; what all
# of a person's files may take, in MB (0: no limit).
CHAT_MAX_UPLOAD_MB = env.int("CHAT_MAX_UPLOAD_MB", default=10)
CHAT_IMAGE_MAX_SIDE = env.int("CHAT_IMAGE_MAX_SIDE", default=2048)
CHAT_MAX_FILES_PER_MESSAGE = env.int("CHAT_MAX_FILES_PER_MESSAGE", default=10)
CHAT_STORAGE_QUOTA_MB = env.int("CHAT_STORAGE_QUOTA_MB", default=200)
# With nginx in front and files on the filesystem: the internal location that serves
# MEDIA_ROOT (e.g. /protected-files/, deploy/nginx/chat.conf); the app checks the owner and
# nginx sends the bytes (X-Accel-Redirect). Empty: the app sends them itself.
CHAT_FILES_ACCEL_REDIRECT = env.str("CHAT_FILES_ACCEL_REDIRECT", default="")
# The request bodies the server reads (runtime/asgi.py): Django's DATA_UPLOAD_MAX_MEMORY_SIZE
# (2.5 MB), but for the paths that take files, their limit and a megabyte for the form around
# it, so that a file a little over the limit is told so by the app (413, in words).
UPLOAD_BODY_LIMITS = {
    "/api/files/": (CHAT_MAX_UPLOAD_MB + 1) * 1024 * 1024,
    "/api/import/": (CHAT_MAX_IMPORT_MB + 1) * 1024 * 1024,
}
# An answer keeps being generated when the browser goes away, unless this is on.
CHAT_STOP_ON_DISCONNECT = env.bool("CHAT_STOP_ON_DISCONNECT", default=False)
# How often a generating answer's partial text is saved, and stop requests from other
# processes are noticed.
CHAT_SAVE_INTERVAL = env.float("CHAT_SAVE_INTERVAL", default=1.0)
CHAT_STOP_POLL_INTERVAL = env.float("CHAT_STOP_POLL_INTERVAL", default=0.5)
# An answer still marked streaming that its process has not refreshed for this long was left
# by a process that died; it is marked interrupted (and can be retried).
CHAT_ABANDONED_SECONDS = env.float("CHAT_ABANDONED_SECONDS", default=30.0)
# On shutdown (SIGTERM, a graceful restart), how long answers in flight may take to finish
# before they are saved as far as they got. Keep it below gunicorn's graceful timeout.
CHAT_DRAIN_SECONDS = env.float("CHAT_DRAIN_SECONDS", default=90.0)
# Optional, with several server processes: a stop request or a stream that lands on another
# process than the one generating the answer reaches it at once through Redis pub/sub,
# instead of through the database a moment later. E.g. redis://127.0.0.1:6379/0
REDIS_URL = env.str("REDIS_URL", default="")
# Prefix of this site's Redis channel names, so that several sites can share one Redis.
REDIS_PREFIX = env.str("REDIS_PREFIX", default="chat:")
# A comment line sent while the model is silent, so proxies (nginx: proxy_read_timeout 60s
# on BaoTa) do not cut the stream.
SSE_HEARTBEAT_SECONDS = env.float("SSE_HEARTBEAT_SECONDS", default=15.0)
# Seconds between two tokens of the built-in demo model.
DEMO_TOKEN_DELAY = env.float("DEMO_TOKEN_DELAY", default=0.03)
