"""
Attachments in a real browser: a file attached by the button, a screenshot pasted from the
clipboard and a file dropped on the composer, each uploaded with its chip (an image's
thumbnail); sent, the image shown in the conversation and enlarged on a click; a document
opened as its text; a chip removed before sending deletes its upload.
"""

import base64
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from chat.models import Attachment, Message
from tests.support.browser import open_chat, send
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


def png_bytes(color=(0, 128, 0), size=(64, 48)):
    output = io.BytesIO()
    Image.new("RGB", size, color).save(output, "PNG")
    return output.getvalue()


# A File in a DataTransfer, made in the page from base64: what the clipboard or a drag holds.
DATA_TRANSFER = """
([name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}
"""


@pytest.fixture
def vision(settings):
    settings.OPENAI_VISION_MODELS = ["fake-model"]


def test_a_file_attached_by_the_button_is_sent_and_the_image_shown(make_page, owner, upstream, vision):
    page = open_chat(make_page(owner))
    assert page.locator("#attach-input").get_attribute("accept").startswith("image/*")
    page.set_input_files("#attach-input", files=[{"name": "chart.png", "mimeType": "image/png", "buffer": png_bytes()}])
    chip = page.locator("#files .file-chip")
    expect(chip).to_have_count(1)
    expect(chip.locator("img")).to_have_attribute("alt", "chart.png")
    # The thumbnail is the server's re-encoded image, loaded from the site itself.
    eventually(lambda: chip.locator("img").evaluate("image => image.complete && image.naturalWidth === 64"))
    send(page, "What is in it?")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(page.locator("#files")).to_be_hidden()
    shown = page.locator(".message.user .message-image img")
    expect(shown).to_have_attribute("alt", "chart.png")
    eventually(lambda: shown.evaluate("image => image.complete && image.naturalWidth === 64"))
    parts = upstream.streamed_requests[0].body["messages"][-1]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    # Clicked: enlarged in the dialog; reloaded, the conversation shows it again.
    page.locator(".message-image").click()
    expect(page.locator("#file-dialog")).to_be_visible()
    expect(page.locator("#file-dialog-image")).to_be_visible()
    expect(page.locator("#file-dialog-title")).to_have_text("chart.png")
    page.keyboard.press("Escape")
    page.reload()
    page.wait_for_selector("#boot-message", state="detached")
    expect(page.locator(".message.user .message-image img")).to_have_attribute("alt", "chart.png")


def test_a_pasted_screenshot_is_sent_alone(make_page, owner, upstream, vision):
    page = open_chat(make_page(owner))
    page.focus("#prompt")
    page.evaluate(
        f"""([name, type, data]) => {{
          const transfer = ({DATA_TRANSFER})([name, type, data]);
          const event = new ClipboardEvent("paste", {{ clipboardData: transfer, bubbles: true, cancelable: true }});
          document.getElementById("prompt").dispatchEvent(event);
        }}""",
        ["image.png", "image/png", base64.b64encode(png_bytes((200, 0, 0))).decode()],
    )
    chip = page.locator("#files .file-chip")
    expect(chip.locator("img")).to_have_count(1)
    expect(page.locator("#prompt")).to_have_value("")
    page.press("#prompt", "Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    expect(page.locator(".message.user .message-image img")).to_have_count(1)
    # No empty bubble: the question is its image alone.
    expect(page.locator(".message.user .bubble")).to_be_hidden()
    question = Message.objects.get(role="user")
    assert question.content == "" and question.attachments.get().kind == "image"
    assert [part["type"] for part in upstream.streamed_requests[0].body["messages"][-1]["content"]] == ["image_url"]


def test_a_document_dropped_on_the_composer_is_sent_and_opens_as_text(make_page, owner, upstream):
    page = open_chat(make_page(owner))
    page.evaluate(
        f"""([name, type, data]) => {{
          const transfer = ({DATA_TRANSFER})([name, type, data]);
          const composer = document.getElementById("composer");
          for (const kind of ["dragenter", "dragover", "drop"]) {{
            composer.dispatchEvent(new DragEvent(kind, {{ dataTransfer: transfer, bubbles: true, cancelable: true }}));
          }}
        }}""",
        ["notes.md", "text/markdown", base64.b64encode(b"# Plan\n\nShip on Friday.").decode()],
    )
    chip = page.locator("#files .file-chip")
    expect(chip.locator(".file-name")).to_have_text("notes.md")
    expect(chip.locator("progress")).to_have_count(0)
    expect(page.locator("#composer")).not_to_have_class("composer dropping")
    send(page, "When do we ship?")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    texts = [part["text"] for part in upstream.streamed_requests[0].body["messages"][-1]["content"]]
    assert texts == ["When do we ship?", "[File: notes.md]\n# Plan\n\nShip on Friday."]
    page.locator(".message-document").click()
    expect(page.locator("#file-dialog-text")).to_have_text("# Plan\n\nShip on Friday.")


def test_a_chip_removed_before_sending_deletes_its_upload(make_page, owner, upstream):
    page = open_chat(make_page(owner))
    page.set_input_files(
        "#attach-input", files=[{"name": "wrong.txt", "mimeType": "text/plain", "buffer": b"Not this one"}]
    )
    expect(page.locator("#files .file-chip progress")).to_have_count(0)
    assert eventually(lambda: Attachment.objects.count() == 1)
    page.locator("#files [data-action='remove-file']").click()
    expect(page.locator("#files")).to_be_hidden()
    assert eventually(lambda: not Attachment.objects.exists())


def test_a_refused_file_is_said_and_a_refused_message_keeps_its_files(make_page, owner, upstream, vision):
    page = open_chat(make_page(owner))
    page.set_input_files(
        "#attach-input", files=[{"name": "tool.png", "mimeType": "image/png", "buffer": b"\x7fELF" + b"\0" * 64}]
    )
    expect(page.locator("#notice")).to_contain_text("tool.png is a program")
    expect(page.locator("#files")).to_be_hidden()
    # An image to a model that takes none: refused, and the image stays in the composer.
    page.select_option("#model", "fake-other")
    page.set_input_files("#attach-input", files=[{"name": "a.png", "mimeType": "image/png", "buffer": png_bytes()}])
    expect(page.locator("#files .file-chip img")).to_have_count(1)
    send(page, "See?")
    expect(page.locator("#notice")).to_contain_text("does not take images. Models that do: fake-model.")
    expect(page.locator("#files .file-chip img")).to_have_count(1)
    expect(page.locator("#prompt")).to_have_value("See?")


def test_text_pasted_with_a_picture_of_it_is_pasted_as_text(make_page, owner, upstream):
    """An office program puts a picture of the text copied beside it: the text is what is meant."""
    page = open_chat(make_page(owner))
    page.focus("#prompt")
    pasted = page.evaluate(
        f"""([name, type, data]) => {{
          const transfer = ({DATA_TRANSFER})([name, type, data]);
          transfer.setData("text/plain", "Copied from a spreadsheet");
          const event = new ClipboardEvent("paste", {{ clipboardData: transfer, bubbles: true, cancelable: true }});
          return document.getElementById("prompt").dispatchEvent(event);
        }}""",
        ["image.png", "image/png", base64.b64encode(png_bytes()).decode()],
    )
    assert pasted, "the paste was left to the browser"
    expect(page.locator("#files")).to_be_hidden()
    assert not Attachment.objects.exists()
