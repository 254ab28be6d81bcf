"""Regenerate (and retry), edit-and-resend, and model-made titles."""

import pytest

from chat.models import Conversation, Message
from chat.titles import clean


def answers(events):
    return "".join(e.data.get("content", "") for e in events if e.name == "delta")


def test_regenerate_shows_a_new_answer_and_keeps_the_last_as_its_earlier_version(live, owner, upstream, script):
    upstream.push(script(words=["First."]), script(words=["Second."]))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "Question")
    old_id = events[0].data["assistant_message_id"]
    stream = client.open("POST", f"/api/messages/{old_id}/regenerate/", {})
    events = stream.events()
    stream.close()
    assert answers(events) == "Second."
    new_id = events[0].data["assistant_message_id"]
    assert events[0].data["user_message_id"] == Message.objects.get(role="user").pk
    assert events[0].data["versions"] == [old_id, new_id]
    assert list(Message.objects.shown().values_list("role", "content", "status")) == [
        ("user", "Question", "complete"),
        ("assistant", "Second.", "complete"),
    ]
    # The question goes upstream once, without the earlier answer.
    assert upstream.chat_requests[1].body["messages"] == [{"role": "user", "content": "Question"}]

    # The conversation shows the versions; the first shown again is the one that goes upstream next.
    status, body = client.json("GET", f"/api/chats/{conversation_id}/")
    assert body["messages"][-1]["versions"] == [old_id, new_id]
    status, body = client.json("POST", f"/api/messages/{old_id}/show/", {})
    assert status == 200 and [m["content"] for m in body["messages"]] == ["Question", "First."]
    assert body["messages"][-1]["versions"] == [old_id, new_id]
    client.ask(conversation_id, "And then?")
    assert upstream.chat_requests[-1].body["messages"][:2] == [
        {"role": "user", "content": "Question"},
        {"role": "assistant", "content": "First."},
    ]


def test_retry_after_an_error_answers_again(live, owner, upstream, script):
    upstream.push(script(status=500), script(words=["Recovered."]))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "Try me")
    assert events[-1].name == "error"
    failed_id = events[0].data["assistant_message_id"]
    stream = client.open("POST", f"/api/messages/{failed_id}/regenerate/", {})
    assert answers(stream.events()) == "Recovered."
    stream.close()
    assert not Message.objects.filter(status="error").exists()


def test_only_the_last_answer_can_be_regenerated(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation()
    first = client.ask(conversation_id, "one")[0].data["assistant_message_id"]
    client.ask(conversation_id, "two")
    status, body = client.json("POST", f"/api/messages/{first}/regenerate/", {})
    assert status == 400 and "last answer" in body["error"]
    assert Message.objects.count() == 4


def test_edit_asks_a_new_version_of_the_question_and_keeps_the_branch_it_replaces(live, owner, upstream, script):
    upstream.push(script(words=["A1"]), script(words=["A2"]), script(words=["A1 again"]))
    client = live(owner)
    conversation_id = client.create_conversation()
    first_question = client.ask(conversation_id, "Q1")[0].data["user_message_id"]
    client.ask(conversation_id, "Q2")
    stream = client.open("POST", f"/api/messages/{first_question}/edit/", {"content": "Q1, edited"})
    events = stream.events()
    stream.close()
    assert answers(events) == "A1 again"
    assert events[0].data["versions"] == [first_question, events[0].data["user_message_id"]]
    assert list(Message.objects.shown().order_by("id").values_list("role", "content")) == [
        ("user", "Q1, edited"),
        ("assistant", "A1 again"),
    ]
    assert upstream.chat_requests[2].body["messages"] == [{"role": "user", "content": "Q1, edited"}]
    # The earlier branch comes back whole.
    status, body = client.json("POST", f"/api/messages/{first_question}/show/", {})
    assert [m["content"] for m in body["messages"]] == ["Q1", "A1", "Q2", "A2"]


def test_edit_refuses_empty_content_and_changes_nothing(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation()
    question = client.ask(conversation_id, "Keep me")[0].data["user_message_id"]
    status, body = client.json("POST", f"/api/messages/{question}/edit/", {"content": "  "})
    assert status == 400 and body["field"] == "content"
    assert list(Message.objects.values_list("content", flat=True)) == ["Keep me", "t0 t1 t2 t3 t4 "]


@pytest.mark.parametrize("action, body", [("regenerate", {}), ("edit", {"content": "mine now"})])
def test_other_users_messages_cannot_be_regenerated_or_edited(live, owner, outsider, upstream, action, body):
    conversation_id = live(owner).create_conversation()
    events = live(owner).ask(conversation_id, "private")
    target = events[0].data["assistant_message_id" if action == "regenerate" else "user_message_id"]
    status, _ = live(outsider).json("POST", f"/api/messages/{target}/{action}/", body)
    assert status == 404
    assert Message.objects.get(role="user").content == "private"
    assert Message.objects.count() == 2


def test_the_first_answer_brings_a_model_made_title(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(script(words=["“Baking ", "Sourdough Bread.”"]))
    upstream.push(script(tokens=5, interval=0.05))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "how do I bake sourdough bread at home")
    titles = [e.data["title"] for e in events if e.name == "title"]
    assert titles == ["Baking Sourdough Bread"]
    assert Conversation.objects.get(pk=conversation_id).title == "Baking Sourdough Bread"
    title_request = next(r for r in upstream.chat_requests if not r.body.get("stream"))
    assert "how do I bake sourdough bread" in title_request.body["messages"][-1]["content"]


def test_the_title_falls_back_to_the_first_words_when_the_model_fails(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(script(status=500))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "what is the capital of France")
    assert not [e for e in events if e.name == "title"]
    assert Conversation.objects.get(pk=conversation_id).title == "what is the capital of France"


@pytest.mark.parametrize(
    "reply, title",
    [
        ("<think>The user wants a title.</think>\nParis Trip Plan", "Paris Trip Plan"),
        ("<think>only thinking, cut off", ""),
        ("Title: 巴黎旅行计划。", "巴黎旅行计划"),
        ('"Quoted"', "Quoted"),
        ("", ""),
    ],
)
def test_titles_are_cleaned_of_reasoning_and_decoration(reply, title):
    assert clean(reply) == title


def test_only_the_first_answer_asks_the_model_for_a_title(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(script(words=["Bread"]))
    upstream.push(script(tokens=2), script(tokens=2))
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "how do I bake bread")
    client.ask(conversation_id, "and rye bread?")
    assert len([r for r in upstream.chat_requests if not r.body.get("stream")]) == 1
