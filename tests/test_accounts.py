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


NEWCOMER = {"username": "newcomer", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}


def newcomer_exists():
    return get_user_model().objects.filter(username="newcomer").exists()


def test_with_approval_required_a_new_account_waits_inactive_and_is_not_logged_in(client, settings):
    settings.SIGNUP_ENABLED = settings.SIGNUP_REQUIRES_APPROVAL = True
    response = client.post("/accounts/signup/", NEWCOMER)
    assert response.status_code == 302 and response.url == "/accounts/signup/"
    page = client.get(response.url).content.decode()
    assert "Your account waits for approval" in page and "newcomer" in page
    assert not get_user_model().objects.get(username="newcomer").is_active
    assert client.get("/").status_code == 302
    # Shown once: the sign-up page is the form again afterwards.
    assert 'name="password1"' in client.get("/accounts/signup/").content.decode()


def test_logging_in_before_approval_says_the_account_waits_rather_than_wrong_password(client, settings):
    settings.SIGNUP_ENABLED = settings.SIGNUP_REQUIRES_APPROVAL = True
    client.post("/accounts/signup/", NEWCOMER)
    response = client.post("/accounts/login/", {"username": "newcomer", "password": NEWCOMER["password1"]})
    body = response.content.decode()
    assert response.status_code == 200 and "Your account waits for approval" in body and "didn" not in body
    assert client.get("/").status_code == 302
    # A wrong password says nothing of the account.
    response = client.post("/accounts/login/", {"username": "newcomer", "password": "not-the-password"})
    body = response.content.decode()
    assert "didn" in body and "waits for approval" not in body


def test_once_a_staff_member_activates_it_the_account_logs_in(client, settings):
    settings.SIGNUP_ENABLED = settings.SIGNUP_REQUIRES_APPROVAL = True
    client.post("/accounts/signup/", NEWCOMER)
    get_user_model().objects.filter(username="newcomer").update(is_active=True)
    response = client.post("/accounts/login/", {"username": "newcomer", "password": NEWCOMER["password1"]})
    assert response.status_code == 302 and client.get("/").status_code == 200


def test_a_deactivated_account_that_logged_in_before_is_not_told_it_waits(client, owner):
    client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    client.post("/accounts/logout/")
    get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
    body = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"}).content.decode()
    assert "didn" in body and "waits for approval" not in body


def test_without_approval_required_the_new_account_is_active(client, settings):
    settings.SIGNUP_ENABLED, settings.SIGNUP_REQUIRES_APPROVAL = True, False
    client.post("/accounts/signup/", NEWCOMER)
    assert get_user_model().objects.get(username="newcomer").is_active


def test_with_invite_codes_the_right_code_creates_the_account(client, settings):
    settings.SIGNUP_ENABLED, settings.SIGNUP_INVITE_CODES = True, ["first-code", "second-code"]
    assert 'name="invite_code"' in client.get("/accounts/signup/").content.decode()
    response = client.post("/accounts/signup/", {**NEWCOMER, "invite_code": "second-code"})
    assert response.status_code == 302 and newcomer_exists()


@pytest.mark.parametrize("code", ["wrong-code", "", "second-cod", "second-code-and-more", "第二"])
def test_with_invite_codes_a_wrong_or_missing_code_is_a_form_error_and_creates_nothing(client, settings, code):
    settings.SIGNUP_ENABLED, settings.SIGNUP_INVITE_CODES = True, ["first-code", "second-code"]
    response = client.post("/accounts/signup/", {**NEWCOMER, "invite_code": code})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert "invite_code" in response.context["form"].errors
    assert not code or "This invite code is not valid." in response.content.decode()
    assert not newcomer_exists()


def test_without_invite_codes_listed_no_code_is_asked(client, settings):
    settings.SIGNUP_ENABLED, settings.SIGNUP_INVITE_CODES = True, []
    assert 'name="invite_code"' not in client.get("/accounts/signup/").content.decode()
    assert client.post("/accounts/signup/", NEWCOMER).status_code == 302 and newcomer_exists()
