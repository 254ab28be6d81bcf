"""
The project's system checks (chat/checks.py), as `manage.py check --deploy` reports them: in
this process with the settings changed, and as the real command with a production environment.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.support.servers import manage, production_env

LONG_KEY = "ch3cks-" + "Vb7Nq2Lx9Rk4Tz8Wm1Hc5Jd3Fp6Ys0Ge" * 2
CHAT_IDS = ("chat.E001", "chat.W002", "chat.W003", "chat.E004")


@pytest.fixture
def deployed(settings, tmp_path):
    """This process's settings as a correct production server has them."""
    settings.DEBUG = False
    settings.SECRET_KEY = LONG_KEY
    settings.ALLOWED_HOSTS = ["chat.example.com", "127.0.0.1", "localhost", "[::1]"]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    (settings.STATIC_ROOT / "staticfiles.json").write_text("{}")
    return settings


def check(deploy=True):
    """(passed, output) of `manage.py check [--deploy]`, run in this process."""
    out, err = StringIO(), StringIO()
    try:
        call_command("check", deploy=deploy, stdout=out, stderr=err)
    except SystemCheckError as exc:
        return False, out.getvalue() + err.getvalue() + str(exc)
    return True, out.getvalue() + err.getvalue()


def manage_check_deploy(env):
    return manage("check", "--deploy", env=env)


def test_check_deploy_has_nothing_to_say_about_a_correct_production_server(deployed):
    passed, output = check()
    assert passed, output
    assert not [name for name in CHAT_IDS if name in output], output


def test_check_deploy_reports_the_development_secret_key(static_root, tmp_path):
    env = production_env(
        SECRET_KEY="django-insecure-development-only-key",
        STATIC_ROOT=static_root,
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    result = manage_check_deploy(env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "(chat.E001) SECRET_KEY is the development default." in result.stderr
    assert 'HINT: SECRET_KEY=<output of: python3 -c "import secrets; print(secrets.token_urlsafe(50))"> in .env.' in (
        result.stderr
    )
    # Django's own check says the same key is weak; the project's says why it is worse.
    assert "security.W009" in result.stderr


def test_check_deploy_reports_uncollected_static_files(tmp_path):
    env = production_env(STATIC_ROOT=tmp_path / "never-collected", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    result = manage_check_deploy(env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"(chat.E004) No collected static files in {tmp_path / 'never-collected'}: with DEBUG off" in result.stderr
    assert "HINT: python manage.py collectstatic --noinput" in result.stderr


def test_check_deploy_passes_once_the_static_files_are_collected(static_root, tmp_path):
    result = manage_check_deploy(production_env(STATIC_ROOT=static_root, DATABASE_URL=f"sqlite:///{tmp_path}/db"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [name for name in CHAT_IDS if name in result.stdout + result.stderr]


def test_check_deploy_warns_about_any_host_name_allowed(deployed):
    deployed.ALLOWED_HOSTS = ["*", "127.0.0.1", "localhost"]
    passed, output = check()
    assert passed, output
    assert "(chat.W002) ALLOWED_HOSTS allows any host name (*)" in output
    assert "HINT: ALLOWED_HOSTS=chat.example.com (your domain) in .env." in output
    assert "chat.W003" not in output


def test_check_deploy_warns_about_only_loopback_host_names(deployed):
    deployed.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    passed, output = check()
    assert passed, output
    assert "(chat.W003) ALLOWED_HOSTS has only loopback names" in output
    assert "HINT: ALLOWED_HOSTS=chat.example.com (your domain) in .env." in output


def test_check_deploy_reports_a_static_root_without_the_manifest(deployed, tmp_path):
    deployed.STATIC_ROOT = tmp_path
    passed, output = check()
    assert not passed
    assert f"(chat.E004) No collected static files in {tmp_path}" in output


def test_with_debug_on_static_files_come_from_the_source_folders(deployed, tmp_path):
    deployed.DEBUG = True
    deployed.STATIC_ROOT = tmp_path / "never-collected"
    passed, output = check()
    assert "chat.E004" not in output


def test_the_projects_checks_are_deployment_checks(deployed):
    # What development has: the default key, loopback names, nothing collected.
    deployed.SECRET_KEY = "django-insecure-development-only-key"
    deployed.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    deployed.STATIC_ROOT = Path("/nonexistent")
    passed, output = check(deploy=False)
    assert passed, output
    assert "no issues" in output


def test_silenced_system_checks_silence_the_projects_checks(deployed, tmp_path):
    deployed.SECRET_KEY = "django-insecure-development-only-key"
    deployed.ALLOWED_HOSTS = ["*"]
    deployed.STATIC_ROOT = tmp_path
    deployed.SILENCED_SYSTEM_CHECKS = ["chat.E001", "chat.W002", "chat.E004", "security.W009"]
    passed, output = check()
    assert passed, output
    assert not [name for name in CHAT_IDS if name in output], output


def test_silenced_system_checks_in_the_environment_silence_them_in_check_deploy(tmp_path):
    env = production_env(
        SECRET_KEY="django-insecure-development-only-key",
        STATIC_ROOT=tmp_path / "never-collected",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        SILENCED_SYSTEM_CHECKS="chat.E004,chat.E001",
    )
    result = manage_check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chat.E001" not in result.stderr and "chat.E004" not in result.stderr
    assert "(2 silenced)" in result.stdout + result.stderr
