"""
Attachments (chat/files.py): uploads judged by their content, images re-encoded without their
metadata, documents' text; sent with a question and again with later turns; private to their
owner; gone with their conversation; within the storage quota.
"""

import base64
import io
import json
import os
from datetime import timedelta

import docx
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import ExifTags, Image
from pypdf import PdfReader, PdfWriter

from chat.models import Attachment, Conversation, Message, Share

pytestmark = pytest.mark.django_db


# --- Files made here ------------------------------------------------------------------------


def photo(size=(3000, 1500), format="JPEG"):
    """A photo as a phone takes it: with the camera's name and where it was taken (GPS)."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 40, 220), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Owner's Phone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (39.0, 54.0, 27.0)
    output = io.BytesIO()
    image.save(output, format, exif=exif)
    data = output.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "the test photo has its GPS"
    return data


def png(size=(40, 30)):
    output = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 255)).save(output, "PNG")
    return output.getvalue()


def pdf_with_text(text):
    """A one-page PDF that draws `text`, written by hand: a catalogue, a page, a font, a content stream."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    output = io.BytesIO()
    output.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(output.tell())
        output.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = output.tell()
    output.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        output.write(b"%010d 00000 n \n" % offset)
    output.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return output.getvalue()


def protected_pdf():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("Salaries"))))
    writer.encrypt("secret")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def word_document(text):
    document = docx.Document()
    document.add_heading("Minutes", level=1)
    document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Budget", "approved"
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def upload(client, name, data):
    file = io.BytesIO(data)
    file.name = name
    return client.post("/api/files/", {"file": file})


def uploaded(client, name, data):
    response = upload(client, name, data)
    assert response.status_code == 201, response.content
    return response.json()


def stored_files(media_root):
    folder = media_root / "files"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def image_of_data_url(url):
    header, _, encoded = url.partition(",")
    assert header.startswith("data:image/") and header.endswith(";base64")
    return base64.b64decode(encoded)


def parts_of(request, role="user"):
    """The content parts of the last message of `role` a request to the provider carried."""
    content = [m for m in request.body["messages"] if m["role"] == role][-1]["content"]
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


@pytest.fixture
def vision(settings):
    """fake-model takes images; fake-other does not."""
    settings.OPENAI_VISION_MODELS = ["fake-model"]


# --- Upload ---------------------------------------------------------------------------------


def test_an_uploaded_photo_is_stored_re_encoded_without_its_metadata_and_scaled(owner_client, media_root):
    created = uploaded(owner_client, "holiday.jpg", photo())
    assert created["name"] == "holiday.jpg" and created["kind"] == "image" and created["content_type"] == "image/jpeg"
    attachment = Attachment.objects.get()
    stored = attachment.file.read()
    assert created["size"] == attachment.size == len(stored)
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and max(image.size) == 2048 and image.size == (2048, 1024)
    assert not image.getexif() and b"Owner's Phone" not in stored and b"Exif" not in stored
    # Stored under a random name, not the person's.
    assert "holiday" not in attachment.file.name and attachment.file.name.startswith("files/")


def test_the_owner_gets_their_file_with_its_headers(owner_client):
    created = uploaded(owner_client, "chart.png", png())
    response = owner_client.get(f"/api/files/{created['id']}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline") and "chart.png" in response["Content-Disposition"]
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (40, 30)
    document = uploaded(owner_client, "notes.md", b"# Plan\n\nShip it.")
    assert document["kind"] == "document" and document["content_type"] == "text/markdown"
    response = owner_client.get(f"/api/files/{document['id']}/")
    assert response["Content-Disposition"].startswith("attachment")
    text = owner_client.get(f"/api/files/{document['id']}/?text=1")
    assert text.content.decode() == "# Plan\n\nShip it." and text["X-Content-Type-Options"] == "nosniff"


def test_the_type_is_decided_by_the_content_not_the_name(owner_client):
    # A PNG named .txt is an image; text named .csv is a CSV document.
    assert uploaded(owner_client, "really-an-image.txt", png())["kind"] == "image"
    assert uploaded(owner_client, "table.csv", b"a,b\n1,2\n")["content_type"] == "text/csv"
    gif = io.BytesIO()
    Image.new("P", (10, 10)).save(gif, "GIF")
    created = uploaded(owner_client, "anim.gif", gif.getvalue())
    assert (created["content_type"], created["name"]) == ("image/png", "anim.png")


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("empty.txt", b"", 400, "empty"),
        ("tool.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, 400, "program"),
        ("setup.png", b"MZ\x90\x00\x03" + b"\x00" * 200, 400, "program"),
        ("fake.png", b"just some words, not an image", 400, "not a PNG"),
        ("broken.png", png()[:60], 400, "cannot be read"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< garbage", 400, "cannot be read"),
        ("data.bin", bytes(range(256)) * 4, 400, "not a file the chat reads"),
        ("archive.docx", b"PK\x03\x04" + b"\x00" * 100, 400, "cannot be read"),
        ("locked.pdf", None, 400, "password"),
    ],
)
def test_bad_files_are_refused_clearly_and_nothing_is_stored(owner_client, media_root, name, data, status, words):
    response = upload(owner_client, name, protected_pdf() if data is None else data)
    assert response.status_code == status, response.content
    assert words in response.json()["error"] and response.json()["field"] == "file"
    assert not Attachment.objects.exists() and stored_files(media_root) == []


