"""Answers stream token by token from the provider to the browser, and are saved."""

from chat.models import Conversation, Message
from tests.support import canary


def test_answer_streams_incrementally_and_is_saved(live, owner, upstream, script):
    gate = script(tokens=6, hold_at=4)
    upstream.push(gate)
    client = live(owner)
    conversation_id = client.create_conversation()

    stream = client.send(conversation_id, "Hello?")
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"].startswith("no-cache")
    assert stream.headers["x-accel-buffering"] == "no"
    events = iter(stream)
    meta = next(events)
    assert meta.name == "meta"
    first = next(events)
    # The first token reached the client while the provider still held back the last ones.
    assert first.name == "delta" and first.data["content"].startswith("t0 ")
    assert "t4" not in first.data["content"]
    assert upstream.chat_requests[0].sent <= 4 and not upstream.chat_requests[0].finished
    gate.release.set()
    rest = list(events)
    stream.close()

    deltas = [first] + [e for e in rest if e.name == "delta"]
    assert rest[-1].name == "done"
    done = rest[-1].data
    assert done["status"] == "complete"
    assert done["finish_reason"] == "stop"
    assert done["usage"] == {"prompt_tokens": 11, "completion_tokens": 6, "estimated": False}
    text = "".join(e.data["content"] for e in deltas)
    assert text == "t0 t1 t2 t3 t4 t5 "
    # Every delta carries the SSE id of the text received so far.
    assert deltas[-1].id == f"{len(text)}-0"

    answer = Message.objects.get(pk=meta.data["assistant_message_id"])
    assert answer.content == text
    assert answer.status == Message.Status.COMPLETE
    assert (answer.finish_reason, answer.prompt_tokens, answer.completion_tokens) == ("stop", 11, 6)
    assert answer.first_token_ms is not None and answer.duration_ms >= answer.first_token_ms
    question = Message.objects.get(pk=meta.data["user_message_id"])
    assert (question.role, question.content) == ("user", "Hello?")
    assert question.pk < answer.pk


def test_request_uses_streaming_with_usage(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation(model="fake-other")
    client.ask(conversation_id, "Hi")
    body = upstream.chat_requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "fake-other"
    assert upstream.chat_requests[0].headers["authorization"] == f"Bearer {canary.KEY}"


def test_user_message_is_saved_before_the_provider_is_called(live, owner, upstream, script):
    gate = script(tokens=3, hold_at=0)
    upstream.push(gate)
    client = live(owner)
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "Saved first")
    next(iter(stream))  # meta
    assert upstream.wait_for(lambda: upstream.chat_requests)
    assert Message.objects.filter(role="user", content="Saved first").exists()
    assert Message.objects.get(role="assistant").status == Message.Status.STREAMING
    gate.release.set()
    stream.events()
    stream.close()


def test_reasoning_is_streamed_and_saved_apart_from_the_answer(live, owner, upstream, script):
    upstream.push(script(reasoning=["Let me ", "think."], words=["Four", "."]))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "2+2?")
    reasoning = "".join(e.data.get("reasoning", "") for e in events if e.name == "delta")
    content = "".join(e.data.get("content", "") for e in events if e.name == "delta")
    assert (reasoning, content) == ("Let me think.", "Four.")
    answer = Message.objects.get(role="assistant")
    assert (answer.reasoning, answer.content) == ("Let me think.", "Four.")


def test_heartbeat_is_sent_while_waiting_for_the_first_token(live, owner, upstream, script, settings):
    upstream.push(script(tokens=2, first_delay=1.0))
    client = live(owner)
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "Slow one")
    events = stream.events()
    stream.close()
    assert any(comment == ": ping" for comment, _ in stream.comments)
    assert events[-1].name == "done"


def test_conversation_is_titled_from_the_first_message(live, owner, upstream):
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "  How do   I bake bread?\n")
    assert Conversation.objects.get(pk=conversation_id).title == "How do I bake bread?"


def test_chinese_and_emoji_round_trip(live, owner, upstream, script):
    upstream.push(script(words=["你好", "，世界 ", "🎉"]))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "用中文回答 😀")
    assert "".join(e.data["content"] for e in events if e.name == "delta") == "你好，世界 🎉"
    assert Message.objects.get(role="assistant").content == "你好，世界 🎉"
    assert Message.objects.get(role="user").content == "用中文回答 😀"
