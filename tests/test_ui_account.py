"""The account pages in a real browser: sign-up's errors, the person's settings, their password."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from chat.models import Conversation, Profile
from tests.support.browser import open_chat, send
from tests.support.fake_upstream import Script

pytestmark = pytest.mark.browser


def field_of(page, name):
    """The form field (label, input, errors, help) of the input named `name`."""
    return page.locator(".field", has=page.locator(f"input[name={name}]"))


def test_sign_up_shows_a_weak_passwords_errors_under_the_password_field(make_page, settings):
    settings.SIGNUP_ENABLED = True
    page = make_page()
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password1]", "12345678")
    page.fill("input[name=password2]", "12345678")
    page.click("button[type=submit]")
    expect(field_of(page, "password1").locator(".form-error")).to_contain_text("This password is too common.")
    expect(field_of(page, "password1").locator(".form-error")).to_contain_text("entirely numeric")
    expect(field_of(page, "password2").locator(".form-error")).to_have_count(0)
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_sign_up_shows_a_mismatch_under_the_confirmation(make_page, settings):
    settings.SIGNUP_ENABLED = True
    page = make_page()
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password1]", "a-long-pass-phrase-9")
    page.fill("input[name=password2]", "another-pass-phrase-9")
    page.click("button[type=submit]")
    expect(field_of(page, "password2").locator(".form-error")).to_contain_text("didn’t match")
    expect(field_of(page, "password1").locator(".form-error")).to_have_count(0)


def test_a_person_sets_their_defaults_and_a_new_chat_starts_with_them(make_page, owner, upstream):
    page = open_chat(make_page(owner))
    page.click("#settings-link")
    expect(page.locator("h1")).to_have_text("Your settings")
    page.fill("#id_display_name", "Olivia")
    page.select_option("#id_default_model", "fake-other")
    page.fill("#id_custom_instructions", "Answer in haiku.")
    page.click("#account-form button[type=submit]")
    expect(page.locator(".saved")).to_have_text("Your settings are saved.")
    expect(page.locator("#id_custom_instructions")).to_have_value("Answer in haiku.")

    page.click(".back-link a")
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator("#account-link .username")).to_have_text("Olivia")
    expect(page.locator("#model")).to_have_value("fake-other")
    # The system prompt panel starts with them, and still edits this chat's own.
    expect(page.locator("#settings-toggle")).to_have_class(re.compile(r"\bactive\b"))
    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value("Answer in haiku.")
    page.click("#settings-close")
    upstream.push(Script(words=["An old ", "silent pond"]))
    send(page, "Write about a pond")
    expect(page.locator(".message.assistant").last).to_contain_text("An old silent pond")
    conversation = Conversation.objects.get()
    assert (conversation.model, conversation.system_prompt) == ("fake-other", "Answer in haiku.")
    assert upstream.streamed_requests[-1].body["messages"][0] == {"role": "system", "content": "Answer in haiku."}

    # A new chat starts with them again, even after this chat's prompt was changed.
    page.click("#settings-toggle")
    page.fill("#system-prompt", "Answer in prose.")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    page.click("#new-chat")
    expect(page.locator("#system-prompt")).to_have_value("Answer in haiku.")


def test_a_bad_setting_is_shown_under_its_field_and_nothing_is_saved(make_page, owner, settings):
    settings.CHAT_MAX_SYSTEM_PROMPT_CHARS = 10
    page = make_page(owner)
    page.goto("/account/")
    page.fill("#id_display_name", "Olivia")
    page.fill("#id_custom_instructions", "far more than ten characters")
    page.click("#account-form button[type=submit]")
    error = page.locator(".field", has=page.locator("#id_custom_instructions")).locator(".form-error")
    expect(error).to_contain_text("at most 10 characters")
    assert not Profile.objects.exists()
    owner.refresh_from_db()
    assert owner.first_name == ""


def test_the_language_saved_is_the_pages_language_at_once_and_after_the_next_login(make_page, owner, asgi_server):
    page = make_page(owner)
    page.goto("/account/")
    page.select_option("#id_language", "zh-hans")
    page.click("#account-form button[type=submit]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).not_to_have_text("Your settings")

    # Another browser, in English, logging in: the pages follow the language saved.
    other = make_page(locale="en-US")
    other.goto("/accounts/login/")
    expect(other.locator("html")).to_have_attribute("lang", "en")
    other.fill("input[name=username]", "owner")
    other.fill("input[name=password]", "owner-password")
    other.click("button[type=submit]")
    other.wait_for_url(f"{asgi_server.url}/")
    expect(other.locator("html")).to_have_attribute("lang", "zh-hans")


def test_the_theme_saved_follows_the_person_to_another_browser(make_page, owner):
    page = open_chat(make_page(owner, color_scheme="light"))
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    page.locator("#sidebar [data-theme-toggle]").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.wait_for_function("document.documentElement.dataset.themeChoice === 'dark'")
    page.goto("/account/")
    expect(page.locator("#id_theme")).to_have_value("dark")

    # Another browser (its system light) shows the dark theme saved, and the settings page
    # changes it back to the device's.
    other = open_chat(make_page(owner, color_scheme="light"))
    expect(other.locator("html")).to_have_attribute("data-theme", "dark")
    other.goto("/account/")
    other.select_option("#id_theme", "system")
    other.click("#account-form button[type=submit]")
    expect(other.locator("html")).to_have_attribute("data-theme", "light")
    assert other.evaluate("localStorage.getItem('theme')") is None
    assert Profile.objects.get(user=owner).theme == "system"


def test_a_person_changes_their_password_from_their_settings(make_page, owner):
    page = make_page(owner)
    page.goto("/account/")
    page.click("#password-change-link")
    page.fill("input[name=old_password]", "owner-password")
    page.fill("input[name=new_password1]", "12345678")
    page.fill("input[name=new_password2]", "12345678")
    page.click("#account-form button[type=submit]")
    expect(field_of(page, "new_password1").locator(".form-error")).to_contain_text("This password is too common.")
    expect(field_of(page, "new_password2").locator(".form-error")).to_have_count(0)

    page.fill("input[name=old_password]", "owner-password")
    page.fill("input[name=new_password1]", "a-new-pass-phrase-7")
    page.fill("input[name=new_password2]", "a-new-pass-phrase-7")
    page.click("#account-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Password changed")
    owner.refresh_from_db()
    assert owner.check_password("a-new-pass-phrase-7")
    page.click(".auth-switch a")
    page.wait_for_selector("#boot-message", state="detached")


def test_a_forgotten_password_is_reset_through_the_mailed_link(make_page, owner, settings, mailoutbox):
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    settings_page = make_page(owner)
    settings_page.goto("/account/")
    settings_page.fill("#id_email", "owner@example.com")
    settings_page.click("#account-form button[type=submit]")
    expect(settings_page.locator(".saved")).to_be_visible()

    page = make_page()
    page.goto("/accounts/login/")
    page.click("text=Forgot password?")
    page.fill("input[name=email]", "owner@example.com")
    page.click("#account-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    assert len(mailoutbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", mailoutbox[0].body)[0]
    page.goto(link)
    page.fill("input[name=new_password1]", "a-new-pass-phrase-7")
    page.fill("input[name=new_password2]", "a-new-pass-phrase-7")
    page.click("#account-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Password changed")
    page.click(".auth-switch a")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "a-new-pass-phrase-7")
    page.click("button[type=submit]")
    page.wait_for_selector("#boot-message", state="detached")


def test_the_login_page_names_the_site_and_shows_its_notice(make_page, settings):
    settings.SITE_NAME = "Acme Chat"
    settings.SITE_NOTICE = "Use of this service follows the Acme terms."
    page = make_page()
    page.goto("/accounts/login/")
    expect(page).to_have_title("Log in · Acme Chat")
    expect(page.locator(".site-name")).to_have_text("Acme Chat")
    expect(page.locator(".site-notice")).to_have_text("Use of this service follows the Acme terms.")
