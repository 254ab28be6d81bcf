"""
`manage.py doctor`: the configuration checks, and its verdict on the path from the public URL
to the app, through nginx configured well and configured badly in front of the real gunicorn.
"""

import re
import secrets
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import AsyncClient

from chat import diagnostics
from tests.support import canary
from tests.support.nginx import Nginx, baota_site, custom_site, debian_site
from tests.support.servers import BufferingProxy, Gunicorn, free_port, manage, production_env

# The app's heartbeat here is longer than the read timeout of the nginx that cuts streams.
HEARTBEAT = 3.0
LONG_KEY = "d0ct0r-" + "Qm8vLx2Rk5Tz9Wb4Nc7Hj3Fp6Ys1Ge0Ua" * 2


@pytest.fixture(scope="module")
def app(django_db_setup, fake_upstream_server, static_root, tmp_path_factory):
    env = production_env(
        OPENAI_BASE_URL=fake_upstream_server.base_url,
        STATIC_ROOT=static_root,
        SSE_HEARTBEAT_SECONDS=HEARTBEAT,
        # The key of doctor's own process (production_settings), which signs its token.
        SECRET_KEY=LONG_KEY,
    )
    server = Gunicorn(env, tmp_path_factory.mktemp("doctor-app") / "gunicorn.log").start()
    yield server
    server.stop()


@pytest.fixture
def production_settings(settings, static_root):
    """The doctor's own process set up as a correct production server would be."""
    settings.SECRET_KEY = LONG_KEY
    settings.ALLOWED_HOSTS = ["chat.example.com", "127.0.0.1", "localhost"]
    settings.STATIC_ROOT = Path(static_root)
    settings.SSE_HEARTBEAT_SECONDS = HEARTBEAT
    return settings


