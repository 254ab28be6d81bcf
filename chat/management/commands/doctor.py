"""
`python manage.py doctor [URL]`: is this installation ready to serve people?

It checks the settings (the system checks of `check --deploy`, with the project's own in
chat/checks.py: the key, the host names, the static files), the database and the model
provider; given the site's public URL, it fetches a test stream (chat.diagnostics) through
everything between the browser and the app (nginx, the BaoTa panel's proxy, a CDN) and tells
whether the stream arrives piece by piece, survives a silence, and whether a cache stores
pages. Every problem comes with the line to change. The exit status is 1 when a problem was found.
"""

import http.client
import socket
import ssl
import time
import zlib
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from chat import catalogue, diagnostics, providers, sse
from chat import checks as project_checks
from chat.models import Provider
from chat.redaction import redact

SNIPPET = "deploy/nginx/baota-proxy-snippet.conf"

FIX_BUFFERING = (
    "Something between the browser and the app holds the stream back. In nginx, put "
    "`proxy_buffering off;` and `proxy_cache off;` in the `location /api/` block (see "
    "deploy/nginx/chat.conf) and do not list X-Accel-Buffering in proxy_ignore_headers. "
    f"BaoTa: switch the site's reverse-proxy cache off and paste {SNIPPET}. "
    "Behind a CDN or a WAF: exempt /api/ from caching and buffering."
)
FIX_COMPRESSION = (
    "Compression holds the stream back: add `gzip off;` to the `location /api/` block (see "
    "deploy/nginx/chat.conf), or take text/event-stream out of gzip_types, and "
    "`proxy_buffering off;` there too. "
    f"BaoTa: paste {SNIPPET}. A CDN: turn compression off for /api/."
)


# What is right when none of these system checks has anything to say (with DEBUG off).
SETTLED = (
    ({"security.W009", "chat.E001"}, lambda: "SECRET_KEY is set"),
    (
        {"security.W020", "chat.W002", "chat.W003"},
        lambda: f"ALLOWED_HOSTS: {', '.join(project_checks.public_hosts())}",
    ),
    ({"chat.E004"}, lambda: f"static files collected in {settings.STATIC_ROOT}"),
)
# Django only warns about a weak SECRET_KEY; a server must not run with one.
DOCTOR_FAILS = {"security.W009"}
# The line to set for Django's deployment checks that come without a hint.
ONCE_HTTPS_WORKS = "in .env once the site works over https:// (docs/deploy.md)."
DJANGO_FIXES = {
    "security.W004": f"SECURE_HSTS_SECONDS=300, then 31536000, {ONCE_HTTPS_WORKS}",
    "security.W005": "SECURE_HSTS_INCLUDE_SUBDOMAINS=true in .env.",
    "security.W008": f"SECURE_SSL_REDIRECT=true {ONCE_HTTPS_WORKS}",
    "security.W012": f"SESSION_COOKIE_SECURE=true {ONCE_HTTPS_WORKS}",
    "security.W016": f"CSRF_COOKIE_SECURE=true {ONCE_HTTPS_WORKS}",
    "security.W021": "SILENCED_SYSTEM_CHECKS=security.W021 in .env, unless you mean to join the browsers' "
    "HSTS preload list (SECURE_HSTS_PRELOAD=true).",
}


def explain(message):
    """The text and the fix doctor prints for a system check's message."""
    if message.id == "security.W009":
        key = settings.SECRET_KEY
        if key.startswith("django-insecure-"):
            text = "SECRET_KEY is a development key (it starts with django-insecure-)."
        else:
            text = f"SECRET_KEY is too short or too simple ({len(key)} characters; use 50 or more, random)."
        return text, project_checks.NEW_SECRET_KEY
    return message.msg, message.hint or DJANGO_FIXES.get(message.id)


