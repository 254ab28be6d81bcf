"""The built-in demo model answers with no API key, through the real relay."""

from chat.models import Message
from chat.upstream import demo_endpoint


def test_demo_model_streams_end_to_end_without_a_key(live, owner, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    client = live(owner)
    conversation_id = client.create_conversation(model="demo")
    events = client.ask(conversation_id, "What can you do?")
    deltas = [e for e in events if e.name == "delta"]
    assert len(deltas) > 1
    text = "".join(e.data["content"] for e in deltas)
    assert "demo model" in text and "What can you do?" in text
    assert events[-1].name == "done" and events[-1].data["status"] == "complete"
    answer = Message.objects.get(role="assistant")
    assert answer.content == text and answer.model == "demo" and answer.completion_tokens > 1


def test_demo_answers_in_chinese_to_chinese(live, owner):
    client = live(owner)
    conversation_id = client.create_conversation(model="demo")
    events = client.ask(conversation_id, "你好")
    assert "演示模型" in "".join(e.data["content"] for e in events if e.name == "delta")


def test_demo_endpoint_refuses_requests_without_its_key(client):
    response = client.post("/demo/v1/chat/completions", "{}", content_type="application/json")
    assert response.status_code == 401


def test_demo_provider_is_reached_on_the_requests_own_address():
    assert demo_endpoint(("127.0.0.1", 8123)).base_url == "http://127.0.0.1:8123/demo/v1"
    assert demo_endpoint(("::1", 8000)).base_url == "http://[::1]:8000/demo/v1"
