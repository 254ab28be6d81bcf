"""
Several providers at once: each model's requests go to its own provider, with its key, base
URL, headers, parameters and limits; the environment's providers and the admin's side by side;
one model id space; a model taken away refuses new messages clearly. The providers are real
fake upstreams on loopback, each with a key of its own.
"""

import secrets

import pytest
from django.test import Client

from chat import catalogue, conversations, turns
from chat.catalogue import name_for
from chat.errors import Invalid
from chat.models import Conversation, Message, Provider, ProviderModel, estimated_tokens, normalise_base_url
from tests.support import canary
from tests.support.fake_upstream import FakeUpstream
from tests.support.live import text_of


@pytest.fixture(scope="module")
def second_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def second(second_server):
    second_server.reset()
    yield second_server
    second_server.reset()


def admin_provider(server, name="second", **fields):
    """A provider added in the admin, with a key of its own made now (never a literal)."""
    provider = Provider(name=name, base_url=server.base_url, **fields)
    provider.api_key = "k2-" + secrets.token_hex(16)
    provider.save()
    return provider


def add_model(provider, name, **fields):
    return ProviderModel.objects.create(provider=provider, name=name, **fields)


# --- Base URLs and names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "saved"),
    [
        ("https://api.deepseek.com", "https://api.deepseek.com/v1"),
        ("https://api.deepseek.com/", "https://api.deepseek.com/v1"),
        ("https://api.deepseek.com/v1/", "https://api.deepseek.com/v1"),
        (" https://api.openai.com/v1 ", "https://api.openai.com/v1"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
        ("https://open.bigmodel.cn/api/paas/v4/chat/completions", "https://open.bigmodel.cn/api/paas/v4"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
    ],
)
def test_a_base_url_is_accepted_with_or_without_its_slash_and_v1(pasted, saved):
    assert normalise_base_url(pasted) == saved


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("", "openai"),
        ("https://api.openai.com/v1", "openai"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://open.bigmodel.cn/api/paas/v4", "bigmodel"),
        ("http://127.0.0.1:11434/v1", "local"),
        ("http://localhost:8001/v1", "local"),
    ],
)
def test_the_first_provider_is_named_after_its_host(url, name):
    assert name_for(url) == name


# --- The catalogue -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_environments_provider_is_in_the_database_marked_as_such_without_its_key():
    offers = catalogue.current()

    assert offers.ids == ["fake-model", "fake-other", "demo"]
    provider = Provider.objects.get()
    assert (provider.name, provider.from_environment, provider.encrypted_api_key) == ("local", True, "")
    assert list(provider.models.values_list("name", "from_environment", "enabled")) == [
        ("fake-model", True, True),
        ("fake-other", True, True),
    ]


@pytest.mark.django_db
def test_the_environment_wins_at_every_start_and_keeps_what_the_admin_added(settings):
    catalogue.current()
    provider = Provider.objects.get(name="local")
    Provider.objects.filter(pk=provider.pk).update(base_url="https://changed.example.com/v1", enabled=False)
    ProviderModel.objects.filter(provider=provider, name="fake-model").update(
        enabled=False, display_name="Fake", input_price="0.5000", context_window=8000
    )
    settings.OPENAI_MODELS = ["fake-model", "demo"]  # fake-other is no longer listed

    offers = catalogue.current()

    provider.refresh_from_db()
    assert provider.base_url == normalise_base_url(settings.OPENAI_BASE_URL) and provider.enabled
    model = provider.models.get(name="fake-model")
    assert (model.enabled, model.display_name, str(model.input_price), model.context_window) == (
        True,
        "Fake",
        "0.5000",
        8000,
    )
    dropped = provider.models.get(name="fake-other")
    assert (dropped.enabled, dropped.from_environment) == (False, False)
    assert offers.ids == ["fake-model", "demo"]
    assert offers.find("fake-model").label == "Fake"


@pytest.mark.django_db
def test_providers_from_the_providers_setting_come_with_their_capabilities(settings):
    key = "k3-" + secrets.token_hex(16)
    settings.PROVIDERS = [
        {
            "name": "qwen",
            "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "api_key": key,
            "models": ["qwen-plus", "qwen-vl-max", "qwq-plus"],
            "vision_models": ["qwen-vl-max"],
            "reasoning_models": ["qwq-plus"],
            "headers": {"X-Title": "Chat"},
        }
    ]

    offers = catalogue.current()

    assert offers.ids == ["fake-model", "fake-other", "qwen-plus", "qwen-vl-max", "qwq-plus", "demo"]
    vision, reasoning = offers.find("qwen-vl-max"), offers.find("qwq-plus")
    assert (vision.vision, vision.reasoning, reasoning.vision, reasoning.reasoning) == (True, False, False, True)
    assert vision.endpoint.api_key == key and vision.endpoint.headers == (("X-Title", "Chat"),)
    assert Provider.objects.get(name="qwen").encrypted_api_key == ""


