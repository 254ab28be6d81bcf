"""The "Your data" page and a conversation's downloads in a real browser: a ChatGPT export
previewed, then imported; everything downloaded; one conversation downloaded as Markdown."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat.models import Conversation
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser

CHATGPT = Path(__file__).parent / "fixtures" / "chatgpt-conversations.json"


def test_a_chatgpt_export_is_previewed_then_imported_into_the_sidebar(make_page, owner, live):
    page = open_chat(make_page(owner))
    page.click("#data-link")
    expect(page.locator("h1")).to_have_text("Your data")

    page.set_input_files("#import-file", str(CHATGPT))
    expect(page.locator("#import-counts")).to_have_text(
        "To import: 2 conversations, 6 messages, 0 presets. Already imported: 0."
    )
    expect(page.locator("#import-titles li")).to_have_text(["数据库 索引", "New chat"])
    expect(page.locator("#import-skipped li")).to_have_text(["Broken one: Its messages cannot be read."])
    assert not Conversation.objects.exists()  # a preview writes nothing

    page.click("#import-confirm")
    expect(page.locator("#import-status")).to_have_text("Imported 2 conversations with 6 messages.")
    assert Conversation.objects.filter(owner=owner).count() == 2

    page.click("#import-done-link a")
    expect(page.locator(".chat-link", has_text="数据库 索引")).to_be_visible()

    # The same file again: nothing new, and no button to import it.
    page.goto("/account/data/")
    page.set_input_files("#import-file", str(CHATGPT))
    expect(page.locator("#import-counts")).to_contain_text("Already imported: 2.")
    expect(page.locator("#import-confirm")).to_be_hidden()
    expect(page.locator("#import-status")).to_have_text("Nothing new to import.")


def test_a_file_that_is_no_export_is_refused_with_the_servers_words(make_page, owner, live, tmp_path):
    page = make_page(owner)
    page.goto("/account/data/")
    notes = tmp_path / "notes.json"
    notes.write_text('{"hello": "world"}')
    page.set_input_files("#import-file", str(notes))
    expect(page.locator("#import-status")).to_have_text("notes.json is not an export this server knows.")
    expect(page.locator("#import-preview")).to_be_hidden()
    assert not Conversation.objects.exists()


def test_everything_and_one_conversation_download_from_the_page(make_page, owner, live):
    client = live(owner)
    conversation_id = client.create_conversation(title="Bread at home")
    page = make_page(owner)
    page.goto("/account/data/")
    with page.expect_download() as download:
        page.click("#export-all")
    data = json.loads(Path(download.value.path()).read_text())
    assert [c["title"] for c in data["conversations"]] == ["Bread at home"]

    page.goto(f"/c/{conversation_id}/")
    page.click("#settings-toggle")
    with page.expect_download() as download:
        page.click("#export-markdown")
    assert download.value.suggested_filename == f"bread-at-home-{conversation_id}.md"
    assert Path(download.value.path()).read_text().startswith("# Bread at home\n")

    # A new conversation has nothing to download yet.
    page.click("#new-chat")
    if page.locator("#settings").is_hidden():
        page.click("#settings-toggle")
    expect(page.locator("#settings")).to_be_visible()
    expect(page.locator("#export-links")).to_be_hidden()