@pytest.fixture
def nginx(tmp_path):
    started = []

    def start(http):
        server = Nginx(tmp_path / f"nginx{len(started)}", http).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def doctor(*args):
    """(passed, output) of `manage.py doctor`, run in this process."""
    out = StringIO()
    try:
        call_command("doctor", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def stream_check(url, *extra):
    return doctor(url, "--skip-provider", "--ticks", "8", *extra)


# --- The test stream it fetches ------------------------------------------------------------


def get_test_stream(query, *, token=None, client=None):
    token = diagnostics.token() if token is None else token

    async def fetch():
        response = await (client or AsyncClient()).get(f"/api/diagnostics/stream/?{query}&token={token}")
        if not response.streaming:
            return response, response.content
        return response, b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(fetch)()


def test_the_test_stream_needs_no_account_and_no_database():
    # No database fixture here: any query would fail this test.
    response, body = get_test_stream("ticks=3&silence=0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["X-Accel-Buffering"] == "no" and response["X-Accel-Expires"] == "0"
    events = [block.split("\n")[0] for block in body.decode().strip().split("\n\n")]
    assert events == ["event: hello", "event: tick", "event: tick", "event: tick", "event: done"]
    assert '"scheme":"http","host":"testserver"' in body.decode()


def test_the_test_stream_is_refused_without_doctors_token(db):
    for token in ("", "doctor:forged:signature", signing.TimestampSigner(salt="other").sign("doctor")):
        response, body = get_test_stream("ticks=3", token=token)
        assert response.status_code == 403 and b"doctor" in body


def test_the_test_stream_token_expires(db, monkeypatch):
    token = diagnostics.token()
    monkeypatch.setattr(diagnostics, "TOKEN_SECONDS", -1)
    assert get_test_stream("ticks=1", token=token)[0].status_code == 403


def test_staff_may_fetch_the_test_stream_without_a_token(db, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    member = django_user_model.objects.create_user("member", password="x")
    for user, status in ((staff, 200), (member, 403)):
        client = AsyncClient()
        client.force_login(user)
        assert get_test_stream("ticks=1", token="", client=client)[0].status_code == status


@pytest.mark.parametrize("query", ["ticks=51", "ticks=-1", "ticks=x", "silence=121", "silence=nan", "silence=-1"])
def test_the_test_stream_refuses_out_of_range_input(query):
    response, body = get_test_stream(query)
    assert response.status_code == 400 and b"must be" in body


# --- Through a proxy --------------------------------------------------------------------------
# The tests that start the app (gunicorn) or a proxy (nginx) are marked with their tiers.


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_passes_a_site_set_up_with_the_documented_nginx_file(app, nginx, production_settings, db):
    proxy = nginx(debian_site(app.port))
    passed, output = stream_check(proxy.url, "--silence", "7")
    assert passed, output
    assert "ok    arrives piece by piece: 8 events over" in output
    assert re.search(r"ok    stays open through 7 s of silence \(2 heartbeat\(s\) every 3 s\)", output)
    assert "ok    pages are not cached by a proxy" in output


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_passes_baota_with_its_cache_switch_on_thanks_to_the_apps_headers(app, nginx, production_settings, db):
    proxy = nginx(baota_site(app.port))
    passed, output = stream_check(proxy.url, "--silence", "0")
    assert passed, output
    assert "arrives piece by piece" in output and "pages are not cached by a proxy" in output


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_reports_a_stream_held_back_by_compression(app, nginx, production_settings, db):
    # Compressing every type and ignoring the app's X-Accel-Buffering: no, nginx holds the stream.
    proxy = nginx(
        custom_site(
            app.port,
            "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;",
            http="gzip on; gzip_types text/event-stream;",
        )
    )
    passed, output = stream_check(proxy.url, "--silence", "0")
    assert not passed
    assert "FAIL  Buffered: the 8 events, sent over 1.6 s, arrived together" in output
    assert "in a compressed (gzip) response" in output
    assert "`gzip off;` to the `location /api/` block" in output


@pytest.mark.gunicorn
def test_doctor_reports_a_proxy_that_buffers_whole_responses(app, production_settings, db):
    proxy = BufferingProxy(app.port).start()
    try:
        passed, output = stream_check(proxy.url, "--silence", "0")
    finally:
        proxy.stop()
    assert not passed
    assert "FAIL  Buffered: the 8 events, sent over 1.6 s, arrived together" in output
    assert "`proxy_buffering off;` and `proxy_cache off;` in the `location /api/` block" in output
    assert "baota-proxy-snippet.conf" in output


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_reports_a_stream_cut_during_a_silence(app, nginx, production_settings, db):
    # nginx gives up on a silent upstream after 1.5 s; the app's heartbeat comes every 3 s.
    proxy = nginx(custom_site(app.port, "proxy_buffering off; proxy_read_timeout 1500ms;"))
    passed, output = stream_check(proxy.url, "--silence", "5")
    assert not passed
    assert "ok    arrives piece by piece" in output
    assert re.search(r"FAIL  Cut during the silence: the stream was closed after \d+\.\d s without data", output)
    assert "`proxy_read_timeout 3600s;` in the `location /api/` block" in output


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_reports_a_cache_that_stores_pages(app, nginx, production_settings, db):
    proxy = nginx(
        custom_site(
            app.port,
            "proxy_cache pages; proxy_cache_valid 200 1d; "
            "proxy_ignore_headers X-Accel-Expires Cache-Control Expires Set-Cookie;",
            http="proxy_cache_path {prefix}/cache levels=1 keys_zone=pages:1m;",
        )
    )
    passed, output = stream_check(proxy.url, "--silence", "0")
    assert not passed
    assert "FAIL  A cache in front of the app stores its pages" in output
    assert "`proxy_cache off;`" in output


@pytest.mark.gunicorn
@pytest.mark.nginx
def test_doctor_warns_when_the_proxy_does_not_pass_the_host_name(app, nginx, production_settings, db):
    proxy = nginx(custom_site(app.port, "proxy_buffering off;", pass_host=False))
    passed, output = stream_check(f"http://localhost:{proxy.port}", "--silence", "0")
    assert passed, output
    assert "WARN  The app saw the host name '127.0.0.1', not 'localhost'" in output
    assert "proxy_set_header Host $host;" in output


def test_doctor_reports_a_url_where_nothing_listens(production_settings, db):
    passed, output = stream_check(f"http://127.0.0.1:{free_port()}", "--silence", "0")
    assert not passed
    assert "FAIL  Could not connect: ConnectionRefusedError" in output
    assert "security group" in output


@pytest.mark.nginx
def test_doctor_reports_a_proxy_that_cannot_reach_the_app(nginx, production_settings, db):
    proxy = nginx(custom_site(free_port(), "proxy_buffering off;"))
    passed, output = stream_check(proxy.url, "--silence", "0")
    assert not passed
    assert "FAIL  502: the proxy could not get an answer from the app." in output


def test_doctor_reports_https_that_the_app_does_not_know_about(production_settings, db):
    production_settings.SECURE_PROXY_SSL_HEADER = None
    passed, output = doctor("--skip-provider")
    assert passed, output
    passed, output = doctor(f"https://localhost:{free_port()}", "--skip-provider", "--silence", "0")
    assert not passed
    assert "does not trust the proxy's X-Forwarded-Proto" in output and "SECURE_PROXY_SSL_HEADER=true" in output


# --- Configuration --------------------------------------------------------------------------


def test_doctor_passes_a_correct_configuration(production_settings, upstream, db):
    production_settings.OPENAI_MODELS = ["fake-model", "demo"]
    passed, output = doctor()
    assert passed, output
    assert "ok    DEBUG is off" in output and "ok    SECRET_KEY is set" in output
    assert "ok    all migrations applied" in output
    assert "ok    fake-model" in output and "ok    demo: the built-in offline model" in output
    assert not canary.carries_key(output)


def test_doctor_fails_on_the_development_key_with_debug_off(production_settings, db):
    production_settings.SECRET_KEY = "django-insecure-development-only-key"
    passed, output = doctor("--skip-provider")
    assert not passed
    assert "FAIL  SECRET_KEY is the development default." in output


def test_doctor_fails_on_a_short_secret_key(production_settings, db):
    production_settings.SECRET_KEY = "replace-with-a-long-random-string"
    passed, output = doctor("--skip-provider")
    assert not passed and "FAIL  SECRET_KEY is too short or too simple (33 characters" in output


def test_doctor_fails_when_static_files_were_not_collected(production_settings, tmp_path, db):
    production_settings.STATIC_ROOT = tmp_path / "never-collected"
    passed, output = doctor("--skip-provider")
    assert not passed and "python manage.py collectstatic --noinput" in output


def test_doctor_reports_the_projects_system_checks_with_their_fix(production_settings, db):
    production_settings.ALLOWED_HOSTS = ["*"]
    passed, output = doctor("--skip-provider")
    assert passed, output
    assert "WARN  ALLOWED_HOSTS allows any host name (*)" in output and "(chat.W002)" in output
    assert "Fix: ALLOWED_HOSTS=chat.example.com (your domain) in .env." in output
    assert "ok    ALLOWED_HOSTS" not in output

    production_settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    passed, output = doctor("--skip-provider")
    assert passed, output
    assert "WARN  ALLOWED_HOSTS has only loopback names" in output


def test_doctor_names_the_line_to_set_for_djangos_own_deployment_checks(production_settings, db):
    passed, output = doctor("--skip-provider")
    assert passed, output
    assert "WARN  SESSION_COOKIE_SECURE is not set to True." in output and "(security.W012)" in output
    assert "Fix: SESSION_COOKIE_SECURE=true in .env once the site works over https://" in output
    assert "Fix: CSRF_COOKIE_SECURE=true in .env" in output and "Fix: SECURE_SSL_REDIRECT=true in .env" in output

    production_settings.SECURE_HSTS_SECONDS = 300
    passed, output = doctor("--skip-provider")
    assert "Fix: SECURE_HSTS_INCLUDE_SUBDOMAINS=true in .env." in output
    assert "Fix: SILENCED_SYSTEM_CHECKS=security.W021 in .env" in output


def test_doctor_names_the_development_key_once(production_settings, db):
    production_settings.SECRET_KEY = "django-insecure-development-only-key"
    passed, output = doctor("--skip-provider")
    assert not passed
    assert output.count("SECRET_KEY") == 2, output  # the problem and its fix
    assert "ok    SECRET_KEY is set" not in output


def test_doctor_with_debug_on_tells_the_projects_deployment_checks_as_warnings(production_settings, db):
    production_settings.DEBUG = True
    production_settings.SECRET_KEY = "django-insecure-development-only-key"
    production_settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    passed, output = doctor("--skip-provider")
    assert passed, output
    assert "WARN  DEBUG is on: fine on your own computer" in output and "Fix: DEBUG=false in .env" in output
    assert "WARN  SECRET_KEY is the development default." in output
    assert "WARN  ALLOWED_HOSTS has only loopback names" in output
    # Django's deployment checks are for the server.
    assert "security.W" not in output


def test_doctor_leaves_out_what_silenced_system_checks_silences(production_settings, tmp_path, db):
    production_settings.STATIC_ROOT = tmp_path / "never-collected"
    production_settings.SILENCED_SYSTEM_CHECKS = ["chat.E004"]
    passed, output = doctor("--skip-provider")
    assert passed, output
    assert "collectstatic" not in output and "static files collected" not in output
    assert "ok    silenced in SILENCED_SYSTEM_CHECKS: chat.E004" in output


def test_doctor_names_a_model_the_provider_does_not_offer(production_settings, upstream, db):
    upstream.models = ["fake-model", "fake-large"]
    production_settings.OPENAI_MODELS = ["fake-model", "fake-mistyped", "demo"]
    passed, output = doctor()
    assert not passed
    assert "ok    fake-model" in output
    assert "FAIL  fake-mistyped: the provider does not offer this model. It offers: fake-large, fake-model." in output


def test_doctor_asks_for_one_token_when_the_provider_cannot_list_models(production_settings, upstream, db):
    upstream.models = None
    production_settings.OPENAI_MODELS = ["fake-model"]
    passed, output = doctor()
    assert passed, output
    assert "ok    fake-model (answered a 1-token request)" in output
    assert [r.body["max_tokens"] for r in upstream.chat_requests] == [1]


def test_doctor_reports_an_unreachable_provider(production_settings, db):
    production_settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    production_settings.OPENAI_MODELS = ["fake-model"]
    passed, output = doctor()
    assert not passed
    assert "FAIL  Could not reach http://127.0.0.1:" in output and "Check OPENAI_BASE_URL" in output


def test_doctor_checks_every_enabled_provider_and_records_each_verdict(production_settings, upstream, db):
    from chat.models import Provider, ProviderModel

    production_settings.OPENAI_MODELS = ["fake-model"]
    upstream.models = ["fake-model", "shared-model"]
    second = Provider(name="second", base_url=upstream.base_url)
    second.api_key = "k4-" + secrets.token_hex(16)
    second.save()
    ProviderModel.objects.create(provider=second, name="shared-model")
    ProviderModel.objects.create(provider=second, name="gone-model")
    Provider.objects.create(name="off", base_url=f"http://127.0.0.1:{free_port()}/v1", enabled=False)
    production_settings.CHAT_TITLE_MODEL = "no-such-model"

    passed, output = doctor()

    assert not passed
    assert f"Model provider local ({upstream.base_url}, from .env)" in output
    assert f"Model provider second ({upstream.base_url}, from the admin)" in output
    assert "ok    shared-model" in output
    assert "FAIL  gone-model: the provider does not offer this model." in output
    assert "Fix: Correct the model's id in the admin." in output
    assert "Model provider off" not in output
    assert "WARN  CHAT_TITLE_MODEL=no-such-model is not offered" in output
    assert second.api_key not in output
    verdicts = {p.name: (p.check_ok, p.check_message) for p in Provider.objects.all()}
    assert verdicts["local"] == (True, "All enabled models answer.")
    assert verdicts["second"][0] is False and "gone-model" in verdicts["second"][1]
    assert verdicts["off"] == (None, "")
    auth = {r.headers["authorization"] for r in upstream.requests if r.path.endswith("/models")}
    assert auth == {f"Bearer {canary.KEY}", f"Bearer {second.api_key}"}


def test_doctor_reports_an_unreachable_database_as_a_command(tmp_path):
    env = production_env(DATABASE_URL=f"mysql://root@127.0.0.1:{free_port()}/chat", STATIC_ROOT=tmp_path)
    result = manage("doctor", "--skip-provider", env=env)
    assert result.returncode == 1
    assert "FAIL  MySQL/MariaDB at 127.0.0.1:" in result.stdout and "is unreachable" in result.stdout
    assert "Check DATABASE_URL" in result.stdout
    assert "problem(s)" in result.stderr
