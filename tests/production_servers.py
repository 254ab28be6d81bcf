"""
The production stack in the tests: the real `gunicorn -c gunicorn.conf.py` (uvicorn workers)
with production settings against the test database, and Debian's nginx in front of it, each a
process of its own on a free loopback port.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.live import Event

BASE_DIR = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent

# Variables of the test process that must not leak into a production server's settings.
_TEST_ONLY = (
    "DJANGO_",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_",
    "DATABASE",
    "OPENAI_",
    "SSE_",
    "CHAT_",
    "DEMO_",
    "GUNICORN_",
    "WEB_CONCURRENCY",
    "PORT",
    "STATIC_ROOT",
    "SECURE_",
    "SESSION_",
)


def database_url():
    """The test database (set up by pytest-django) as a DATABASE_URL for another process."""
    db = connection.settings_dict
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[engine]
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    default_port = {"postgres": 5432, "mysql": 3306}[scheme]
    return f"{scheme}://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or default_port}/{db['NAME']}"


def production_env(**overrides):
    """The environment of a production server: DEBUG off, the settings of chatproject.settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_TEST_ONLY)}
    env.update(
        DJANGO_SETTINGS_MODULE="chatproject.settings",
        DEBUG="false",
        # The tests' key, so sessions made by the tests (tests/live.py) are valid there.
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost,chat.example.com",
        DATABASE_URL=database_url(),
        OPENAI_API_KEY="sk-production-test",
        OPENAI_MODELS="fake-model,demo",
        OPENAI_MAX_RETRIES="0",
        WEB_CONCURRENCY="1",
        CHAT_DRAIN_SECONDS="3",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def collect_static(static_root, env):
    """`manage.py collectstatic` into `static_root`, as a deployment does."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR,
        env={**env, "STATIC_ROOT": str(static_root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return static_root


def timed_events(response):
    """
    The SSE events of an http.client response, each timed as it arrives, reading it as a browser
    does: with gzip decoded when the server (or a proxy) compressed it.
    """
    decoder = zlib.decompressobj(wbits=31) if response.getheader("Content-Encoding") == "gzip" else None
    buffer = b""
    while data := response.read1(65536):
        at = time.monotonic()
        buffer += decoder.decompress(data) if decoder else data
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if not line.startswith(":"))
            if "data" in fields:
                yield Event(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"), at)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port, path, headers=None, timeout=10):
    """(status, headers with lower-case names, body) of a GET on loopback."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def wait_until_healthy(port, process, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{tail(log_path)}")
        try:
            if get(port, "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz in {timeout} s:\n{tail(log_path)}")