def test_a_file_over_the_upload_limit_is_413_and_not_stored(owner_client, media_root, settings):
    settings.CHAT_MAX_UPLOAD_MB = 1
    response = upload(owner_client, "big.txt", b"a" * (1024 * 1024 + 1))
    assert response.status_code == 413 and "larger than 1 MB" in response.json()["error"]
    assert not Attachment.objects.exists() and stored_files(media_root) == []


def test_the_storage_quota_refuses_what_would_go_over_it(owner_client, outsider_client, media_root, settings):
    settings.CHAT_STORAGE_QUOTA_MB = 1
    uploaded(owner_client, "first.txt", b"x" * 700_000)
    response = upload(owner_client, "second.txt", b"y" * 400_000)
    assert response.status_code == 413
    assert "MB of your 1 MB of storage" in response.json()["error"]
    assert Attachment.objects.count() == 1 and len(stored_files(media_root)) == 1
    # Another person's quota is their own.
    assert upload(outsider_client, "theirs.txt", b"z" * 400_000).status_code == 201
    settings.CHAT_STORAGE_QUOTA_MB = 0  # no limit
    assert upload(owner_client, "second.txt", b"y" * 400_000).status_code == 201


def test_another_persons_file_is_404_for_every_endpoint(owner_client, outsider_client, outsider, media_root):
    created = uploaded(owner_client, "private.txt", b"Owner secret file")
    url = f"/api/files/{created['id']}/"
    for response in (
        outsider_client.get(url),
        outsider_client.get(url + "?text=1"),
        outsider_client.delete(url),
    ):
        assert response.status_code == 404 and "Owner secret" not in response.content.decode()
    conversation = Conversation.objects.create(owner=outsider, model="fake-model")
    response = outsider_client.post(
        f"/api/chats/{conversation.pk}/messages/",
        json.dumps({"content": "Mine now", "attachments": [created["id"]]}),
        content_type="application/json",
    )
    assert response.status_code == 404 and response.json()["field"] == "attachments"
    assert not conversation.messages.exists()
    assert Attachment.objects.get().message is None and len(stored_files(media_root)) == 1
    assert Client().get(url).status_code == 401


def test_an_unsent_upload_is_deleted_with_its_file(owner_client, media_root, django_capture_on_commit_callbacks):
    created = uploaded(owner_client, "oops.txt", b"Wrong file")
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.delete(f"/api/files/{created['id']}/").status_code == 204
    assert not Attachment.objects.exists() and stored_files(media_root) == []


def test_purge_uploads_removes_uploads_never_sent_after_a_day(
    owner_client, owner, media_root, django_capture_on_commit_callbacks
):
    old = uploaded(owner_client, "old.txt", b"Forgotten")
    fresh = uploaded(owner_client, "fresh.txt", b"Still composing")
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    question = conversation.messages.create(role="user", content="With a file")
    sent = uploaded(owner_client, "sent.txt", b"Sent long ago")
    Attachment.objects.filter(pk=sent["id"]).update(message=question)
    Attachment.objects.filter(pk__in=[old["id"], sent["id"]]).update(created_at=timezone.now() - timedelta(days=2))
    output = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_uploads", stdout=output)
    assert output.getvalue() == "Deleted 1 unsent upload(s).\n"
    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh["id"], sent["id"]}
    assert len(stored_files(media_root)) == 2


# --- Sent with a question --------------------------------------------------------------------


