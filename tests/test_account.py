"""
A person's own account: their settings page and its JSON form (/api/account/), the defaults new
conversations take from it, changing their password, resetting a forgotten one by e-mail when a
mail server is configured, and what the login page says on the first start.
"""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Profile

pytestmark = pytest.mark.django_db

SETTINGS = {
    "display_name": "Olivia Owner",
    "email": "olivia@example.com",
    "language": "zh-hans",
    "theme": "dark",
    "default_model": "fake-other",
    "custom_instructions": "Answer in haiku.",
}


def patch(client, data):
    return client.patch("/api/account/", json.dumps(data), content_type="application/json")


# --- The settings page ----------------------------------------------------------------------


def test_the_settings_page_needs_a_login(client):
    response = client.get("/account/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_a_person_saves_their_settings_and_sees_them_again(owner_client, owner):
    page = owner_client.get("/account/").content.decode()
    assert 'name="custom_instructions"' in page and "/accounts/password/change/" in page and "/account/tokens/" in page
    response = owner_client.post("/account/", SETTINGS)
    assert response.status_code == 302 and response.url == "/account/?saved=1"
    owner.refresh_from_db()
    profile = Profile.objects.get(user=owner)
    assert (owner.first_name, owner.email) == ("Olivia Owner", "olivia@example.com")
    assert (profile.language, profile.theme, profile.default_model, profile.custom_instructions) == (
        "zh-hans",
        "dark",
        "fake-other",
        "Answer in haiku.",
    )
    # The language applies from the next page on, through Django's language cookie.
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = owner_client.get("/account/?saved=1").content.decode()
    assert 'lang="zh-hans"' in page and "Answer in haiku." in page and 'data-theme-choice="dark"' in page


def test_the_settings_of_one_person_are_not_anothers(owner_client, outsider_client, owner, outsider):
    owner_client.post("/account/", SETTINGS)
    page = outsider_client.get("/account/").content.decode()
    assert "Answer in haiku." not in page and "Olivia Owner" not in page
    assert outsider_client.get("/api/account/").json()["custom_instructions"] == ""
    patch(outsider_client, {"custom_instructions": "Mine."})
    assert Profile.objects.get(user=owner).custom_instructions == "Answer in haiku."
    assert Profile.objects.get(user=outsider).custom_instructions == "Mine."


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("theme", "purple", "Select a valid choice."),
        ("language", "klingon", "Select a valid choice."),
        ("default_model", "no-such-model", "Select a valid choice."),
        ("display_name", "x" * 151, "Ensure this value has at most 150 characters"),
        ("email", "not an address", "Enter a valid email address."),
        ("custom_instructions", "x" * 8001, "Ensure this value has at most 8000 characters"),
    ],
)
def test_a_bad_setting_is_a_clear_error_and_changes_nothing(owner_client, owner, field, value, error):
    english = {**SETTINGS, "language": "en"}
    owner_client.post("/account/", english)
    response = owner_client.post("/account/", {**english, "display_name": "Changed", field: value})
    assert response.status_code == 200 and error in response.content.decode()
    owner.refresh_from_db()
    assert owner.first_name == "Olivia Owner"
    assert Profile.objects.get(user=owner).custom_instructions == "Answer in haiku."

    response = patch(owner_client, {field: value})
    assert response.status_code == 400
    assert response.json()["field"] == field and error in response.json()["error"]
    assert Profile.objects.get(user=owner).theme == "dark"


@pytest.fixture
def allowed_only(owner):
    """The owner may use only the models given (an allowance of theirs in the admin)."""
    from chat import limits
    from chat.models import Allowance

    def allow(*models):
        Allowance.objects.create(user=owner, allowed_models="\n".join(models))
        limits.reset()

    yield allow
    limits.reset()  # the rollback of the allowance sends no signal


def test_a_model_the_person_may_not_use_cannot_be_their_default(owner_client, owner, allowed_only):
    allowed_only("fake-model")
    assert "fake-other" not in owner_client.get("/account/").content.decode()
    response = patch(owner_client, {"default_model": "fake-other"})
    assert response.status_code == 400 and response.json()["field"] == "default_model"
    assert not Profile.objects.exists()


