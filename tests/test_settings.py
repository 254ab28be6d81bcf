"""Production refuses to start without its secrets; development needs nothing."""

import os
import subprocess
import sys

from django.conf import settings


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