@pytest.fixture
def owner_uploads(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_an_image_reaches_the_model_as_a_data_url_of_the_re_encoded_image(
    live, owner, owner_uploads, upstream, vision, media_root
):
    created = uploaded(owner_uploads, "street.jpg", photo())
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "Where is this?", attachments=[created["id"]])
    assert events[-1].name == "done"
    parts = parts_of(upstream.streamed_requests[0])
    assert parts[0] == {"type": "text", "text": "Where is this?"}
    assert [p["type"] for p in parts] == ["text", "image_url"]
    sent = image_of_data_url(parts[1]["image_url"]["url"])
    assert sent == Attachment.objects.get().file.read()
    image = Image.open(io.BytesIO(sent))
    assert max(image.size) <= 2048 and not image.getexif() and b"Owner's Phone" not in sent
    question = Message.objects.get(role="user")
    assert list(question.attachments.values_list("pk", flat=True)) == [created["id"]]
    # The history shows each question's files, to the page.
    shown = client.json("GET", f"/api/chats/{conversation_id}/")[1]["messages"]
    assert shown[0]["attachments"] == [
        {
            "id": created["id"],
            "name": "street.jpg",
            "size": created["size"],
            "content_type": "image/jpeg",
            "kind": "image",
            "url": f"/api/files/{created['id']}/",
        }
    ]
    assert shown[1]["attachments"] == []

    # A follow-up about the same image: it goes upstream again, with the earlier turn.
    client.ask(conversation_id, "And what time of day is it?")
    follow_up = upstream.streamed_requests[1].body["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    earlier = follow_up[0]["content"]
    assert earlier[0]["text"] == "Where is this?" and image_of_data_url(earlier[1]["image_url"]["url"]) == sent
    assert follow_up[2]["content"] == "And what time of day is it?"


def test_documents_reach_the_model_as_text_headed_by_their_names(live, owner, owner_uploads, upstream):
    ids = [
        uploaded(owner_uploads, "notes.txt", "Plain notes: 会议纪要".encode())["id"],
        uploaded(owner_uploads, "report.pdf", pdf_with_text("Quarterly revenue grew 12 percent"))["id"],
        uploaded(owner_uploads, "minutes.docx", word_document("The board met on Monday."))["id"],
    ]
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "Summarise these", attachments=ids)
    texts = [part["text"] for part in parts_of(upstream.streamed_requests[0])]
    assert texts[0] == "Summarise these"
    assert texts[1] == "[File: notes.txt]\nPlain notes: 会议纪要"
    assert texts[2].startswith("[File: report.pdf]\n") and "Quarterly revenue grew 12 percent" in texts[2]
    assert texts[3].startswith("[File: minutes.docx]\n")
    assert "The board met on Monday." in texts[3] and "Budget | approved" in texts[3]


def test_a_document_longer_than_the_budget_is_cut_with_a_note(live, owner, owner_uploads, upstream, settings):
    settings.CHAT_HISTORY_CHARS = 5000
    created = uploaded(owner_uploads, "book.txt", ("word " * 4000).encode())
    client = live(owner)
    client.ask(client.create_conversation(), "Read this", attachments=[created["id"]])
    text = parts_of(upstream.streamed_requests[0])[1]["text"]
    assert len(text) < 6000 and "[The file is cut here: only the first" in text and "of its 20000 characters" in text


def test_a_file_alone_is_a_question(live, owner, owner_uploads, upstream, vision):
    created = uploaded(owner_uploads, "screenshot.png", png())
    client = live(owner)
    conversation_id = client.create_conversation()
    assert client.ask(conversation_id, "", attachments=[created["id"]])[-1].name == "done"
    assert [p["type"] for p in parts_of(upstream.streamed_requests[0])] == ["image_url"]
    assert Conversation.objects.get().title == "screenshot.png"
    client.ask(conversation_id, "What does it show?")
    assert [m["role"] for m in upstream.streamed_requests[1].body["messages"]] == ["user", "assistant", "user"]


def test_a_model_without_vision_refuses_images_naming_those_that_take_them(
    live, owner, owner_uploads, upstream, vision
):
    created = uploaded(owner_uploads, "photo.png", png())
    client = live(owner)
    conversation_id = client.create_conversation(model="fake-other")
    status, body = client.json(
        "POST", f"/api/chats/{conversation_id}/messages/", {"content": "See?", "attachments": [created["id"]]}
    )
    assert status == 400
    assert body["error"] == "The model fake-other does not take images. Models that do: fake-model."
    assert not Message.objects.exists() and Attachment.objects.get().message is None
    assert not upstream.chat_requests


def test_a_file_sent_once_cannot_go_with_another_message(live, owner, owner_uploads, upstream):
    created = uploaded(owner_uploads, "once.txt", b"Only once")
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "First", attachments=[created["id"]])
    status, body = client.json(
        "POST", f"/api/chats/{conversation_id}/messages/", {"content": "Again", "attachments": [created["id"]]}
    )
    assert status == 400 and "already sent" in body["error"]
    assert owner_uploads.delete(f"/api/files/{created['id']}/").status_code == 400
    assert Message.objects.count() == 2


