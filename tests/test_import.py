"""
Import: ChatGPT's data export (its conversations.json, split files or whole zip) and this
server's own export come in as the person's conversations, the branch ChatGPT showed, once
however often the file is imported; a file that is no known export imports nothing.
"""

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile

from chat import exports
from chat.models import Conversation, Message, Preset

pytestmark = pytest.mark.django_db

CHATGPT = (Path(__file__).parent / "fixtures" / "chatgpt-conversations.json").read_bytes()


def upload(client, content, name="conversations.json", *, preview=False):
    return client.post("/api/import/" + ("?preview=1" if preview else ""), {"file": SimpleUploadedFile(name, content)})


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def saved(user):
    return [
        (c.title, c.model, [(m.role, m.content, m.reasoning, m.model) for m in c.messages.order_by("id")])
        for c in Conversation.objects.filter(owner=user).order_by("created_at")
    ]


def test_a_chatgpt_export_imports_the_branch_shown_with_its_reasoning_and_reports_what_it_skipped(
    owner_client, owner, outsider
):
    response = upload(owner_client, CHATGPT)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["conversations"], body["messages"], body["already_imported"]) == (2, 6, 0)
    assert body["skipped"] == [{"title": "Broken one", "reason": "Its messages cannot be read."}]
    thoughts = "The picture shows a B-tree of order 3.\n\nIts keys are sorted."
    assert saved(owner) == [
        (
            "数据库 索引",
            "gpt-4o",
            [
                ("user", "什么是数据库索引？", "", ""),
                ("assistant", "索引是一种数据结构。", "", "gpt-4o"),
                # The image noted by a placeholder; the tool's code and output, the recap left out.
                ("user", "[image]\n\n这张图里的 B-tree 对吗？", "", ""),
                ("assistant", "对，这是一个 3 阶 B 树。", thoughts, "o3"),
            ],
        ),
        # A null title stays empty (the page shows "New chat"); the default model for answers
        # that name none.
        (
            "",
            "gpt-4o-mini",
            [
                ("user", "Rename `get_user_by_id` to snake case?", "", ""),
                ("assistant", "It already is: `get_user_by_id`.", "", "gpt-4o-mini"),
            ],
        ),
    ]
    first = Conversation.objects.get(owner=owner, title="数据库 索引")
    assert first.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert first.messages.order_by("id").first().created_at == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert not Message.objects.filter(content__contains="OLD BRANCH").exists()
    assert not Message.objects.filter(content__contains="TOOL").exists()
    assert not Conversation.objects.filter(owner=outsider).exists()
    assert body["ids"] == list(Conversation.objects.filter(owner=owner).order_by("id").values_list("id", flat=True))


def test_a_preview_says_what_would_be_imported_and_writes_nothing(owner_client):
    response = upload(owner_client, CHATGPT, preview=True)

    assert response.status_code == 200
    assert response.json() == {
        "conversations": 2,
        "messages": 6,
        "titles": ["数据库 索引", ""],
        "presets": 0,
        "already_imported": 0,
        "skipped": [{"title": "Broken one", "reason": "Its messages cannot be read."}],
    }
    assert not Conversation.objects.exists()


def test_the_same_file_imported_twice_adds_nothing_the_second_time(owner_client, outsider_client, owner, outsider):
    upload(owner_client, CHATGPT)
    again = upload(owner_client, CHATGPT).json()
    assert (again["conversations"], again["already_imported"]) == (0, 2)
    assert upload(owner_client, CHATGPT, preview=True).json()["already_imported"] == 2
    assert Conversation.objects.filter(owner=owner).count() == 2
    # Another person's import is theirs.
    assert upload(outsider_client, CHATGPT).json()["conversations"] == 2


def test_the_whole_export_zip_and_the_split_files_import_like_conversations_json(owner_client, owner):
    whole, *rest = json.loads(CHATGPT)
    archive = zipped(
        {
            "chat.html": "<html></html>",
            "user.json": "{}",
            "file-abc.png": b"\x89PNG",
            "conversations-000.json": json.dumps([whole]),
            "conversations-001.json": json.dumps(rest),
        }
    )
    body = upload(owner_client, archive, "export.zip").json()
    assert (body["conversations"], body["messages"], len(body["skipped"])) == (2, 6, 1)

    plain = upload(owner_client, zipped({"export/conversations.json": CHATGPT}), "other.zip").json()
    assert (plain["conversations"], plain["already_imported"]) == (0, 2)