def test_the_json_form_reads_and_patches_the_fields_given(owner_client, owner):
    assert owner_client.get("/api/account/").json() == {
        "display_name": "",
        "email": "",
        "language": "",
        "theme": "system",
        "default_model": "",
        "custom_instructions": "",
    }
    response = patch(owner_client, {"theme": "light"})
    assert response.status_code == 200 and response.json()["theme"] == "light"
    assert response.json()["custom_instructions"] == ""
    response = patch(owner_client, {"display_name": "Olivia", "custom_instructions": "Be brief."})
    assert response.json() == {**response.json(), "theme": "light", "display_name": "Olivia"}
    owner.refresh_from_db()
    assert owner.first_name == "Olivia"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"colour": "red"}, "colour"), ({"theme": 3}, "theme"), ({"custom_instructions": None}, "custom_instructions")],
)
def test_the_json_form_refuses_unknown_fields_and_non_strings(owner_client, body, field):
    response = patch(owner_client, body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert not Profile.objects.exists()


def test_the_json_form_needs_a_login_and_the_csrf_header(client, owner):
    assert client.get("/api/account/").status_code == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert patch(strict, {"theme": "dark"}).status_code == 403
    assert not Profile.objects.exists()


# --- What new conversations take from them ---------------------------------------------------


def test_new_conversations_start_with_the_persons_default_model_and_custom_instructions(owner_client, owner):
    owner_client.post("/account/", SETTINGS)
    config = owner_client.get("/").context["config"]
    assert config["default_model"] == "fake-other" and config["custom_instructions"] == "Answer in haiku."
    assert owner_client.get("/api/models/").json()["default"] == "fake-other"
    made = owner_client.post("/api/chats/", {}, content_type="application/json").json()
    assert made["model"] == "fake-other" and made["system_prompt"] == "Answer in haiku."
    # Still the conversation's own: a script (or the page) may give another, or none.
    made = owner_client.post(
        "/api/chats/", {"model": "fake-model", "system_prompt": ""}, content_type="application/json"
    ).json()
    assert made["model"] == "fake-model" and made["system_prompt"] == ""


def test_a_default_model_no_longer_allowed_falls_back_to_the_sites(owner_client, owner, allowed_only):
    owner_client.post("/account/", SETTINGS)
    allowed_only("fake-model", "demo")
    assert owner_client.get("/api/models/").json()["default"] == "fake-model"
    assert owner_client.post("/api/chats/", {}, content_type="application/json").json()["model"] == "fake-model"
    assert owner_client.get("/api/account/").json()["default_model"] == ""


def test_without_settings_saved_new_conversations_take_the_sites_defaults(owner_client, outsider_client):
    outsider_client.post("/account/", SETTINGS)
    made = owner_client.post("/api/chats/", {}, content_type="application/json").json()
    assert made["model"] == "fake-model" and made["system_prompt"] == ""
    assert Conversation.objects.count() == 1


def test_the_language_saved_applies_at_the_next_login(client, owner):
    Profile.objects.create(user=owner, language="zh-hans")
    response = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert response.status_code == 302
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert 'lang="zh-hans"' in client.get("/").content.decode()


def test_the_browsers_language_when_none_is_saved(owner_client, owner, client):
    owner_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = owner_client.post("/account/", {**SETTINGS, "language": ""})
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME]["max-age"] == 0  # deleted
    response = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert django_settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_language_picked_at_the_foot_of_a_page_is_saved_in_the_persons_settings(owner_client, owner, client):
    response = owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    assert Profile.objects.get(user=owner).language == "zh-hans"
    # So the next login keeps it, where it would have applied the settings' older choice.
    response = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


def test_a_language_not_offered_or_a_visitors_pick_saves_nothing(owner_client, owner, client):
    owner_client.post("/i18n/setlang/", {"language": "klingon", "next": "/"})
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert not Profile.objects.exists()