def test_too_many_files_or_bad_ids_are_refused(live, owner, owner_uploads, upstream, settings):
    settings.CHAT_MAX_FILES_PER_MESSAGE = 2
    ids = [uploaded(owner_uploads, f"{n}.txt", b"text")["id"] for n in range(3)]
    client = live(owner)
    conversation_id = client.create_conversation()
    url = f"/api/chats/{conversation_id}/messages/"
    status, body = client.json("POST", url, {"content": "All", "attachments": ids})
    assert status == 400 and body["error"] == "A message takes at most 2 files."
    for bad in ("1", [True], ["1"], 5):
        assert client.json("POST", url, {"content": "Bad", "attachments": bad})[0] == 400
    assert not Message.objects.exists() and not upstream.chat_requests


def test_deleting_the_conversation_deletes_its_files_from_storage(live, owner, owner_uploads, upstream, media_root):
    ids = [uploaded(owner_uploads, "a.txt", b"first")["id"], uploaded(owner_uploads, "b.csv", b"x,y\n")["id"]]
    kept = uploaded(owner_uploads, "unsent.txt", b"not sent")
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "Two files", attachments=ids)
    assert len(stored_files(media_root)) == 3
    assert client.json("DELETE", f"/api/chats/{conversation_id}/")[0] == 204
    # The unsent upload stays (purge_uploads takes it after a day).
    assert list(Attachment.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert len(stored_files(media_root)) == 1


def test_a_bulk_delete_removes_the_stored_files_once_committed(transactional_db, owner, media_root):
    client = Client()
    client.force_login(owner)
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    question = conversation.messages.create(role="user", content="With files")
    for name in ("a.txt", "b.txt"):
        Attachment.objects.filter(pk=uploaded(client, name, b"text")["id"]).update(message=question)
    assert len(stored_files(media_root)) == 2
    Conversation.objects.filter(owner=owner).delete()
    assert not Attachment.objects.exists() and stored_files(media_root) == []


def test_the_admin_shows_a_messages_files_and_each_persons_storage(owner, owner_uploads, admin_client, settings):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    question = conversation.messages.create(role="user", content="With a file")
    created = uploaded(owner_uploads, "budget-2026.csv", b"a,b\n" * 1000)
    Attachment.objects.filter(pk=created["id"]).update(message=question)
    page = admin_client.get(f"/admin/chat/message/{question.pk}/change/").content.decode()
    assert "budget-2026.csv" in page and "text/csv" in page and "3.9\xa0KB" in page
    users = admin_client.get("/admin/auth/user/").content.decode()
    assert "3.9\xa0KB of 200 MB" in users
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    page = admin_client.get(f"/admin/chat/message/{question.pk}/change/").content.decode()
    assert "budget-2026.csv" not in page and "text/csv" in page


def test_a_photo_larger_than_djangos_body_limit_uploads_through_the_server(live, owner, asgi_server):
    """The server reads bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), but up to the
    upload limit on POST /api/files/: a phone's photo is often 4 MB."""
    noise = Image.frombytes("RGB", (1100, 1100), os.urandom(1100 * 1100 * 3))
    output = io.BytesIO()
    noise.save(output, "PNG")
    data = output.getvalue()
    assert len(data) > 3 * 1024 * 1024
    boundary = "test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    client = live(owner)
    stream = client.open(
        "POST", "/api/files/", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert stream.status == 201, stream.response.read()[:300]
    stream.close()
    # Elsewhere, Django's limit stands.
    status, _ = client.json("POST", "/api/chats/", {"title": "x" * (3 * 1024 * 1024)})
    assert status == 413


def test_an_edited_question_keeps_its_files_and_a_regenerated_answer_sees_them(
    live, owner, owner_uploads, upstream, vision
):
    created = uploaded(owner_uploads, "diagram.png", png())
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "What is this?", attachments=[created["id"]])
    question_id, answer_id = events[0].data["user_message_id"], events[0].data["assistant_message_id"]
    stream = client.open("POST", f"/api/messages/{answer_id}/regenerate/", {})
    stream.events()
    stream.close()
    stream = client.open("POST", f"/api/messages/{question_id}/edit/", {"content": "Describe it"})
    edited_id = stream.events()[0].data["user_message_id"]
    stream.close()
    for request, text in zip(upstream.streamed_requests[1:], ["What is this?", "Describe it"], strict=True):
        parts = request.body["messages"][-1]["content"]
        assert parts[0] == {"type": "text", "text": text} and parts[1]["type"] == "image_url"
    # The file is the question's, sent once: each version of the question shows it.
    assert Attachment.objects.get().message_id == question_id
    status, body = client.json("GET", f"/api/chats/{conversation_id}/")
    assert body["messages"][0]["id"] == edited_id and body["messages"][0]["attachments"][0]["id"] == created["id"]
    status, body = client.json("POST", f"/api/messages/{question_id}/show/", {})
    assert body["messages"][0]["id"] == question_id and body["messages"][0]["attachments"][0]["id"] == created["id"]


def test_an_earlier_image_goes_to_a_model_without_vision_as_a_line_naming_it(
    live, owner, owner_uploads, upstream, vision
):
    created = uploaded(owner_uploads, "receipt.png", png())
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "Total?", attachments=[created["id"]])
    client.ask(conversation_id, "And in euros?", model="fake-other")
    earlier = upstream.streamed_requests[1].body["messages"][0]["content"]
    assert earlier == [
        {"type": "text", "text": "Total?"},
        {"type": "text", "text": "[Image: receipt.png, not shown: this model takes no images]"},
    ]


