"""
Login throttling (django-axes, chat/accounts.py): past LOGIN_FAILURE_LIMIT failed logins for a
username, or from an address, within LOGIN_LOCKOUT_MINUTES, logging in is refused with a page
that says for how long, even with the right password; the admin's login too. X-Forwarded-For
names the address only when LOGIN_TRUSTED_PROXY_COUNT says how many proxies write it.
"""

import io
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LIMIT = 5  # LOGIN_FAILURE_LIMIT's default, which the tests run with
GUESS = "Tr0ub4dor-guess-never-logged"


def log_in(client, username, password, ip="10.0.0.1", path=LOGIN, **headers):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip, headers=headers)


def fail(client, username, ip="10.0.0.1", path=LOGIN, **headers):
    return log_in(client, username, GUESS, ip=ip, path=path, **headers)


def is_logged_in(client):
    return client.get("/").status_code == 200


def move_attempts_back(minutes):
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def assert_locked_out(response, minutes=15):
    assert response.status_code == 429
    body = response.content.decode()
    assert f"Too many failed logins. Try again in {minutes} minutes." in body
    # The login page itself, with its form, not axes' bare page.
    assert 'name="password"' in body and "didn" not in body
    assert response["Retry-After"] == str(minutes * 60)


def test_the_tests_run_with_the_default_limit_and_lockout():
    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME) == (LIMIT, 15 / 60)


def test_a_username_is_locked_out_after_the_limit_of_failures_from_different_addresses(client, owner):
    for attempt in range(LIMIT - 1):
        response = fail(client, "owner", ip=f"10.0.0.{attempt + 1}")
        assert response.status_code == 200 and "didn" in response.content.decode()
    assert_locked_out(fail(client, "owner", ip="10.0.0.50"))
    assert_locked_out(log_in(Client(), "owner", "owner-password", ip="10.0.0.99"))


def test_an_address_is_locked_out_after_the_limit_of_failures_whatever_the_usernames(client, owner):
    for attempt in range(LIMIT - 1):
        assert fail(client, f"nobody-{attempt}", ip="10.0.0.7").status_code == 200
    assert_locked_out(fail(client, "someone-else", ip="10.0.0.7"))
    assert_locked_out(log_in(Client(), "owner", "owner-password", ip="10.0.0.7"))
    # The username itself failed nowhere: from another address it logs in.
    other = Client()
    assert log_in(other, "owner", "owner-password", ip="10.0.0.8").status_code == 302
    assert is_logged_in(other)


def test_the_right_password_is_refused_during_a_lockout(client, owner):
    for attempt in range(LIMIT):
        fail(client, "owner", ip=f"10.0.1.{attempt}")
    assert_locked_out(log_in(client, "owner", "owner-password"))
    assert not is_logged_in(client)


def test_failures_below_the_limit_leave_the_right_password_working(client, owner):
    for _ in range(LIMIT - 1):
        fail(client, "owner")
    assert log_in(client, "owner", "owner-password").status_code == 302


def test_the_page_says_how_many_minutes_are_left_and_attempts_do_not_prolong_it(client, owner):
    for _ in range(LIMIT):
        fail(client, "owner")
    move_attempts_back(5)
    assert_locked_out(log_in(client, "owner", "owner-password"), minutes=10)
    assert_locked_out(fail(client, "owner"), minutes=10)
    move_attempts_back(9)
    response = log_in(client, "owner", "owner-password")
    assert response.status_code == 429 and "Try again in 1 minute." in response.content.decode()


def test_the_lockout_ends_after_the_lockout_minutes(client, owner):
    for _ in range(LIMIT):
        fail(client, "owner")
    assert_locked_out(log_in(client, "owner", "owner-password"))
    move_attempts_back(15 + 1)
    assert log_in(client, "owner", "owner-password").status_code == 302
    assert is_logged_in(client)


def test_the_lockout_page_is_in_the_persons_language(client, owner):
    for _ in range(LIMIT):
        fail(client, "owner")
    response = log_in(client, "owner", "owner-password", **{"Accept-Language": "zh-hans"})
    assert response.status_code == 429
    assert '<html lang="zh-hans">' in response.content.decode()


def test_the_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("boss", password="boss-password")
    # Failures on either login page count for both.
    for _ in range(2):
        fail(client, "boss")
    for _ in range(LIMIT - 2 - 1):
        assert fail(client, "boss", path=ADMIN_LOGIN).status_code == 200
    assert_locked_out(fail(client, "boss", path=ADMIN_LOGIN))
    assert_locked_out(log_in(client, "boss", "boss-password", ip="10.0.9.9", path=ADMIN_LOGIN))
    assert client.get("/admin/").status_code == 302