@pytest.mark.django_db
def test_the_demo_model_is_offered_alone_when_nothing_is_configured(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODELS = ["demo"]
    settings.OPENAI_DEFAULT_MODEL = "demo"

    offers = catalogue.current()

    assert offers.ids == ["demo"] and offers.default.id == "demo" and offers.default.is_demo
    assert not Provider.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_a_name_two_providers_offer_is_told_apart_by_its_provider(second):
    provider = admin_provider(second)
    add_model(provider, "fake-model")
    add_model(provider, "own-model")

    offers = catalogue.current()

    assert offers.ids == ["local/fake-model", "fake-other", "second/fake-model", "own-model", "demo"]
    assert offers.find("second/fake-model").endpoint.base_url == second.base_url
    assert offers.find("local/fake-model").endpoint.api_key == canary.KEY
    # A conversation saved with the bare name before the second provider came keeps its model.
    assert offers.find("fake-model") is offers.find("local/fake-model")
    # <provider>/<name> always works, even for a name only one provider offers.
    assert offers.find("second/own-model") is offers.find("own-model")


@pytest.mark.django_db
def test_disabled_models_and_providers_are_not_offered(second):
    provider = admin_provider(second)
    add_model(provider, "on")
    add_model(provider, "off", enabled=False)
    assert "on" in catalogue.current().ids and "off" not in catalogue.current().ids

    provider.enabled = False
    provider.save()

    assert "on" not in catalogue.current().ids


UNLIMITED_AND_UNPRICED = {"max_output_tokens": None, "input_price": None, "output_price": None}


@pytest.mark.django_db
def test_models_api_lists_every_providers_models_in_order(owner_client, second):
    provider = admin_provider(second)
    add_model(provider, "seeing", display_name="Seeing Model", vision=True, sort_order=2)
    add_model(provider, "thinking", reasoning=True, sort_order=1)

    response = owner_client.get("/api/models/")

    assert response.status_code == 200
    assert response.json() == {
        "default": "fake-model",
        "currency": "USD",
        "results": [
            {**model, **UNLIMITED_AND_UNPRICED}
            for model in [
                {"id": "fake-model", "label": "fake-model", "provider": "local", "vision": False, "reasoning": False},
                {"id": "fake-other", "label": "fake-other", "provider": "local", "vision": False, "reasoning": False},
                {"id": "thinking", "label": "thinking", "provider": "second", "vision": False, "reasoning": True},
                {"id": "seeing", "label": "Seeing Model", "provider": "second", "vision": True, "reasoning": False},
                {"id": "demo", "label": "demo", "provider": "demo", "vision": False, "reasoning": False},
            ]
        ],
    }
    assert Client().get("/api/models/").status_code == 401


# --- A turn goes to its model's provider ---------------------------------------------------------


def test_each_models_request_reaches_its_own_provider_with_its_own_key_and_parameters(live, owner, upstream, second):
    provider = admin_provider(second, extra_headers={"X-Title": "Chat"})
    add_model(provider, "second-model", extra_params={"temperature": 0.3, "enable_thinking": True})
    add_model(provider, "limited", max_output_tokens=256)
    client = live(owner)

    first = client.ask(client.create_conversation(model="fake-model"), "To the first")
    other = client.ask(client.create_conversation(model="second-model"), "To the second")
    limited = client.ask(client.create_conversation(model="limited"), "Briefly")

    assert [e.name for e in first][-1] == [e.name for e in other][-1] == [e.name for e in limited][-1] == "done"
    [to_first] = upstream.streamed_requests
    to_second, to_limited = second.streamed_requests
    assert to_first.headers["authorization"] == f"Bearer {canary.KEY}"
    assert to_first.body["model"] == "fake-model" and "temperature" not in to_first.body
    assert to_second.headers["authorization"] == f"Bearer {provider.api_key}"
    assert to_second.headers["x-title"] == "Chat"
    assert to_second.body["model"] == "second-model"
    assert (to_second.body["temperature"], to_second.body["enable_thinking"]) == (0.3, True)
    assert to_second.body["stream"] is True and to_second.body["messages"][-1]["content"] == "To the second"
    assert "max_tokens" not in to_second.body and to_limited.body["max_tokens"] == 256
    assert text_of(other) == "t0 t1 t2 t3 t4 "
    answer = Message.objects.get(role="assistant", conversation__model="second-model")
    assert answer.model == "second-model" and answer.status == Message.Status.COMPLETE


def test_an_ambiguous_name_reaches_the_provider_its_id_names(live, owner, upstream, second):
    provider = admin_provider(second)
    add_model(provider, "fake-model")
    client = live(owner)

    events = client.ask(client.create_conversation(model="second/fake-model"), "Which one?")

    assert events[-1].name == "done"
    assert not upstream.streamed_requests
    [request] = second.streamed_requests
    assert request.body["model"] == "fake-model"
    assert request.headers["authorization"] == f"Bearer {provider.api_key}"
    assert Conversation.objects.get().model == "second/fake-model"


def test_the_title_is_asked_of_the_title_model_at_its_provider(live, owner, upstream, second, settings):
    settings.CHAT_AUTO_TITLE = True
    provider = admin_provider(second)
    add_model(provider, "cheap", extra_params={"enable_thinking": True})
    settings.CHAT_TITLE_MODEL = "cheap"
    second.completions.append(second.default.__class__(words=["Named ", "by ", "cheap"]))
    client = live(owner)
    conversation_id = client.create_conversation(model="fake-model")

    client.ask(conversation_id, "Name this")

    assert second.wait_for(lambda: any(not r.body.get("stream") for r in second.chat_requests))
    [title] = [r for r in second.chat_requests if not r.body.get("stream")]
    assert title.body["model"] == "cheap" and title.body["enable_thinking"] is False
    assert [r.body["model"] for r in upstream.chat_requests] == ["fake-model"]
    assert upstream.wait_for(lambda: Conversation.objects.get().title == "Named by cheap")


# --- A model taken away -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_disabled_model_refuses_new_messages_clearly_and_changes_nothing(owner_client, owner, second):
    model = add_model(admin_provider(second), "retiring")
    conversation = Conversation.objects.create(owner=owner, model="retiring")
    model.enabled = False
    model.save()

    shown = owner_client.get(f"/api/chats/{conversation.pk}/").json()
    refused = owner_client.post(
        f"/api/chats/{conversation.pk}/messages/", {"content": "Hello?"}, content_type="application/json"
    )
    picked = owner_client.post("/api/chats/", {"model": "retiring"}, content_type="application/json")

    assert shown["model"] == "retiring" and shown["model_offered"] is False
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "The model 'retiring' is no longer offered. Pick another model to go on.",
        "field": "model",
    }
    assert not Message.objects.exists() and not second.requests
    assert picked.status_code == 400 and "Unknown model 'retiring'" in picked.json()["error"]
    assert "retiring" not in [m["id"] for m in owner_client.get("/api/models/").json()["results"]]


