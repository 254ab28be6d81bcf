"""Production refuses to start without its secrets; development needs nothing."""

import os
import subprocess
import sys

from django.conf import settings
from django.views.debug import get_default_exception_reporter_filter


def load_settings(**env):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DEBUG", "SECRET", "ALLOWED", "OPENAI"))
    }
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import chatproject.settings as s; print(s.DEBUG, s.OPENAI_MODELS, s.DATABASES['default']['ENGINE'])",
        ],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_development_works_with_nothing_set(tmp_path):
    result = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['demo'] runtime.sqlite3"


def test_production_refuses_to_start_without_secret_key():
    result = load_settings(DEBUG="false", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = load_settings(DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode != 0 and "ALLOWED_HOSTS is not set" in result.stderr


def test_a_provider_key_offers_real_models():
    result = load_settings(OPENAI_API_KEY="sk-x", OPENAI_MODELS="deepseek-chat,deepseek-reasoner")
    assert "['deepseek-chat', 'deepseek-reasoner']" in result.stdout


def test_error_reports_hide_the_passwords_in_url_settings(settings):
    settings.REDIS_URL = "redis://:hunter2-redis@127.0.0.1:6379/0"
    settings.OPENAI_BASE_URL = "https://user:hunter2-proxy@llm.example.com/v1"
    settings.OPENAI_API_KEY = "sk-hunter2-key"
    shown = repr(get_default_exception_reporter_filter().get_safe_settings())
    assert "hunter2" not in shown
    # What is not secret is still there to read.
    assert repr(settings.CHAT_HISTORY_CHARS) in shown and "TIME_ZONE" in shown
