"""The API tokens page in a real browser: a token made, shown once, used, and revoked."""

import openai
import pytest
from playwright.sync_api import expect

from chat.models import ApiToken
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser


def test_a_person_makes_a_token_uses_it_and_revokes_it(make_page, owner, asgi_server, live):
    page = open_chat(make_page(owner))
    page.click("#tokens-link")
    expect(page.locator("h1")).to_have_text("API tokens")
    expect(page.locator("#base-url")).to_have_text(f"{asgi_server.url}/v1")

    page.fill("#id_name", "Cherry Studio on my laptop")
    page.select_option("#id_models", ["fake-model"])
    page.click("#token-form button[type=submit]")
    token = page.locator("#new-token").text_content()
    assert token.startswith("sk-chat-")
    row = page.locator("table.tokens tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Cherry Studio on my laptop")
    expect(row).to_contain_text(token[:12])
    expect(row).to_contain_text("fake-model")

    client = openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=token, max_retries=0)
    assert [model.id for model in client.models.list()] == ["fake-model"]

    # Shown once: not on the page any more once it is opened again.
    page.goto("/account/tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()

    page.click("table.tokens button.danger")
    expect(page.locator("table.tokens")).to_have_count(0)
    assert ApiToken.objects.get().revoked_at is not None
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_token_needs_a_name(make_page, owner, live):
    page = make_page(owner)
    page.goto("/account/tokens/")
    page.eval_on_selector("#id_name", "(field) => field.removeAttribute('required')")
    page.click("#token-form button[type=submit]")
    expect(page.locator(".form-error")).to_contain_text("This field is required.")
    assert not ApiToken.objects.exists()


def test_a_conversation_held_through_the_api_is_marked_in_the_sidebar(make_page, owner, asgi_server, live, upstream):
    from chat import tokens

    _row, token = tokens.create(owner.pk, name="My script")
    client = openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=token, max_retries=0)
    client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "From my script"}])
    live(owner).create_conversation(title="From the page")
    page = open_chat(make_page(owner))
    api_item = page.locator(".chat-link", has_text="From my script")
    expect(api_item.locator(".api-badge")).to_have_text("API")
    expect(api_item).to_have_attribute("title", "Through the API token My script · From my script")
    expect(page.locator(".chat-link", has_text="From the page").locator(".api-badge")).to_have_count(0)
