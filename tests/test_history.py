"""Multi-turn: earlier messages go upstream, within the configured budget."""

from chat.models import Message


def test_second_turn_sends_the_first_turn_upstream(live, owner, upstream, script):
    upstream.push(script(words=["Paris."]), script(words=["About 2 million."]))
    client = live(owner)
    conversation_id = client.create_conversation(system_prompt="Answer briefly.")
    client.ask(conversation_id, "Capital of France?")
    client.ask(conversation_id, "Its population?")
    assert upstream.chat_requests[1].body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Its population?"},
    ]


def test_history_is_trimmed_to_the_budget_keeping_the_newest(live, owner, upstream, script, settings):
    settings.CHAT_HISTORY_CHARS = 30
    upstream.push(script(words=["A" * 10]), script(words=["B" * 10]), script(words=["C"]))
    client = live(owner)
    conversation_id = client.create_conversation(system_prompt="Be nice.")
    client.ask(conversation_id, "first question")  # 14 characters
    client.ask(conversation_id, "second one")  # 10 characters
    client.ask(conversation_id, "third")
    sent = upstream.chat_requests[2].body["messages"]
    # third (5) + BBBBBBBBBB (10) + second one (10) = 25; the first turn no longer fits.
    assert sent == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "second one"},
        {"role": "assistant", "content": "B" * 10},
        {"role": "user", "content": "third"},
    ]


def test_newest_message_goes_even_when_longer_than_the_budget(live, owner, upstream, settings):
    settings.CHAT_HISTORY_CHARS = 5
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "a message longer than five characters")
    assert upstream.chat_requests[0].body["messages"] == [
        {"role": "user", "content": "a message longer than five characters"}
    ]


def test_failed_answers_and_reasoning_are_not_sent_back(live, owner, upstream, script):
    upstream.push(script(status=500), script(reasoning=["secret thoughts"], words=["Yes."]), script())
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "one")
    client.ask(conversation_id, "two")
    client.ask(conversation_id, "three")
    assert Message.objects.filter(status="error").count() == 1
    assert upstream.chat_requests[2].body["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "three"},
    ]


def test_history_is_limited_to_the_newest_messages(live, owner, upstream, script, settings):
    settings.CHAT_HISTORY_MESSAGES = 3
    upstream.push(script(words=["one."]), script(words=["two."]), script(words=["three."]))
    client = live(owner)
    conversation_id = client.create_conversation()
    for question in ("1?", "2?", "3?"):
        client.ask(conversation_id, question)
    assert upstream.chat_requests[2].body["messages"] == [
        {"role": "user", "content": "2?"},
        {"role": "assistant", "content": "two."},
        {"role": "user", "content": "3?"},
    ]
