"""Log in, log out, sign-up behind a switch, and the first administrator."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_login_and_logout(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "wrong"})
    assert response.status_code == 200
    assert "didn" in response.content.decode()


def test_signup_is_off_by_default(client, settings):
    settings.SIGNUP_ENABLED = False
    assert client.get("/accounts/signup/").status_code == 404
    assert "/accounts/signup/" not in client.get("/accounts/login/").content.decode()


def test_signup_when_turned_on_creates_and_logs_in(client, settings):
    settings.SIGNUP_ENABLED = True
    assert "/accounts/signup/" in client.get("/accounts/login/").content.decode()
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="newcomer").exists()
    assert client.get("/").status_code == 200


def test_first_start_creates_an_admin_and_prints_the_password_once(capsys, client):
    call_command("ensureadmin")
    out = capsys.readouterr().out
    password = out.split("Password: ")[1].split()[0]
    admin = get_user_model().objects.get()
    assert admin.is_superuser and admin.check_password(password)
    call_command("ensureadmin")
    assert capsys.readouterr().out == ""
    assert get_user_model().objects.count() == 1
    assert client.post("/accounts/login/", {"username": "admin", "password": password}).status_code == 302


def test_chat_page_shows_models_and_user(client, owner):
    client.force_login(owner)
    body = client.get("/").content.decode()
    assert 'id="chat-config"' in body and "fake-other" in body and "owner" in body