# --- Passwords ------------------------------------------------------------------------------

NEW_PASSWORD = {"new_password1": "a-new-pass-phrase-7", "new_password2": "a-new-pass-phrase-7"}


def test_a_person_changes_their_own_password(owner):
    client = Client()
    client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    other_browser = Client()
    other_browser.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert "/accounts/password/change/" in client.get("/account/").content.decode()
    response = client.post(
        "/accounts/password/change/",
        {"old_password": "owner-password", **NEW_PASSWORD},
    )
    assert response.status_code == 302 and response.url == "/accounts/password/change/done/"
    assert "Password changed" in client.get(response.url).content.decode()
    owner.refresh_from_db()
    assert owner.check_password("a-new-pass-phrase-7")
    # This browser stays logged in; another one is logged out.
    assert client.get("/").status_code == 200
    assert other_browser.get("/").status_code == 302


def test_a_wrong_old_password_or_a_weak_new_one_changes_nothing(owner_client, owner):
    response = owner_client.post(
        "/accounts/password/change/",
        {"old_password": "wrong", **NEW_PASSWORD},
    )
    assert response.status_code == 200 and "Your old password was entered incorrectly" in response.content.decode()
    response = owner_client.post(
        "/accounts/password/change/",
        {"old_password": "owner-password", "new_password1": "12345678", "new_password2": "12345678"},
    )
    form = response.context["form"]
    assert "This password is too common." in form.errors["new_password1"]
    assert "new_password2" not in form.errors
    owner.refresh_from_db()
    assert owner.check_password("owner-password")


def test_changing_a_password_needs_a_login(client):
    assert client.get("/accounts/password/change/").status_code == 302


def test_without_a_mail_server_there_is_no_password_reset(client, settings):
    settings.EMAIL_URL = ""
    assert "/accounts/password/reset/" not in client.get("/accounts/login/").content.decode()
    for path in (
        "/accounts/password/reset/",
        "/accounts/password/reset/sent/",
        "/accounts/password/reset/MQ/set-password/",
        "/accounts/password/reset/complete/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post("/accounts/password/reset/", {"email": "owner@example.com"}).status_code == 404
    assert not mail.outbox


def test_with_a_mail_server_a_forgotten_password_is_reset_through_the_mailed_link(client, owner, settings):
    # pytest-django sends Django's mail to its locmem backend, mail.outbox.
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    settings.SITE_NAME = "Acme Chat"
    owner.email = "owner@example.com"
    owner.save()
    login_page = client.get("/accounts/login/").content.decode()
    assert "/accounts/password/reset/" in login_page and "Forgot password?" in login_page

    response = client.post("/accounts/password/reset/", {"email": "owner@example.com"})
    assert response.status_code == 302 and response.url == "/accounts/password/reset/sent/"
    assert client.get(response.url).status_code == 200
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@example.com"]
    assert "Acme Chat" in mail.outbox[0].subject and "owner" in mail.outbox[0].body
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)[1]

    form_url = client.get(link).url  # Django moves the token out of the URL into the session
    response = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert "This password is too common." in response.context["form"].errors["new_password1"]
    response = client.post(form_url, NEW_PASSWORD)
    assert response.status_code == 302 and response.url == "/accounts/password/reset/complete/"
    owner.refresh_from_db()
    assert owner.check_password("a-new-pass-phrase-7")
    # The link works once.
    assert "This link is not valid" in client.get(link, follow=True).content.decode()


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, owner, settings):
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == "/accounts/password/reset/sent/"
    assert not mail.outbox


def test_a_reset_link_is_mailed_to_an_account_at_most_every_ten_minutes(client, owner, settings):
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    owner.email = "owner@example.com"
    owner.save()
    for _ in range(3):
        response = client.post("/accounts/password/reset/", {"email": "owner@example.com"})
        # The page says the same, whether a link went or not.
        assert response.status_code == 302 and response.url == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1

    Profile.objects.update(password_reset_sent_at=timezone.now() - timedelta(minutes=10))
    client.post("/accounts/password/reset/", {"email": "owner@example.com"})
    assert len(mail.outbox) == 2


