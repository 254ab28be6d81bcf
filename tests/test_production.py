"""
The production server as deployed: the real `gunicorn -c gunicorn.conf.py` with uvicorn
workers and production settings (DEBUG off, collected static files), against the test
database and the fake provider.
"""

import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message
from chatproject import secret_key
from tests.support.fake_upstream import Script
from tests.support.live import LiveClient
from tests.support.servers import BIN, ROOT, Gunicorn, free_port, get, manage, production_env

pytestmark = pytest.mark.gunicorn

LONG_RANDOM = "a8Vq3-" + "kZp0x7Lw2Rm5Yt9Nb4Hc6Jd1Fg8Ks3Qe" * 2


@pytest.fixture(scope="module")
def server(django_db_setup, fake_upstream_server, static_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    env = production_env(
        OPENAI_BASE_URL=fake_upstream_server.base_url,
        STATIC_ROOT=static_root,
        WEB_CONCURRENCY=2,
    )
    app = Gunicorn(env, tmp / "gunicorn.log").start()
    yield app
    app.stop()


class Browser:
    """Just enough of a browser for a login form: a cookie jar and a CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {**(headers or {}), "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie_name, _, rest = value.partition("=")
                    self.cookies[cookie_name] = rest.split(";", 1)[0]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def log_in(self, username, password):
        status, _, page = self.request("GET", "/accounts/login/")
        assert status == 200
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        status, headers, _ = self.request(
            "POST", "/accounts/login/", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302, "the login form did not accept the credentials"
        assert "sessionid" in self.cookies
        return page

    def api_client(self):
        client = LiveClient(f"http://127.0.0.1:{self.port}")
        client.cookies = dict(self.cookies)
        client.csrf = self.cookies["csrftoken"]
        return client


@pytest.fixture
def alice(transactional_db, settings):
    # The production server checks passwords with Django's default hasher, not the tests' MD5.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    return get_user_model().objects.create_user("alice", password="a-long-password-42")


def test_production_server_logs_in_and_streams_an_answer_incrementally(server, upstream, alice):
    browser = Browser(server.port)
    browser.log_in("alice", "a-long-password-42")
    client = browser.api_client()
    upstream.push(Script(tokens=5, interval=0.3))

    conversation_id = client.create_conversation(model="fake-model")
    stream = client.send(conversation_id, "你好 production 🚀")
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["x-accel-buffering"] == "no"
    assert stream.headers["x-accel-expires"] == "0"
    events = stream.events()
    stream.close()

    deltas = [e for e in events if e.name == "delta"]
    assert "".join(e.data["content"] for e in deltas) == "t0 t1 t2 t3 t4 "
    # Five tokens 0.3 s apart arrive as they come, not in one block at the end.
    assert len(deltas) >= 3
    assert deltas[-1].at - deltas[0].at >= 0.6
    assert events[-1].name == "done" and events[-1].data["status"] == "complete"
    answer = Message.objects.get(pk=events[0].data["assistant_message_id"])
    assert answer.content == "t0 t1 t2 t3 t4 " and answer.status == "complete"
    assert answer.conversation.messages.get(role="user").content == "你好 production 🚀"


def test_production_server_writes_one_log_line_per_turn_without_the_prompt(server, upstream, alice):
    browser = Browser(server.port)
    browser.log_in("alice", "a-long-password-42")
    client = browser.api_client()
    events = client.ask(client.create_conversation(model="fake-model"), "my very private question")
    message_id = events[0].data["assistant_message_id"]

    line = next((line for line in server.log().splitlines() if f"message={message_id} " in line), None)
    assert line is not None, server.log()
    assert f"chat turn user={alice.pk} " in line
    assert "model=fake-model status=complete prompt_tokens=11 completion_tokens=5" in line
    assert re.search(r"first_token_ms=\d+ duration_ms=\d+$", line)
    assert "private question" not in server.log()
    assert "sk-production-test" not in server.log()


def test_static_files_are_served_compressed_with_hashed_names(server):
    status, _, page = get(server.port, "/accounts/login/")
    assert status == 200
    # Pages link the hashed names collectstatic wrote, e.g. /static/chat/chat.3c7737461845.css.
    url = re.search(rb"/static/chat/chat\.[0-9a-f]{12}\.css", page)
    assert url, page[:2000]

    status, headers, body = get(server.port, url.group().decode(), {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert "immutable" in headers["cache-control"] and "max-age=315360000" in headers["cache-control"]
    assert gzip.decompress(body) == (ROOT / "static/chat/chat.css").read_bytes()


def module_imports(path):
    """The modules a page module imports, as written in it: `import ... from "./x.js";`."""
    return re.findall(r'^import [^;]*? from "\./([^"]+)";$', path.read_text(encoding="utf-8"), re.M)


def test_the_page_modules_import_each_other_by_their_hashed_names(static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    assert re.fullmatch(r"chat/main\.[0-9a-f]{12}\.js", manifest["chat/main.js"])
    assert module_imports(ROOT / "static/chat/main.js"), "main.js imports nothing"
    # From main.js through everything it imports, in the collected files: each import names
    # the hashed file the manifest has for the module, and that file is there.
    reached, pending = set(), ["main.js"]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        collected = static_root / manifest[f"chat/{name}"]
        assert collected.is_file(), collected
        for source in module_imports(ROOT / "static/chat" / name):
            hashed = manifest[f"chat/{source}"].removeprefix("chat/")
            assert hashed != source and re.fullmatch(r"[\w-]+\.[0-9a-f]{12}\.js", hashed)
            assert hashed in module_imports(collected), f"{name} does not import {hashed}"
            pending.append(source)
    assert {"conversation.js", "answer.js", "stream.js", "sse.js", "api.js", "text.js"} <= reached


def test_the_page_modules_are_served_as_javascript_and_cached_for_good(server, static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    status, headers, body = get(server.port, f"/static/{manifest['chat/main.js']}")
    assert status == 200
    # A browser runs a module only when it comes with a JavaScript type.
    assert headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert "immutable" in headers["cache-control"]
    assert f'from "./{manifest["chat/conversation.js"].removeprefix("chat/")}";'.encode() in body


def test_healthz_answers_ok(server):
    status, headers, body = get(server.port, "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["x-accel-expires"] == "0"


def test_production_errors_show_no_debug_page(server):
    status, _, body = get(server.port, "/no-such-page/")
    assert status == 404
    assert b"Traceback" not in body and b"DEBUG = True" not in body and b"URLconf" not in body


def test_production_pages_send_security_headers(server):
    status, headers, _ = get(server.port, "/accounts/login/")
    assert status == 200
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "no-store" in headers["cache-control"] and "private" in headers["cache-control"]


@pytest.mark.parametrize(
    "database_url",
    ["postgres://postgres@127.0.0.1:{port}/chat", "mysql://root@127.0.0.1:{port}/chat"],
    ids=["postgresql", "mysql"],
)
def test_healthz_answers_503_when_the_database_is_unreachable(database_url, tmp_path):
    closed = free_port()
    env = production_env(DATABASE_URL=database_url.format(port=closed), DATABASE_POOL_TIMEOUT=2)
    app = Gunicorn(env, tmp_path / "gunicorn.log").start(wait=False)
    try:
        status = body = None
        for _ in range(300):
            if app.process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{app.log()}")
            try:
                status, _, body = get(app.port, "/healthz", timeout=15)
                break
            except OSError:
                time.sleep(0.1)
        assert (status, body) == (503, b"database unreachable\n"), app.log()
    finally:
        app.stop()


def test_make_serve_systemd_and_supervisor_run_the_same_command():
    # Not the flags and variables of a make that may be running these tests (`make VENV=... test`).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV", "PYTHON")}
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "serve"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.strip().splitlines()[-1] == ".venv/bin/gunicorn -c gunicorn.conf.py", dry_run.stdout
    systemd = (ROOT / "deploy/systemd/chat.service").read_text()
    supervisor = (ROOT / "deploy/supervisor/chat.conf").read_text()
    assert re.search(r"^ExecStart=\S+/\.venv/bin/gunicorn -c gunicorn\.conf\.py$", systemd, re.M)
    assert re.search(r"^command=\S+/\.venv/bin/gunicorn -c gunicorn\.conf\.py$", supervisor, re.M)


def print_config(directory, env):
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", str(directory / "gunicorn.conf.py"), "--print-config"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.M))


def test_gunicorn_reads_its_settings_from_dotenv_and_the_environment_wins(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text((ROOT / "gunicorn.conf.py").read_text())
    (tmp_path / ".env").write_text(
        "# comment\nGUNICORN_BIND=127.0.0.1:8123\nWEB_CONCURRENCY=1\n"
        "GUNICORN_TIMEOUT='90'\nGUNICORN_GRACEFUL_TIMEOUT=\n"
    )
    # A copy beside its own .env; the app is still imported from the project.
    env = {k: v for k, v in production_env(PYTHONPATH=ROOT).items() if not k.startswith("GUNICORN_")}
    config = print_config(tmp_path, env)
    assert config["bind"] == "['127.0.0.1:8123']"
    assert config["workers"] == "1"
    assert config["timeout"] == "90"
    assert config["graceful_timeout"] == "120"  # empty in .env: the default
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"

    config = print_config(tmp_path, {**env, "GUNICORN_BIND": "127.0.0.1:9001", "GUNICORN_TIMEOUT": "30"})
    assert config["bind"] == "['127.0.0.1:9001']" and config["timeout"] == "30"


def documented_env(guide, heading):
    text = (ROOT / "docs" / guide).read_text(encoding="utf-8")
    example = re.search(re.escape(heading) + r"\n\n```ini\n(.*?)```", text, re.S)
    assert example, f"docs/{guide} lost its production .env example"
    lines = example.group(1).splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.lstrip().startswith("#"))


def test_the_english_and_chinese_guides_document_the_same_production_env():
    assert documented_env("deploy.md", "A complete production example:") == documented_env(
        "deploy.zh-CN.md", "完整的生产环境示例："
    )


def test_check_deploy_passes_with_the_documented_production_env(static_root, tmp_path):
    documented = documented_env("deploy.md", "A complete production example:")
    assert documented["DEBUG"] == "false"
    # The one value the guide tells the reader to generate.
    documented["SECRET_KEY"] = LONG_RANDOM
    # Newer Django's checks connect to the database: one that exists here, not the example's.
    assert documented["DATABASE_URL"].startswith("mysql://")
    documented["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite3"
    # The guide's next step, collectstatic (check --deploy fails without it: chat.E004).
    documented["STATIC_ROOT"] = str(static_root)
    env = {k: v for k, v in production_env().items() if k not in ("DATABASE_URL", "ALLOWED_HOSTS")}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**env, **documented})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def load_settings_with(env):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import chatproject.settings as s; print(s.DEBUG, s.OPENAI_MODELS, s.OPENAI_DEFAULT_MODEL, s.STATIC_ROOT)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_copy_of_env_example_starts_as_it_is_and_with_production_values(tmp_path):
    # What `cp .env.example .env` gives, many values empty.
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert example["OPENAI_MODELS"] == "" and example["STATIC_ROOT"] == ""
    base = {k: v for k, v in production_env().items() if k not in example and k != "DJANGO_SETTINGS_MODULE"}
    example["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite3"
    # As it is, it asks for the key that `make run` then writes into it.
    result = load_settings_with({**base, **example})
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    assert secret_key.ensure(env_file, environ={})
    example["SECRET_KEY"] = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)[
        "SECRET_KEY"
    ]
    result = load_settings_with({**base, **example})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "['demo']", "demo", str(ROOT / "staticfiles")]

    production = {**example, "DEBUG": "false", "SECRET_KEY": "k" * 10 + LONG_RANDOM, "ALLOWED_HOSTS": "chat.x"}
    result = load_settings_with({**base, **production, "OPENAI_API_KEY": "sk-x", "STATIC_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "['gpt-4o-mini']", "gpt-4o-mini", str(tmp_path)]


def test_the_documented_secret_key_placeholder_fails_check_deploy(static_root, tmp_path):
    """The guide's placeholder is caught: check --deploy insists on a long random key."""
    env = production_env(
        SECRET_KEY="replace-with-a-long-random-string", DATABASE_URL=f"sqlite:///{tmp_path}/db", STATIC_ROOT=static_root
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "security.W009" in result.stderr + result.stdout