def test_a_conversations_export_names_its_files(owner, owner_client, owner_uploads):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", has_files=True)
    question = conversation.messages.create(role="user", content="Read this")
    created = uploaded(owner_uploads, "minutes.docx", word_document("The board met."))
    Attachment.objects.filter(pk=created["id"]).update(message=question)
    markdown = owner_client.get(f"/api/chats/{conversation.pk}/export/").content.decode()
    assert "📎 minutes.docx\n\nRead this" in markdown
    exported = owner_client.get(f"/api/chats/{conversation.pk}/export/?format=json").json()
    assert exported["messages"][0]["attachments"][0]["name"] == "minutes.docx"


def test_a_shared_page_names_the_files_but_shows_none_of_them(owner, owner_uploads, client):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", has_files=True)
    question = conversation.messages.create(role="user", content="")
    answer = conversation.messages.create(role="assistant", content="A chart of sales.", status="complete")
    created = uploaded(owner_uploads, "sales.png", png())
    Attachment.objects.filter(pk=created["id"]).update(message=question)
    Share.objects.create(conversation=conversation, key="k" * 32, last_message_id=answer.pk)
    page = client.get(f"/s/{'k' * 32}/").content.decode()
    assert "📎 sales.png" in page and "/api/files/" not in page
    assert '<div class="content bubble"></div>' not in page
    assert client.get(f"/api/files/{created['id']}/").status_code == 401


def test_an_image_lost_from_storage_still_lets_the_turn_be_answered(live, owner, owner_uploads, upstream, vision):
    created = uploaded(owner_uploads, "gone.png", png())
    attachment = Attachment.objects.get()
    attachment.file.storage.delete(attachment.file.name)
    client = live(owner)
    events = client.ask(client.create_conversation(), "And this?", attachments=[created["id"]])
    assert events[-1].name == "done"
    told = {"type": "text", "text": "[Image: gone.png, could not be read]"}
    assert parts_of(upstream.streamed_requests[0])[1] == told


def test_a_file_lost_from_storage_is_404_not_a_server_error(owner_client):
    created = uploaded(owner_client, "lost.txt", b"Gone")
    attachment = Attachment.objects.get()
    attachment.file.storage.delete(attachment.file.name)
    response = owner_client.get(f"/api/files/{created['id']}/")
    assert response.status_code == 404 and response.json()["error"] == "This file no longer exists."


def test_refusals_are_told_in_chinese_to_a_chinese_page(owner_client):
    file = io.BytesIO(b"")
    file.name = "empty.txt"
    response = owner_client.post("/api/files/", {"file": file}, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert response.status_code == 400 and response.json()["error"] == "empty.txt 是空文件。"


def test_a_document_is_cut_to_a_models_context_window_in_tokens(live, owner, owner_uploads, upstream):
    """With the model's context window known, the budget is in tokens: about four characters each."""
    from chat.models import Provider, ProviderModel

    provider = Provider.objects.create(name="windowed", base_url=upstream.base_url)
    provider.api_key = "sk-windowed"
    provider.save()
    ProviderModel.objects.create(provider=provider, name="small-window", context_window=8000, max_output_tokens=2000)
    created = uploaded(owner_uploads, "long.txt", ("word " * 20000).encode())
    client = live(owner)
    client.ask(client.create_conversation(model="small-window"), "Summarise", attachments=[created["id"]])
    text = parts_of(upstream.streamed_requests[0])[1]["text"]
    # 6,000 tokens of history: some 24,000 characters of the document, not 6,000 nor all 100,000.
    assert 20_000 < len(text) < 25_000 and "[The file is cut here" in text
