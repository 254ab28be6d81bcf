"""The chat on a phone, in a real browser: installable as an app (its manifest and icons, no
offline cache of anything), the sidebar a drawer, the page sized to what the keyboard leaves."""

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, open_chat

pytestmark = pytest.mark.browser


def test_the_chat_is_installable_as_an_app_with_its_name_and_icons(make_page, owner, live, settings):
    settings.SITE_NAME = "家里的 AI"
    page = open_chat(make_page(owner, viewport=PHONE))
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(manifest_url)
    assert manifest.headers["content-type"] == "application/manifest+json"
    data = manifest.json()
    assert (data["name"], data["start_url"], data["display"]) == ("家里的 AI", "/", "standalone")
    for icon in data["icons"]:
        image = page.request.get(icon["src"])
        assert image.status == 200 and image.headers["content-type"] == "image/png", icon
    assert {icon["sizes"] for icon in data["icons"] if icon.get("purpose") == "maskable"} == {"192x192", "512x512"}

    # Chromium's own verdict on the manifest: nothing keeps it from being installed (but the
    # test's private window, which no manifest changes).
    def installability_errors():
        cdp = page.context.new_cdp_session(page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        return sorted(error["errorId"] for error in errors if error["errorId"] != "in-incognito")

    assert installability_errors() == []
    # The same check of a manifest without icons: it would not install.
    page.route(f"**{manifest_url}", lambda route: route.fulfill(json={**data, "icons": []}))
    page.reload()
    assert installability_errors() != []
    # And nothing is cached for offline use: no service worker.
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then((r) => r.length)") == 0


def test_the_page_leaves_room_for_the_keyboard_and_the_notch(make_page, owner, live):
    page = open_chat(make_page(owner, viewport=PHONE))
    viewport = page.locator("meta[name=viewport]").get_attribute("content")
    assert "viewport-fit=cover" in viewport and "interactive-widget=resizes-content" in viewport
    # The page is as tall as the visible viewport: the composer ends at its bottom, so a
    # keyboard that shrinks the viewport keeps it in view.
    page.set_viewport_size({"width": 390, "height": 500})
    box = page.locator("#composer").bounding_box()
    assert 440 <= box["y"] + box["height"] <= 500


def test_the_sidebar_is_a_drawer_that_slides_over_the_conversation(make_page, owner, live):
    live(owner).create_conversation(title="Bread")
    page = open_chat(make_page(owner, viewport=PHONE))
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_hidden()
    page.click("#open-sidebar")
    expect(sidebar).to_be_visible()
    expect(page.locator("#open-sidebar")).to_have_attribute("aria-expanded", "true")
    page.click("#backdrop", position={"x": 370, "y": 400})
    expect(sidebar).to_be_hidden()
