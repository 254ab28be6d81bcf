"""
The servers the tests start, all started and stopped one way: `start()` returns once the
server answers (`start(wait=False)` at once; `wait_until_ready()` later), `stop()` ends it,
`port` and `url` say where it listens, and each is a context manager as well.

- ThreadedUvicorn: the ASGI application under a real uvicorn server, in a thread of the test
  process (the `asgi_server` and `live` fixtures), on the test database and settings.
- Gunicorn: `gunicorn -c gunicorn.conf.py` as `make serve` runs it (uvicorn workers), a
  process group of its own: with the test settings (`env_with_test_settings`), for the tests that need
  several server processes or kill one, or with production settings (`production_env`).
- BufferingProxy: a proxy that passes a response on only once it is complete.
- Nginx (tests/support/nginx.py): Debian's nginx in front of the app.

The servers of the slow tiers (gunicorn, nginx) start only in tests marked with their tier,
so that `-m "not gunicorn and not nginx"` (`make test-fast`) really leaves them out.
"""

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The markers of the test being set up (tests/conftest.py sets them); None outside pytest.
running_test_markers = None


class ServerExited(RuntimeError):
    """The server's process ended before it answered."""


def listening_socket(port=0):
    """A socket listening on loopback (a free port by default), made here and handed to the server: no race."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    # gunicorn's own backlog: a burst of a thousand connections (the benchmark) waits, none is refused.
    sock.listen(2048)
    return sock


def free_port():
    """A port nothing listens on (for a while: prefer listening_socket where it can be handed over)."""
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


def answers_healthz(port):
    try:
        return get(port, "/healthz", timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


class Server:
    """What every server of the tests does; subclasses say how it is launched and when it is ready."""

    # The test marker of the tier the server belongs to, if a slow one.
    marker = None
    # Seconds start() waits for it to answer.
    start_timeout = 30
    # How many ports start() tries when the server exits at start-up (one it picked was taken).
    attempts = 1
    port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait=True):
        if self.marker and running_test_markers is not None and self.marker not in running_test_markers:
            raise RuntimeError(
                f"this test starts {type(self).__name__}: mark it (or its module, pytestmark) "
                f"with @pytest.mark.{self.marker}, so that -m 'not {self.marker}' leaves it out"
            )
        for attempt in range(1, self.attempts + 1):
            self._launch()
            if not wait:
                return self
            try:
                return self.wait_until_ready()
            except ServerExited:
                if attempt == self.attempts:
                    raise

    def wait_until_ready(self, timeout=None):
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self._exited():
                raise ServerExited(f"{self} exited at start-up:\n{self.log_tail()}")
            if self._ready():
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self} did not answer in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self):
        raise NotImplementedError

    def log(self):
        """Everything the server wrote."""
        return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])

    def _launch(self):
        raise NotImplementedError

    def _ready(self):
        raise NotImplementedError

    def _exited(self):
        return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __str__(self):
        return f"{type(self).__name__} on port {self.port}"


# --- In the test process --------------------------------------------------------------------


class ThreadedUvicorn(Server):
    """The ASGI application under a real uvicorn server, in a thread of the test process."""

    def __init__(self):
        self.server = None
        self.loop = None
        self._thread = None

    def _launch(self):
        import uvicorn

        from chatproject.asgi import application

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.application = application
        config = uvicorn.Config(application, lifespan="on", log_level="warning", loop="asyncio", http="h11")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True, name="uvicorn")
        self._thread.start()

    def _run(self, sock):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[sock]))

    def _ready(self):
        return self.server.started

    def _exited(self):
        return not self._thread.is_alive()

    def wait_until_ready(self, timeout=None):
        super().wait_until_ready(timeout)
        # The start-up's second look for abandoned answers (chat.relay.on_startup) would come half
        # a minute later, in whatever test runs then and against its database: not here.
        from chat import relay

        self.loop.call_soon_threadsafe(relay.stop_watching)
        return self

    def stop(self):
        if self.server:
            self.server.should_exit = True
            self._thread.join(10)


def wait_until_idle(timeout=10):
    """Wait for every answer generated in this process to be finished and saved."""
    from chat.relay import generator

    deadline = time.monotonic() + timeout
    while generator.answers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not generator.answers, "answers still generating"


class BufferingProxy(Server):
    """A proxy that passes a response on only once it is complete, as some CDNs and WAFs do."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.server = None

    def _launch(self):
        target = self.target_port

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
        threading.Thread(target=self.server.serve_forever, daemon=True, name="buffering-proxy").start()

    def _ready(self):
        return True

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


# --- Processes of their own ----------------------------------------------------------------


class Gunicorn(Server):
    """
    `gunicorn -c gunicorn.conf.py`, exactly as `make serve` runs it, with the environment `env`
    (env_with_test_settings or production_env), on a socket made here (GUNICORN_BIND=fd://N) on
    `port` (a free one by default), its output appended to `log_path`. A process group of its
    own, so that kill() takes the workers too.
    """

    marker = "gunicorn"
    start_timeout = 60

    def __init__(self, env, log_path, *, port=0):
        self.env = {name: str(value) for name, value in env.items()}
        self.log_path = Path(log_path)
        self.port = port
        self.process = None

    def _launch(self):
        sock = listening_socket(self.port or 0)
        self.port = sock.getsockname()[1]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env={**self.env, "GUNICORN_BIND": f"fd://{sock.fileno()}"},
                pass_fds=[sock.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        sock.close()

    def _ready(self):
        return answers_healthz(self.port)

    def _exited(self):
        return self.process.poll() is not None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def terminate(self, timeout=30):
        """SIGTERM, as systemd or Supervisor stop it; returns its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self):
        """SIGKILL to the whole process group: master and workers die at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                self.terminate(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def env_with_test_settings(upstream, **settings):
    """
    The environment of a server on the test settings (tests/server_settings.py): the test
    database, the fake provider `upstream`, one worker, and `settings` (timings, REDIS_URL...).
    """
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "TEST_OPENAI_BASE_URL": upstream.base_url,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESSLOG": "off",
        "GUNICORN_GRACEFUL_TIMEOUT": "30",
        **{name: str(value) for name, value in settings.items()},
    }


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
    from django.db import connection

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
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(_TEST_ONLY)}
    env.update(
        DJANGO_SETTINGS_MODULE="chatproject.settings",
        DEBUG="false",
        # The tests' key, so sessions made by the tests (tests/support/live.py) are valid there.
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


def manage(*args, env):
    """`manage.py <args>` in a process of its own with the environment `env`: its CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def collect_static(static_root, env):
    """`manage.py collectstatic` into `static_root`, as a deployment does."""
    result = manage("collectstatic", "--noinput", "--verbosity", "0", env={**env, "STATIC_ROOT": str(static_root)})
    assert result.returncode == 0, result.stderr
    return static_root