@pytest.mark.parametrize(
    ("content", "name", "error"),
    [
        (b"not json at all", "conversations.json", "conversations.json is not a JSON file."),
        (b'{"hello": "world"}', "conversations.json", "conversations.json is not an export this server knows."),
        (b'[{"hello": "world"}]', "conversations.json", "conversations.json is not an export this server knows."),
        (
            b'{"format": "chat-export", "version": 99}',
            "mine.json",
            "This export's version is not one this server reads.",
        ),  # noqa: E501
        (zipped({"notes.txt": "hi"}), "export.zip", "The zip file holds no conversations.json."),
        (b"PK\x03\x04broken", "export.zip", "export.zip is not a JSON file."),
        (zipped({"conversations.json": "{oops"}), "export.zip", "conversations.json is not a JSON file."),
    ],
)
def test_a_file_that_is_no_known_export_imports_nothing(owner_client, content, name, error):
    response = upload(owner_client, content, name)
    assert response.status_code == 400
    assert response.json() == {"error": error, "field": "file"}
    assert not Conversation.objects.exists()


def test_a_request_without_a_file_or_a_person_is_refused(owner_client, client):
    response = owner_client.post("/api/import/", {})
    assert response.status_code == 400
    assert response.json()["field"] == "file"
    assert upload(client, CHATGPT).status_code == 401
    assert not Conversation.objects.exists()


def test_an_import_that_fails_half_way_saves_nothing(owner_client, monkeypatch):
    made = []
    real = Message.objects.bulk_create

    def fails_the_second(objs, *args, **kwargs):
        made.append(1)
        if len(made) == 2:
            raise RuntimeError("the database went away")
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(Message.objects, "bulk_create", fails_the_second)
    with pytest.raises(RuntimeError):
        upload(owner_client, CHATGPT)
    assert not Conversation.objects.exists()


def test_this_servers_export_imports_back_as_it_was(owner_client, outsider_client, owner, outsider):
    upload(owner_client, CHATGPT)
    conversation = Conversation.objects.filter(owner=owner).first()
    conversation.system_prompt = "Answer in Chinese."
    conversation.save()
    conversation.messages.create(
        role="assistant",
        content="half",
        status=Message.Status.STOPPED,
        model="o3",
        prompt_tokens=12,
        completion_tokens=3,
        usage_estimated=True,
        first_token_ms=150,
        duration_ms=900,
    )

    def everything(user):
        async def read():
            return "".join([piece async for piece in exports.everything(user.pk)])

        return json.loads(async_to_sync(read)())

    Preset.objects.create(owner=owner, name="Terse", system_prompt="One line.", model="fake-other", temperature=0.2)
    Preset.objects.create(owner=owner, name="Gone model", model="retired-model", greeting="Hi")

    exported = everything(owner)
    response = upload(outsider_client, json.dumps(exported).encode(), "chat-export.json")
    assert response.status_code == 201, response.content
    assert (response.json()["conversations"], response.json()["presets"]) == (2, 2)
    imported = everything(outsider)["presets"]
    assert [{k: v for k, v in p.items() if k != "id"} for p in imported] == [
        {"name": "Terse", "system_prompt": "One line.", "model": "fake-other", "greeting": "", "temperature": 0.2},
        # A model this server does not offer: the person's default.
        {"name": "Gone model", "system_prompt": "", "model": "", "greeting": "Hi", "temperature": None},
    ]

    def without_ids(data):
        return [
            {**{k: v for k, v in c.items() if k != "id"}, "messages": [{**m, "id": None} for m in c["messages"]]}
            for c in data["conversations"]
        ]

    assert without_ids(everything(outsider)) == without_ids(exported)
    again = upload(outsider_client, json.dumps(exported).encode(), "chat-export.json").json()
    assert (again["already_imported"], again["presets"]) == (2, 0)
    assert Preset.objects.filter(owner=outsider).count() == 2