class Report:
    """doctor's output: every line without secrets (an API key, a password in a URL)."""

    def __init__(self, command):
        self.command = command
        self.problems = 0
        self.warnings = 0

    def write(self, line):
        self.command.stdout.write(redact(line))

    def section(self, title):
        self.write(f"\n{title}")

    def ok(self, text):
        self.write(f"  {self.command.style.SUCCESS('ok  ')}  {text}")

    def info(self, text):
        self.write(f"        {text}")

    def warn(self, text, fix=None):
        self.warnings += 1
        self.write(f"  {self.command.style.WARNING('WARN')}  {text}")
        if fix:
            self.write(f"        Fix: {fix}")

    def fail(self, text, fix=None):
        self.problems += 1
        self.write(f"  {self.command.style.ERROR('FAIL')}  {text}")
        if fix:
            self.write(f"        Fix: {fix}")


class Command(BaseCommand):
    help = (
        "Check the settings, the database and the model provider; given the site's public URL "
        "(https://chat.example.com), also check that answers stream through the proxy."
    )

    # The system checks run inside check_settings, reported like the others, and with the
    # database out of them, so that an unreachable database is reported rather than fatal.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("url", nargs="?", help="the address people open, e.g. https://chat.example.com")
        parser.add_argument(
            "--silence",
            type=float,
            default=None,
            help="seconds the test stream stays silent (heartbeats only) to see that the proxy keeps it "
            "open; default: two heartbeats and a bit (SSE_HEARTBEAT_SECONDS * 2 + 1), 0 to skip",
        )
        parser.add_argument("--ticks", type=int, default=10, help="events in the test stream (default 10)")
        parser.add_argument("--skip-provider", action="store_true", help="do not contact the model provider")

    def handle(self, *args, url=None, silence=None, ticks=10, skip_provider=False, **options):
        report = Report(self)
        if url and "://" not in url:
            url = "https://" + url
        self.check_settings(report, url)
        self.check_database(report)
        if not skip_provider:
            self.check_provider(report)
        if url:
            if silence is None:
                silence = min(settings.SSE_HEARTBEAT_SECONDS * 2 + 1, diagnostics.MAX_SILENCE)
            ticks = max(2, min(ticks, diagnostics.MAX_TICKS))
            silence = max(0.0, min(silence, diagnostics.MAX_SILENCE))
            self.check_stream(report, url, ticks, silence)
            self.check_page_cache(report, url)
        self.stdout.write("")
        if report.problems:
            raise CommandError(f"{report.problems} problem(s), {report.warnings} warning(s). Fix the FAIL lines above.")
        self.stdout.write(self.style.SUCCESS(f"No problems found ({report.warnings} warning(s))."))

    # --- Settings -----------------------------------------------------------------------------

    def check_settings(self, report, url):
        report.section("Settings")
        if settings.DEBUG:
            report.warn(
                "DEBUG is on: fine on your own computer, never on a public server (it shows error details).",
                "DEBUG=false in .env, then restart.",
            )
        else:
            report.ok("DEBUG is off")
        self._run_system_checks(report)
        if url:
            self._check_settings_for_url(report, url)

    def _run_system_checks(self, report):
        """
        The system checks, Django's and the project's (chat/checks.py), each problem with its fix:
        with DEBUG off all of `check --deploy`. With DEBUG on, on your own computer, Django's
        deployment checks would mostly tell what is expected there; the project's are told, as
        warnings, so that none comes as a surprise on the server.
        """
        deploy = not settings.DEBUG
        try:
            messages = checks.run_checks(include_deployment_checks=deploy)
        except DatabaseError:
            report.warn("Some of Django's system checks were skipped: they need the database (see Database below).")
            messages = checks.run_checks(
                tags=[checks.Tags.security, project_checks.TAG], include_deployment_checks=deploy
            )
        except Exception as exc:
            report.fail(f"Django's system checks could not run: {type(exc).__name__}: {exc}")
            return
        for_later = []
        if not deploy:
            for_later = [
                m
                for m in checks.run_checks(tags=[project_checks.TAG], include_deployment_checks=True)
                if m not in messages
            ]
        messages = [m for m in messages + for_later if m.level >= checks.WARNING]
        found = {m.id for m in messages}
        if deploy:
            for ids, settled in SETTLED:
                if not found & ids:
                    report.ok(settled())
        silenced = sorted({m.id for m in messages if m.is_silenced()})
        if silenced:
            report.ok(f"silenced in SILENCED_SYSTEM_CHECKS: {', '.join(silenced)}")
        if "chat.E001" in found:
            # Django's security.W009 says it too, less precisely.
            messages = [m for m in messages if m.id != "security.W009"]

        def serious(message):
            return message not in for_later and (message.is_serious() or message.id in DOCTOR_FAILS)

        shown = sorted((m for m in messages if not m.is_silenced()), key=lambda m: (not serious(m), m.id))
        for message in shown:
            text, fix = explain(message)
            (report.fail if serious(message) else report.warn)(f"{text} ({message.id})", fix)
        if not shown:
            report.ok("Django's system checks" + ("" if settings.DEBUG else " and deployment checks") + " pass")

    def _check_settings_for_url(self, report, url):
        """What the settings must be for the address people open."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not validate_host(host, settings.ALLOWED_HOSTS):
            report.fail(
                f"{host} is not in ALLOWED_HOSTS: the app answers 400 Bad Request there.",
                f"ALLOWED_HOSTS={','.join([*project_checks.public_hosts(), host])} in .env, then restart.",
            )
        if parts.scheme == "https":
            if not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
                report.fail(
                    "The site is HTTPS but the app does not trust the proxy's X-Forwarded-Proto: log-in "
                    'fails with "CSRF verification failed" and SECURE_SSL_REDIRECT would loop.',
                    "SECURE_PROXY_SSL_HEADER=true in .env, and in nginx `proxy_set_header X-Forwarded-Proto $scheme;`.",
                )
            if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
                report.warn(
                    "Cookies are not marked Secure although the site is HTTPS.",
                    "SESSION_COOKIE_SECURE=true and CSRF_COOKIE_SECURE=true in .env.",
                )
        elif host not in project_checks.LOOPBACK_HOSTS:
            report.warn(
                "The site is plain HTTP: passwords and conversations cross the network unencrypted.",
                "Get a certificate (BaoTa: site → SSL → Let's Encrypt; else certbot) and use https://.",
            )

    # --- Database -------------------------------------------------------------------------------

    def check_database(self, report):
        report.section("Database")
        vendor = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}.get(
            connection.vendor, connection.vendor
        )
        db = connection.settings_dict
        where = (
            db["NAME"] if connection.vendor == "sqlite" else f"{db['HOST'] or 'localhost'}:{db['PORT']}/{db['NAME']}"
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            report.fail(
                f"{vendor} at {where} is unreachable: {type(exc).__name__}: {str(exc).strip()[:300]}",
                "Check DATABASE_URL in .env (user, password, host, port, database name) and that the "
                "database server is running.",
            )
            return
        report.ok(f"{vendor} at {where} answers")
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:
            report.fail(f"Could not read the migrations: {exc}")
            return
        if pending:
            report.fail(f"{len(pending)} migration(s) not applied.", "python manage.py migrate")
        else:
            report.ok("all migrations applied")
        if connection.vendor == "mysql":
            self._check_mysql_charset(report)
        elif connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_encoding")
                encoding = cursor.fetchone()[0]
            if encoding.upper() not in ("UTF8", "UTF-8"):
                report.fail(
                    f"The database's encoding is {encoding}: Chinese text and emoji cannot be stored.",
                    "Create the database with ENCODING 'UTF8' (createdb -E UTF8 ...) and migrate again.",
                )
            pool = db.get("OPTIONS", {}).get("pool")
            if pool:
                size = pool.get("max_size", "?") if isinstance(pool, dict) else "?"
                report.ok(f"encoding {encoding}; connection pool on (at most {size} connections)")
            else:
                report.ok(f"encoding {encoding}")

    def _check_mysql_charset(self, report):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_collation FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'chat_message'"
            )
            row = cursor.fetchone()
            if row is None:
                cursor.execute("SELECT @@character_set_database")
                charset = cursor.fetchone()[0]
            else:
                charset = (row[0] or "").split("_", 1)[0]
        if charset != "utf8mb4":
            report.fail(
                f"The chat tables use {charset}, not utf8mb4: emoji (and some Chinese characters) cannot be saved.",
                'Convert the database to utf8mb4 (docs/deploy.md, Troubleshooting: "Incorrect string value").',
            )
        else:
            report.ok("character set utf8mb4 (emoji and all Chinese characters)")

    # --- Model provider -------------------------------------------------------------------------

    def check_provider(self, report):
        offers = catalogue.current()
        enabled = list(Provider.objects.filter(enabled=True))
        if not enabled:
            report.section("Model provider")
        if any(offer.is_demo for offer in offers.offers):
            if enabled:
                report.section("Built-in")
            report.ok("demo: the built-in offline model")
        if not enabled:
            report.warn(
                "Only the demo model is offered: it does not understand messages.",
                "Set OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODELS in .env, or add a provider "
                "in the admin (docs/providers.md).",
            )
            return
        if settings.CHAT_TITLE_MODEL and offers.find(settings.CHAT_TITLE_MODEL) is None:
            report.warn(
                f"CHAT_TITLE_MODEL={settings.CHAT_TITLE_MODEL} is not offered: titles are asked of each "
                "conversation's own model.",
                f"CHAT_TITLE_MODEL= one of: {', '.join(offers.ids)}.",
            )
        for provider in enabled:
            origin = "from .env" if provider.from_environment else "from the admin"
            report.section(f"Model provider {provider.name} ({provider.base_url}, {origin})")
            if not providers.api_key(provider) and provider.base_url == catalogue.OPENAI_URL:
                report.fail("No API key for OpenAI.", providers.where_to_fix(provider))
                continue
            for finding in providers.check(provider):
                if finding.ok:
                    report.ok(finding.text)
                else:
                    report.fail(finding.text, finding.fix)

    # --- Through the public URL -----------------------------------------------------------------

    def check_stream(self, report, url, ticks, silence):
        report.section(f"Streaming through {url}")
        report.info(
            f"Fetching a test stream: {ticks} events {diagnostics.TICK_SECONDS} s apart, then {silence:g} s of silence."
        )
        query = {"ticks": ticks, "silence": f"{silence:g}", "token": diagnostics.token()}
        path = reverse("chat:api-diagnostics-stream") + "?" + urlencode(query)
        try:
            result = fetch_stream(url, path, timeout=max(30.0, silence + settings.SSE_HEARTBEAT_SECONDS + 15))
        except (OSError, http.client.HTTPException) as exc:
            report.fail(f"Could not connect: {describe_connect_error(exc)}", connect_fix(exc))
            return
        if result.status != 200:
            report.fail(*status_problem(result))
            return
        content_type = result.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            report.fail(
                f"The answer is not the app's test stream (Content-Type: {content_type or 'none'}).",
                "Make sure the URL reaches this app: nginx `proxy_pass http://127.0.0.1:8000;` for "
                "`location /api/` (and `location /`).",
            )
            return
        encoding = result.headers.get("content-encoding", "")
        if result.undecodable:
            report.fail(
                f"The stream is compressed with {encoding}, which is not needed for a stream and often holds it back.",
                FIX_COMPRESSION,
            )
            return
        names = [event.name for event in result.events]
        if "hello" not in names:
            report.fail("The test stream ended before its first event.", FIX_BUFFERING)
            return
        hello = next(event for event in result.events if event.name == "hello")
        self._check_what_the_app_saw(report, url, hello.data)

        tick_times = [event.at for event in result.events if event.name == "tick"]
        hello_at = hello.at
        if len(tick_times) == ticks:
            spread = tick_times[-1] - hello_at
            expected = ticks * diagnostics.TICK_SECONDS
            if spread < expected * 0.5:
                report.fail(
                    f"Buffered: the {ticks} events, sent over {expected:.1f} s, arrived together "
                    f"(within {spread:.2f} s){' in a compressed (' + encoding + ') response' if encoding else ''}. "
                    "Answers would appear all at once at the end.",
                    FIX_COMPRESSION if encoding else FIX_BUFFERING,
                )
            else:
                report.ok(f"arrives piece by piece: {ticks} events over {spread:.1f} s, as sent")
                if encoding:
                    report.warn(
                        f"The stream is compressed ({encoding}); it arrived in time, but compression is better off "
                        "for streams.",
                        "`gzip off;` in the `location /api/` block.",
                    )
        if "done" in names:
            if silence:
                report.ok(
                    f"stays open through {silence:g} s of silence ({len(result.comments)} heartbeat(s) "
                    f"every {settings.SSE_HEARTBEAT_SECONDS:g} s)"
                )
            return
        last_data = max([event.at for event in result.events] + [at for _, at in result.comments])
        quiet = result.ended_at - last_data
        if len(tick_times) < ticks:
            report.fail(
                f"The connection was closed {result.ended_at - result.started_at:.1f} s into the stream, "
                f"after {len(tick_times)} of {ticks} events ({result.end_reason}).",
                "Look at the proxy's error log (nginx: error.log) for this request.",
            )
        else:
            report.fail(
                f"Cut during the silence: the stream was closed after {quiet:.1f} s without data "
                f"({result.end_reason}). Answers of models that think for a while would be cut off.",
                "In nginx, `proxy_read_timeout 3600s;` in the `location /api/` block (BaoTa's proxy.conf "
                f"sets 60 s; paste {SNIPPET}), or SSE_HEARTBEAT_SECONDS in .env below the proxy's "
                f"timeout (now {settings.SSE_HEARTBEAT_SECONDS:g}). A CDN: raise its origin read timeout.",
            )

    def _check_what_the_app_saw(self, report, url, hello):
        parts = urlsplit(url)
        seen_host = split_domain_port(hello.get("host", ""))[0]
        if seen_host and parts.hostname and seen_host != parts.hostname.lower():
            report.warn(
                f"The app saw the host name {seen_host!r}, not {parts.hostname!r}: the proxy does not pass Host on.",
                "In nginx, `proxy_set_header Host $host;` (BaoTa: 发送域名 $host).",
            )
        if parts.scheme == "https" and hello.get("scheme") != "https":
            report.fail(
                "The app believes the request came over plain HTTP: log-in would fail the CSRF check.",
                "In nginx, `proxy_set_header X-Forwarded-Proto $scheme;`, and SECURE_PROXY_SSL_HEADER=true in .env.",
            )

    def check_page_cache(self, report, url):
        """Two fresh visitors asking for the log-in page must get two different CSRF cookies."""
        path = reverse("login")
        answers = []
        for _ in range(2):
            try:
                answers.append(fetch_page(url, path))
            except (OSError, http.client.HTTPException) as exc:
                report.warn(f"Could not fetch {path}: {describe_connect_error(exc)}")
                return
        (status, first), (_, second) = answers
        if status != 200:
            return
        hit = any("HIT" in h.get(name, "").upper() for h in (first, second) for name in CACHE_HEADERS)
        first_cookie, second_cookie = (csrf_cookie(h) for h in (first, second))
        same_cookie = first_cookie is not None and first_cookie == second_cookie
        if hit or same_cookie:
            report.fail(
                "A cache in front of the app stores its pages: one person's page can be served to another.",
                "In nginx, `proxy_cache off;` in both locations and no `proxy_ignore_headers`. BaoTa: switch "
                f"the site's reverse-proxy cache off, paste {SNIPPET}, then empty the cache directory "
                "(proxy_cache_path in /www/server/nginx/conf/proxy.conf). A CDN: do not cache this site's pages.",
            )
        else:
            report.ok("pages are not cached by a proxy")


CACHE_HEADERS = ("x-cache", "x-cache-status", "x-proxy-cache", "cf-cache-status", "x-cache-lookup")


def csrf_cookie(headers):
    for value in headers.get("set-cookie", "").split("\n"):
        name, _, rest = value.strip().partition("=")
        if name == settings.CSRF_COOKIE_NAME:
            return rest.split(";", 1)[0]
    return None


def _connection(url, timeout):
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def _full_path(url, path):
    return urlsplit(url).path.rstrip("/") + path


def _headers(response):
    headers = {}
    for name, value in response.getheaders():
        name = name.lower()
        headers[name] = f"{headers[name]}\n{value}" if name in headers else value
    return headers


def fetch_page(url, path):
    conn = _connection(url, 30)
    try:
        conn.request("GET", _full_path(url, path), headers={"User-Agent": "chat-doctor", "Accept": "text/html"})
        response = conn.getresponse()
        response.read()
        return response.status, _headers(response)
    finally:
        conn.close()


class StreamResult:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.events = []  # chat.sse.Event: name, data, arrival time
        self.comments = []  # (line, arrival time) of heartbeats
        self.undecodable = False
        self.started_at = time.monotonic()
        self.ended_at = None
        self.end_reason = "closed by the other side"
        self.location = ""


def fetch_stream(url, path, *, timeout):
    """Read the test stream as a browser would (accepting compression), timing every event."""
    result = StreamResult()
    conn = _connection(url, timeout)
    try:
        conn.request(
            "GET",
            _full_path(url, path),
            headers={"User-Agent": "chat-doctor", "Accept": "text/event-stream", "Accept-Encoding": "gzip, deflate"},
        )
        response = conn.getresponse()
        result.status = response.status
        result.headers = _headers(response)
        result.location = result.headers.get("location", "")
        if response.status != 200:
            return result
        try:
            reader = sse.Reader(result.headers.get("content-encoding", ""))
        except ValueError:
            result.undecodable = True
            return result
        result.comments = reader.comments
        while True:
            try:
                data = response.read1(65536)
            except TimeoutError:
                result.end_reason = f"no data for {timeout:g} s"
                break
            except http.client.IncompleteRead:
                result.end_reason = "the proxy closed the connection in the middle of the response"
                break
            except (OSError, http.client.HTTPException) as exc:
                result.end_reason = type(exc).__name__
                break
            if not data:
                break
            try:
                result.events += reader.feed(data)
            except (ValueError, zlib.error) as exc:
                result.end_reason = f"the stream could not be read: {type(exc).__name__}: {exc}"
                break
    finally:
        result.ended_at = time.monotonic()
        conn.close()
    return result


def describe_connect_error(exc):
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the certificate is not valid ({exc.verify_message})"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve (DNS)"
    return f"{type(exc).__name__}: {exc}"


def connect_fix(exc):
    if isinstance(exc, ssl.SSLError):
        return "Renew or fix the certificate (BaoTa: site → SSL; else certbot), or try the http:// URL."
    if isinstance(exc, socket.gaierror):
        return "Point the domain's DNS A record at this server."
    return (
        "Is nginx running and listening on this port? Are ports 80/443 open in the server's firewall "
        "(BaoTa: 安全) and in the cloud provider's security group?"
    )


def status_problem(result):
    status = result.status
    if status in (301, 302, 307, 308):
        target = result.location or "elsewhere"
        return (
            f"The test stream was redirected ({status}) to {target}.",
            "Run doctor with the address people use, e.g. the https:// URL the redirect points to.",
        )
    if status == 400:
        return (
            "400 Bad Request: the app refused the host name.",
            "Add the domain to ALLOWED_HOSTS in .env; nginx must send `proxy_set_header Host $host;`.",
        )
    if status == 403:
        return (
            "403: the app refused doctor's token for the test stream.",
            "Run doctor on the server, with the app's own .env: the token is signed with its SECRET_KEY.",
        )
    if status == 404:
        return (
            "404: the address does not reach this app's /api/ (or it is an older version without the test stream).",
            "In nginx, `location /api/` must `proxy_pass http://127.0.0.1:8000;` (deploy/nginx/chat.conf); "
            "upgrade the app if it is older.",
        )
    if status in (502, 503, 504):
        return (
            f"{status}: the proxy could not get an answer from the app.",
            "Is the app running (systemctl status chat / Supervisor / BaoTa Python project) and listening on "
            "127.0.0.1:8000 (GUNICORN_BIND)?",
        )
    return (f"The test stream answered HTTP {status}.", "Look at the proxy's and the app's error logs.")