def test_a_staff_member_lists_and_clears_a_lockout_in_the_admin(client, owner, django_user_model):
    for _ in range(LIMIT):
        fail(client, "owner", ip="10.0.0.3")
    staff = Client()
    staff.force_login(django_user_model.objects.create_superuser("boss", password="boss-password"))
    listing = staff.get("/admin/axes/accessattempt/?locked_out=yes")
    assert listing.status_code == 200 and "10.0.0.3" in listing.content.decode()
    [attempt] = AccessAttempt.objects.all()
    response = staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302 and not AccessAttempt.objects.exists()
    assert log_in(client, "owner", "owner-password", ip="10.0.0.3").status_code == 302


def test_the_shell_command_clears_a_usernames_lockout(client, owner):
    for attempt in range(LIMIT):
        fail(client, "owner", ip=f"10.0.2.{attempt}")
    assert_locked_out(log_in(client, "owner", "owner-password"))
    call_command("axes_reset_username", "owner", stdout=io.StringIO())
    assert log_in(client, "owner", "owner-password").status_code == 302


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(client, owner, settings):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 0
    for attempt in range(LIMIT):
        fail(client, f"nobody-{attempt}", ip="127.0.0.1", **{"X-Forwarded-For": f"203.0.113.{attempt}"})
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}
    response = log_in(client, "owner", "owner-password", ip="127.0.0.1", **{"X-Forwarded-For": "203.0.113.99"})
    assert_locked_out(response)


def test_x_forwarded_for_names_the_address_when_a_proxy_is_trusted(client, owner, settings):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 1
    # What the client wrote itself comes first; nginx appends the address it saw.
    for attempt in range(LIMIT):
        forwarded = f"198.51.100.{attempt}, 203.0.113.5"
        fail(client, f"nobody-{attempt}", ip="127.0.0.1", **{"X-Forwarded-For": forwarded})
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}
    locked = log_in(client, "owner", "owner-password", ip="127.0.0.1", **{"X-Forwarded-For": "203.0.113.5"})
    assert_locked_out(locked)
    # Another client behind the same proxy, claiming the locked address first, is not locked.
    other = Client()
    forwarded = "203.0.113.5, 203.0.113.6"
    assert log_in(other, "owner", "owner-password", ip="127.0.0.1", **{"X-Forwarded-For": forwarded}).status_code == 302


def test_two_trusted_proxies_take_the_second_address_from_the_right(client, owner, settings):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 2
    fail(client, "owner", ip="127.0.0.1", **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 192.0.2.1"})
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_a_forwarded_value_that_is_no_address_is_not_stored(client, owner, settings):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 1
    fail(client, "owner", ip="127.0.0.1", **{"X-Forwarded-For": "unknown"})
    assert AccessAttempt.objects.get().ip_address is None


def test_no_password_reaches_the_log_or_the_stored_attempts(client, owner, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(LIMIT + 1):
        fail(client, "owner")
    fail(client, "owner", path=ADMIN_LOGIN)
    assert "AXES" in caplog.text  # axes did log the failures
    assert GUESS not in caplog.text
    for attempt in AccessAttempt.objects.all():
        assert GUESS not in attempt.post_data and GUESS not in attempt.get_data


def load_login_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DEBUG", "LOGIN"))}
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import chatproject.settings as s; print(s.AXES_ENABLED, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME * 60, "
            "s.LOGIN_TRUSTED_PROXY_COUNT)",
        ],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_the_throttle_comes_from_the_login_settings(tmp_path):
    result = load_login_settings(LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_MINUTES="40", LOGIN_TRUSTED_PROXY_COUNT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "3", "40.0", "1"]


def test_by_default_the_throttle_is_on_and_trusts_no_proxy():
    result = load_login_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "5", "15.0", "0"]


def test_a_failure_limit_of_0_turns_the_throttle_off():
    result = load_login_settings(LOGIN_FAILURE_LIMIT="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


def test_a_lockout_of_no_minutes_is_refused_at_start_up():
    result = load_login_settings(LOGIN_LOCKOUT_MINUTES="0")
    assert result.returncode != 0 and "LOGIN_LOCKOUT_MINUTES 1 or more" in result.stderr
