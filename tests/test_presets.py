"""
Presets: the staff's, made in the admin and offered to everyone while enabled; a person's own,
saved through the API and private to them; a conversation started from one.
"""

import json

import pytest
from asgiref.sync import async_to_sync

from chat import exports
from chat.models import Allowance, Conversation, Preset

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def staff_preset():
    return Preset.objects.create(
        name="Translator",
        system_prompt="Translate everything into French.",
        model="fake-other",
        greeting="Bonjour! Send me any text.",
        temperature=0.2,
        sort_order=1,
    )


@pytest.fixture
def owners_preset(owner):
    return Preset.objects.create(owner=owner, name="Code reviewer", system_prompt="Owner private prompt")


def test_a_person_lists_the_staffs_enabled_presets_then_their_own(
    owner_client, owner, staff_preset, owners_preset, outsider
):
    Preset.objects.create(name="Retired", enabled=False)
    Preset.objects.create(name="Another first", sort_order=0)
    Preset.objects.create(owner=outsider, name="Outsider's own", system_prompt="Outsider's private prompt")
    response = owner_client.get("/api/presets/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [p["name"] for p in results] == ["Another first", "Translator", "Code reviewer"]
    assert results[1] == {
        "id": staff_preset.pk,
        "name": "Translator",
        "system_prompt": "Translate everything into French.",
        "model": "fake-other",
        "greeting": "Bonjour! Send me any text.",
        "temperature": 0.2,
        "mine": False,
    }
    assert results[2]["mine"] is True
    assert "Outsider's private prompt" not in response.content.decode()


def test_a_person_saves_a_preset_of_their_own_which_only_they_see(owner_client, outsider_client, owner):
    response = post(
        owner_client,
        "/api/presets/",
        {"name": "  Terse  ", "system_prompt": "Answer in one line.", "model": "fake-other", "temperature": 1},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "Terse" and created["mine"] is True and created["temperature"] == 1.0
    preset = Preset.objects.get()
    assert (preset.owner, preset.model, preset.system_prompt) == (owner, "fake-other", "Answer in one line.")
    assert [p["name"] for p in owner_client.get("/api/presets/").json()["results"]] == ["Terse"]
    assert outsider_client.get("/api/presets/").json()["results"] == []


def test_a_preset_without_a_model_starts_with_the_persons_default(owner_client):
    assert post(owner_client, "/api/presets/", {"name": "Any model", "model": ""}).json()["model"] == ""
    assert post(owner_client, "/api/presets/", {"name": "Null model", "model": None}).json()["model"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Ok", "system_prompt": "x" * 11}, "system_prompt"),
        ({"name": "Ok", "model": "no-such-model"}, "model"),
        ({"name": "Ok", "temperature": 2.5}, "temperature"),
        ({"name": "Ok", "temperature": "hot"}, "temperature"),
        ({"name": "Ok", "greeting": ["hi"]}, "greeting"),
    ],
)
def test_bad_input_is_refused_clearly_and_saves_nothing(owner_client, settings, body, field):
    settings.CHAT_MAX_SYSTEM_PROMPT_CHARS = 10
    response = post(owner_client, "/api/presets/", body)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"]
    assert not Preset.objects.exists()


def test_a_preset_may_not_name_a_model_outside_the_persons_allowance(owner_client, owner):
    Allowance.objects.create(user=owner, allowed_models="fake-model")
    response = post(owner_client, "/api/presets/", {"name": "Other", "model": "fake-other"})
    assert response.status_code == 403 and response.json()["field"] == "model"
    assert not Preset.objects.exists()


def test_a_person_deletes_their_own_preset(owner_client, owners_preset):
    assert owner_client.delete(f"/api/presets/{owners_preset.pk}/").status_code == 204
    assert not Preset.objects.exists()


def test_another_persons_preset_and_the_staffs_cannot_be_deleted(
    outsider_client, owner_client, owners_preset, staff_preset
):
    assert outsider_client.delete(f"/api/presets/{owners_preset.pk}/").status_code == 404
    assert owner_client.delete(f"/api/presets/{staff_preset.pk}/").status_code == 404
    assert Preset.objects.count() == 2


def test_a_conversation_starts_from_a_preset(owner_client, staff_preset):
    response = post(owner_client, "/api/chats/", {"preset": staff_preset.pk})
    assert response.status_code == 201
    chat = Conversation.objects.get(pk=response.json()["id"])
    assert (chat.system_prompt, chat.model, chat.temperature) == (
        "Translate everything into French.",
        "fake-other",
        0.2,
    )


def test_the_fields_of_the_request_win_over_the_presets(owner_client, staff_preset):
    body = {"preset": staff_preset.pk, "system_prompt": "Mine instead.", "model": "fake-model", "temperature": None}
    chat = Conversation.objects.get(pk=post(owner_client, "/api/chats/", body).json()["id"])
    assert (chat.system_prompt, chat.model, chat.temperature) == ("Mine instead.", "fake-model", None)


def test_a_presets_model_the_person_may_not_use_gives_way_to_their_default(owner_client, owner, staff_preset):
    Allowance.objects.create(user=owner, allowed_models="fake-model")
    response = post(owner_client, "/api/chats/", {"preset": staff_preset.pk})
    assert response.status_code == 201
    chat = Conversation.objects.get(pk=response.json()["id"])
    assert (chat.model, chat.system_prompt) == ("fake-model", "Translate everything into French.")
    staff_preset.model = "no-longer-offered"
    staff_preset.save()
    assert post(owner_client, "/api/chats/", {"preset": staff_preset.pk}).json()["model"] == "fake-model"


def test_a_conversation_cannot_start_from_another_persons_or_a_disabled_preset(
    outsider_client, owners_preset, staff_preset
):
    assert post(outsider_client, "/api/chats/", {"preset": owners_preset.pk}).status_code == 404
    staff_preset.enabled = False
    staff_preset.save()
    response = post(outsider_client, "/api/chats/", {"preset": staff_preset.pk})
    assert response.status_code == 404 and response.json()["field"] == "preset"
    bad = post(outsider_client, "/api/chats/", {"preset": "1"})
    assert bad.status_code == 400 and bad.json()["field"] == "preset"
    assert not Conversation.objects.exists()


def test_the_chat_page_lists_the_presets_a_person_may_use(owner_client, staff_preset, owners_preset, outsider):
    Preset.objects.create(owner=outsider, name="Outsider's own")
    config = owner_client.get("/").context["config"]
    assert [p["name"] for p in config["presets"]] == ["Translator", "Code reviewer"]


def test_the_presets_words_on_the_page_are_in_chinese_for_a_chinese_browser(owner_client):
    page = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "从预设开始" in page and "保存为预设" in page
    assert "Save as preset" not in page


def test_a_persons_own_presets_are_in_the_export_of_their_data(owner, owners_preset, staff_preset, outsider):
    Preset.objects.create(owner=outsider, name="Outsider's own")

    async def read():
        return "".join([piece async for piece in exports.everything(owner.pk)])

    data = json.loads(async_to_sync(read)())
    assert data["presets"] == [
        {
            "id": owners_preset.pk,
            "name": "Code reviewer",
            "system_prompt": "Owner private prompt",
            "model": "",
            "greeting": "",
            "temperature": None,
        }
    ]


# --- The admin -----------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_staff_make_a_preset_for_everyone_in_the_admin(admin_client, owner_client):
    response = admin_client.post(
        "/admin/chat/preset/add/",
        {
            "name": "Poet",
            "system_prompt": "Answer in verse.",
            "model": "fake-other",
            "greeting": "Ask me anything, in rhyme.",
            "temperature": "1.1",
            "sort_order": "0",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    preset = Preset.objects.get()
    assert preset.owner is None and preset.greeting == "Ask me anything, in rhyme."
    assert owner_client.get("/api/presets/").json()["results"][0]["name"] == "Poet"


@pytest.mark.parametrize("query", [{"owner__isempty": "1"}, {"owner__isempty": "0"}, {"enabled__exact": "1"}])
def test_the_admins_filters_tell_the_staffs_presets_from_peoples_own(admin_client, staff_preset, owners_preset, query):
    response = admin_client.get("/admin/chat/preset/", query)
    assert response.status_code == 200
    names = {preset.name for preset in response.context["cl"].result_list}
    expected = {"1": {"Translator"}, "0": {"Code reviewer"}}.get(query.get("owner__isempty"), names)
    assert names == expected


def test_the_admin_refuses_a_preset_naming_a_model_not_offered(admin_client):
    response = admin_client.post(
        "/admin/chat/preset/add/", {"name": "Bad", "model": "no-such-model", "sort_order": "0", "enabled": "on"}
    )
    assert response.status_code == 200 and "Unknown model" in response.content.decode()
    assert not Preset.objects.exists()


def test_peoples_own_presets_are_read_only_in_the_admin(admin_client, owners_preset):
    page = admin_client.get(f"/admin/chat/preset/{owners_preset.pk}/change/")
    assert page.status_code == 200 and "Owner private prompt" in page.content.decode()
    assert not page.context["has_change_permission"]
    admin_client.post(f"/admin/chat/preset/{owners_preset.pk}/change/", {"name": "Changed by staff"})
    owners_preset.refresh_from_db()
    assert owners_preset.name == "Code reviewer"


def test_with_content_hidden_staff_never_see_peoples_own_prompts(admin_client, owners_preset, staff_preset, settings):
    settings.CHAT_ADMIN_SHOWS_CONTENT = False
    listing = admin_client.get("/admin/chat/preset/").content.decode()
    assert "Code reviewer" in listing and "Owner private prompt" not in listing
    assert "Translate everything into French." in listing  # the staff's own words
    page = admin_client.get(f"/admin/chat/preset/{owners_preset.pk}/change/").content.decode()
    assert "Owner private prompt" not in page
    assert admin_client.get("/admin/chat/preset/", {"q": "private"}).context["cl"].result_count == 0
