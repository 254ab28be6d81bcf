"""The settings: safe with nothing set (DEBUG off, loopback only, a key of its own), development
one variable away, production refusing to start without its secrets."""

import os
import stat
import subprocess
import sys

from django.conf import settings
from django.views.debug import get_default_exception_reporter_filter

from chatproject import secret_key


def load_settings(**env):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DEBUG", "SECRET", "ALLOWED", "OPENAI"))
    }
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, chatproject.settings as s; print(s.DEBUG, s.OPENAI_MODELS, s.DATABASES['default']['ENGINE'])"
            "; os.environ.get('PRINT') and print(s.ALLOWED_HOSTS)",
        ],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_with_nothing_set_start_up_asks_for_the_key_that_make_run_writes(tmp_path):
    result = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode != 0 and "SECRET_KEY is not set: `make run` writes a random one" in result.stderr


def test_with_only_a_key_the_product_runs_safe_on_loopback(tmp_path):
    result = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", SECRET_KEY="k" * 50, PRINT="hosts")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "False ['demo'] runtime.sqlite3",
        "['localhost', '127.0.0.1', '[::1]']",
    ]


def test_development_is_one_variable_away(tmp_path):
    result = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['demo'] runtime.sqlite3"


def test_production_refuses_to_start_without_secret_key():
    result = load_settings(DEBUG="false", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_the_first_start_writes_a_random_key_readable_by_its_owner_only(tmp_path):
    env_file = tmp_path / ".env"
    assert secret_key.ensure(env_file, environ={})
    key = env_file.read_text().strip().removeprefix("SECRET_KEY=")
    assert len(key) >= 60 and stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # Kept from then on.
    assert not secret_key.ensure(env_file, environ={})
    assert env_file.read_text().strip() == f"SECRET_KEY={key}"
    # Another start gets another key.
    other = tmp_path / "other.env"
    secret_key.ensure(other, environ={})
    assert other.read_text() != env_file.read_text()


def test_the_key_fills_an_empty_line_of_env_and_changes_nothing_else(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=\nOPENAI_API_KEY=sk-x\n")
    assert secret_key.ensure(env_file, environ={})
    lines = env_file.read_text().splitlines()
    assert lines[0] == "DEBUG=true" and lines[2] == "OPENAI_API_KEY=sk-x" and len(lines) == 3
    assert lines[1].startswith("SECRET_KEY=") and len(lines[1]) > 60


def test_a_key_already_set_is_left_alone(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('SECRET_KEY="mine"\n')
    assert not secret_key.ensure(env_file, environ={})
    assert not secret_key.ensure(tmp_path / "none.env", environ={"SECRET_KEY": "from-systemd"})
    assert env_file.read_text() == 'SECRET_KEY="mine"\n' and not (tmp_path / "none.env").exists()


def test_a_provider_key_offers_real_models():
    result = load_settings(OPENAI_API_KEY="sk-x", OPENAI_MODELS="deepseek-chat,deepseek-reasoner", SECRET_KEY="k" * 50)
    assert "['deepseek-chat', 'deepseek-reasoner']" in result.stdout


def test_error_reports_hide_the_passwords_in_url_settings(settings):
    settings.REDIS_URL = "redis://:hunter2-redis@127.0.0.1:6379/0"
    settings.OPENAI_BASE_URL = "https://user:hunter2-proxy@llm.example.com/v1"
    settings.OPENAI_API_KEY = "sk-hunter2-key"
    shown = repr(get_default_exception_reporter_filter().get_safe_settings())
    assert "hunter2" not in shown
    # What is not secret is still there to read.
    assert repr(settings.CHAT_HISTORY_CHARS) in shown and "TIME_ZONE" in shown
