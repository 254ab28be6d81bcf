"""Gunicorn settings for chatproject: Django ASGI app served by uvicorn workers.

Run from the project root as `.venv/bin/gunicorn -c gunicorn.conf.py` (this is
what `make serve`, deploy/systemd/chat.service and deploy/supervisor/chat.conf
do). Every value below can be changed with an environment variable. A variable
not set in the environment is also looked up in the project's `.env`, read by
django-environ as the Django settings read it, so one file configures both.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent

# The same reader as chatproject/settings.py, so .env means the same to both. Variables
# already in the environment win over the file.
environ.Env.read_env(BASE_DIR / ".env")
env = environ.Env()


def _env(name, default=None):
    # An empty value (`WEB_CONCURRENCY=` as in .env.example) means "the default".
    return env.str(name, default="") or default


def _env_int(name, default):
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


# The app. Django's ASGI entry point, run by uvicorn inside gunicorn workers.
wsgi_app = "chatproject.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
# Import paths are relative to the project, whatever directory we started in.
chdir = str(BASE_DIR)
# Keep preload off: `kill -HUP` (systemctl reload) then starts workers that
# import the new code, while old workers finish their streams.
preload_app = False

# Listen on loopback only; nginx is the public side. Never expose this port.
# GUNICORN_BIND may list several addresses, comma-separated (or unix:/path).
_port = _env("PORT")
bind = [b.strip() for b in (_env("GUNICORN_BIND") or f"127.0.0.1:{_port or 8000}").split(",") if b.strip()]

# Each worker is one process with one event loop that serves many concurrent
# streams, so workers buy CPU parallelism and resilience, not more streams.
# Each costs a full Django's memory. Capped at cores * 2 + 1.
try:
    _cores = len(os.sched_getaffinity(0))
except AttributeError:
    _cores = os.cpu_count() or 1
workers = max(1, min(_env_int("WEB_CONCURRENCY", 2), _cores * 2 + 1))

# Worker heartbeat timeout. For an ASGI worker it is NOT a request time limit:
# the event loop reports in every timeout/2 seconds while it runs, so a
# minutes-long stream is fine. A worker is killed only if its loop is blocked
# (sync code called without sync_to_async, a stuck C call) for this long.
timeout = _env_int("GUNICORN_TIMEOUT", 120)
# On SIGTERM (stop) or SIGHUP (reload), workers stop accepting connections and
# get this long to finish in-flight answers before being killed. systemd's
# TimeoutStopSec / Supervisor's stopwaitsecs must be a little longer.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 120)
# Idle keep-alive seconds. nginx's upstream keepalive_timeout must be shorter.
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Recycle a worker after this many requests (0 = never); jitter staggers it.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10

# Logs: access log to stdout, errors to stderr, so journald/Supervisor catch
# them. GUNICORN_ACCESSLOG may be a file path, or "off" to disable.
_accesslog = _env("GUNICORN_ACCESSLOG", "-")
accesslog = None if _accesslog.lower() in ("off", "none", "false", "0") else _accesslog
errorlog = "-"

# Proxy headers: UvicornWorker always runs uvicorn with proxy_headers on, and
# takes X-Forwarded-Proto / X-Forwarded-For (client IP in the access log and
# REMOTE_ADDR) only from these addresses: nginx on the same host by default.
# Comma-separated IPs or CIDRs. Never "*" unless the port is unreachable.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Gunicorn >= 25 opens a control socket for `gunicornc` in $HOME/.gunicorn,
# shared by all gunicorns of one user and often not writable (BaoTa's www).
# Not used here. Older gunicorn versions ignore this name.
control_socket_disable = True
