"""
Fixtures for the end-to-end tests: Debian's chromium, driven by Playwright for Python, against
the app served by the live uvicorn server (the `live` fixture) with the fake upstream, and the
helpers of the tests that drive the page.

Playwright's own browser download is not used: `make browser` installs chromium with apt-get.
Without chromium these tests fail; they never skip.
"""

import os
import shutil

import pytest
from django.conf import settings

from tests.support.live import session_cookie_for

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_path():
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if not path:
        pytest.fail("chromium is not installed: run `make browser` (as root it installs it with apt-get).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, so Django would take
    # the tests' own (synchronous) database calls for calls from async code and refuse them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def make_page(browser, asgi_server, live):
    """Opens a fresh browser context (cookies, storage) and page; logged in as `user` if given.
    `bypass_csp`: the browser ignores the pages' Content-Security-Policy, to test what the
    page's own defences do without it."""
    contexts = []
    pages = []

    def make(
        user=None, *, viewport=DESKTOP, locale="en-US", color_scheme="light", clipboard=False, scale=1, bypass_csp=False
    ):
        context = browser.new_context(
            base_url=asgi_server.url,
            viewport=viewport,
            locale=locale,
            color_scheme=color_scheme,
            device_scale_factor=scale,
            bypass_csp=bypass_csp,
        )
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie_for(user), "url": asgi_server.url}]
            )
        if clipboard:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_server.url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.errors = []
        page.dialogs = []
        page.on("pageerror", lambda error: page.errors.append(error))

        def dialog_opened(dialog):
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dialog_opened)
        pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    for page in pages:
        assert not page.errors, f"uncaught errors in the page: {page.errors}"


def open_chat(page, path="/"):
    """Loads a chat page and waits for its script to have started."""
    page.goto(path)
    page.wait_for_selector("#boot-message", state="detached")
    return page


def send(page, text):
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