def tail(path, lines=60):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(process, timeout=20):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py`, exactly as `make serve` runs it, on a free port."""

    def __init__(self, env, log_path):
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.process = None
        self.port = None

    def start(self, *, wait=True):
        # gunicorn listens on a socket made here (GUNICORN_BIND=fd://N): a free port, no race.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        env = {**self.env, "GUNICORN_BIND": f"fd://{sock.fileno()}"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
                cwd=BASE_DIR,
                env=env,
                pass_fds=[sock.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sock.close()
        if wait:
            wait_until_healthy(self.port, self.process, self.log_path)
        return self

    def stop(self):
        if self.process:
            stop(self.process)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return tail(self.log_path, 200)


def nginx_binary():
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run installs it)")
    return path


# The frame of an nginx.conf, everything in a temporary prefix; `http` is the http block's body.
_NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
{http}
}}
"""


class Nginx:
    """Debian's nginx, not daemonized, with a configuration written by the test."""

    def __init__(self, prefix, http):
        self.prefix = Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.http = http
        self.port = None
        self.process = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            if self._start():
                return self
        pytest.fail(f"nginx did not start:\n{tail(self.prefix / 'error.log')}")

    def _start(self):
        # As root, nginx's workers would run as "nobody", which cannot enter pytest's
        # temporary directories.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = _NGINX_CONF.format(
            user=user,
            prefix=self.prefix,
            http=self.http.replace("{port}", str(self.port)).replace("{prefix}", str(self.prefix)),
        )
        (self.prefix / "nginx.conf").write_text(conf)
        log = self.prefix / "nginx.out"
        command = [
            nginx_binary(),
            "-p",
            str(self.prefix),
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            str(self.prefix / "error.log"),
        ]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # most likely the port was taken meanwhile: try another
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.process and self.process.poll() is None:
            # QUIT would wait for open streams; TERM ends at once.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


# --- nginx as servers really have it ---------------------------------------------------------

# The http block of a BaoTa (宝塔) server: the gzip settings of its nginx.conf, and its
# conf/proxy.conf, which caches every proxied site http-wide and cuts silent connections at
# 60 s (`read_timeout`; the tests shorten it to stay fast).
BAOTA_HTTP = """
    gzip on;
    gzip_min_length 1k;
    gzip_buffers 4 16k;
    gzip_http_version 1.1;
    gzip_comp_level 2;
    gzip_types text/plain application/javascript application/x-javascript text/javascript text/css application/xml;
    gzip_vary on;
    gzip_proxied expired no-cache no-store private auth;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }

    # /www/server/nginx/conf/proxy.conf
    proxy_cache_path {prefix}/proxy_cache_dir levels=1:2 keys_zone=cache_one:20m inactive=1d max_size=1g;
    client_body_buffer_size 512k;
    proxy_connect_timeout 60;
    proxy_read_timeout %(read_timeout)s;
    proxy_send_timeout 60;
    proxy_buffer_size 32k;
    proxy_buffers 4 64k;
    proxy_busy_buffers_size 128k;
    proxy_temp_file_write_size 128k;
    proxy_next_upstream error timeout invalid_header http_500 http_503 http_404;
    proxy_cache cache_one;
    proxy_cache_valid 200 304 301 302 1d;

    server {
        listen 127.0.0.1:{port};
        server_name chat.example.com;
        index index.html;
        root {prefix}/site;
%(site)s
    }
"""

# What the panel writes for a reverse proxy to the app with its cache (缓存) switch on.
BAOTA_PROXY_WITH_CACHE_SWITCH = """
        #PROXY-START/
        location ^~ /
        {
            proxy_pass http://127.0.0.1:%(app_port)s;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header REMOTE-HOST $remote_addr;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_http_version 1.1;

            add_header X-Cache $upstream_cache_status;
            #Set Nginx Cache
            proxy_ignore_headers Set-Cookie Cache-Control expires;
            proxy_cache cache_one;
            proxy_cache_key $host$uri$is_args$args;
            proxy_cache_valid 200 304 301 302 1m;
        }
        #PROXY-END/
"""


def _replace(text, old, new):
    assert old in text, f"expected {old!r} in the deployment file"
    return text.replace(old, new)


def baota_site(app_port, *, read_timeout="60s", snippet=False):
    """
    The http block of a BaoTa server proxying to the app: as the panel makes it with the
    cache switch on, or (`snippet`) with deploy/nginx/baota-proxy-snippet.conf pasted in.
    """
    if snippet:
        site = (BASE_DIR / "deploy/nginx/baota-proxy-snippet.conf").read_text(encoding="utf-8")
        site = _replace(site, "http://127.0.0.1:8000", f"http://127.0.0.1:{app_port}")
    else:
        site = BAOTA_PROXY_WITH_CACHE_SWITCH % {"app_port": app_port}
    return BAOTA_HTTP % {"read_timeout": read_timeout, "site": site}


def debian_site(app_port):
    """The http block of Debian's nginx.conf with deploy/nginx/chat.conf enabled."""
    site = (BASE_DIR / "deploy/nginx/chat.conf").read_text(encoding="utf-8")
    site = _replace(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = _replace(site, "listen 80;", "listen 127.0.0.1:{port};")
    site = _replace(site, "listen [::]:80;", "")
    site = _replace(site, "/var/log/nginx/", "{prefix}/")
    return (
        """
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    gzip on;
"""
        + site
    )


def custom_site(app_port, location="", *, http="", pass_host=True):
    """A bare server block proxying everything to the app, with `location` added to its location."""
    host = "proxy_set_header Host $host;" if pass_host else ""
    return f"""
    {http}
    server {{
        listen 127.0.0.1:{{port}};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {host}
            {location}
        }}
    }}
"""


class BufferingProxy:
    """A proxy that passes a response on only once it is complete, as some CDNs and WAFs do."""

    def __init__(self, target_port):
        target = target_port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                upstream = http.client.HTTPConnection("127.0.0.1", target, timeout=60)
                try:
                    upstream.request("GET", self.path, headers={"Host": self.headers.get("Host", "")})
                    response = upstream.getresponse()
                    body = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="buffering-proxy")

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"