def test_a_password_reset_through_the_link_ends_the_accounts_lockout(client, owner, settings):
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    owner.email = "owner@example.com"
    owner.save()
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "owner", "password": "a-wrong-guess"})
    response = Client().post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert response.status_code == 429

    client.post("/accounts/password/reset/", {"email": "owner@example.com"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)[1]
    client.post(client.get(link).url, NEW_PASSWORD)
    response = Client().post("/accounts/login/", {"username": "owner", "password": NEW_PASSWORD["new_password1"]})
    assert response.status_code == 302


def test_a_mail_url_configures_djangos_mail_settings():
    import environ

    config = environ.Env.email_url_config("smtp+tls://user:secret@smtp.example.com:587")
    assert config["EMAIL_HOST"] == "smtp.example.com" and config["EMAIL_PORT"] == 587
    assert config["EMAIL_USE_TLS"] is True and config["EMAIL_HOST_PASSWORD"] == "secret"


# --- The login page -------------------------------------------------------------------------


def test_on_the_first_start_the_login_page_says_where_the_password_is(client, capsys):
    call_command("ensureadmin")
    capsys.readouterr()
    page = client.get("/accounts/login/").content.decode()
    assert "make run" in page and "changepassword" in page
    # Nothing of the account itself.
    hint = page.split('class="first-start"')[1].split("</p>")[0]
    assert "admin" not in hint.replace("administrator", "").replace("ensureadmin", "")


def test_after_the_first_login_the_login_page_says_nothing_of_it(client, capsys):
    call_command("ensureadmin")
    password = capsys.readouterr().out.split("Password: ")[1].split()[0]
    client.post("/accounts/login/", {"username": "admin", "password": password})
    client.post("/accounts/logout/")
    assert "first-start" not in client.get("/accounts/login/").content.decode()


def test_with_other_accounts_the_login_page_says_nothing_of_the_first_start(client, capsys, owner):
    get_user_model().objects.create_superuser("root", password="root-password")
    assert "first-start" not in client.get("/accounts/login/").content.decode()


# --- Branding -------------------------------------------------------------------------------


def test_the_site_name_notice_and_logo_are_on_the_login_signup_and_chat_pages(client, owner_client, settings):
    settings.SITE_NAME = "Acme Chat"
    settings.SITE_NOTICE = "Use of this service follows the Acme terms."
    settings.SITE_LOGO_URL = "/static/chat/icon.svg"
    settings.SIGNUP_ENABLED = True
    for page in (client.get("/accounts/login/"), client.get("/accounts/signup/")):
        body = page.content.decode()
        assert "<title>Log in · Acme Chat</title>" in body or "<title>Sign up · Acme Chat</title>" in body
        assert "Use of this service follows the Acme terms." in body
        assert 'src="/static/chat/icon.svg"' in body
    body = owner_client.get("/").content.decode()
    assert "<title>Acme Chat</title>" in body and "Use of this service follows the Acme terms." in body
    assert owner_client.get("/").context["config"]["strings"]["appName"] == "Acme Chat"


def test_without_branding_the_pages_use_the_products_name_in_the_pages_language(client, settings):
    settings.SITE_NAME = settings.SITE_NOTICE = settings.SITE_LOGO_URL = ""
    body = client.get("/accounts/login/").content.decode()
    assert "<title>Log in · Chat</title>" in body and "site-notice" not in body and "site-logo" not in body
    body = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert re.search(r"<title>\S+ · (\S+)</title>", body)[1] != "Chat"


def test_the_notice_is_text_not_markup(client, settings):
    settings.SITE_NOTICE = "<script>alert(1)</script>"
    body = client.get("/accounts/login/").content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_staff_see_a_persons_settings_on_their_user_page(admin_client, owner):
    Profile.objects.create(user=owner, language="zh-hans", custom_instructions="Answer in haiku.")
    body = admin_client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    assert "Answer in haiku." in body
    assert 'name="profile-0-language"' in body and 'value="zh-hans"' in body