@pytest.mark.django_db
def test_a_conversations_model_is_offered_while_enabled(owner_client, owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-other")
    assert owner_client.get(f"/api/chats/{conversation.pk}/").json()["model_offered"] is True


# --- The history budget ---------------------------------------------------------------------


def test_token_estimates_are_generous_for_chinese():
    assert estimated_tokens("a" * 400) == 101
    assert estimated_tokens("数据库" * 100) == 376


@pytest.mark.django_db
def test_the_history_follows_the_models_context_window(owner, settings, second):
    settings.CHAT_HISTORY_CHARS = 10**6
    provider = admin_provider(second)
    add_model(provider, "small", context_window=1200, max_output_tokens=200)
    add_model(provider, "large", context_window=100_000)
    conversation = Conversation.objects.create(owner=owner, model="small")
    for number in range(10):
        conversation.add_turn(f"question {number} " + "x" * 400)
    Message.objects.filter(role="assistant").update(content="answer " + "y" * 400, status="complete")

    # Only the messages the turn would send count here: its answer is not generated.
    small = turns.start(owner.pk, conversation.pk, "Next")

    sizes = [estimated_tokens(m["content"]) for m in small.messages]
    assert sum(sizes) <= 1000 < sum(sizes) + 102
    assert small.messages[-1]["content"] == "Next"
    Message.objects.filter(pk=small.answer_id).update(status="complete", content="done")
    large = turns.start(owner.pk, conversation.pk, "And on the large one", model="large")
    assert len(large.messages) == 23  # all of it: 22 earlier messages and the question


@pytest.mark.django_db
def test_the_environments_default_model_is_the_default(settings):
    settings.OPENAI_DEFAULT_MODEL = "fake-other"
    assert catalogue.current().default.id == "fake-other"


@pytest.mark.django_db
def test_an_unknown_model_names_the_ones_offered(owner):
    with pytest.raises(Invalid, match="Unknown model 'nope'. Available: fake-model, fake-other, demo."):
        conversations.create(owner.pk, model="nope")


def test_a_key_entered_in_the_admin_never_reaches_the_person_or_the_log(live, owner, second, script, caplog):
    provider = admin_provider(second)
    add_model(provider, "second-model")
    key = provider.api_key
    second.push(script(status=401, error_message=f"Incorrect API key provided: {key}"))
    client = live(owner)

    events = client.ask(client.create_conversation(model="second-model"), "Hello?")

    assert events[-1].name == "error" and "did not accept this site's credentials" in events[-1].data["message"]
    answer = Message.objects.get(role="assistant")
    # For staff: what to check, and the provider's own words (redacted).
    assert answer.error_detail.startswith("The model provider rejected the API key (HTTP 401). Check OPENAI_API_KEY")
    assert answer.error_detail.endswith("The provider said: Incorrect API key provided: [API key]")
    assert key not in str([e.data for e in events]) and key not in answer.error
    assert key not in caplog.text and key[:12] not in caplog.text
