"""
Titles off the hot path: a new chat's title is asked once its answer has begun, a few at a
time per process, so a burst of new chats with a slow title model never delays an answer, and
every chat still gets its title.
"""

import threading
import time

from chat.models import Conversation
from tests.support.live import read_until, text_of
from tests.support.servers import wait_until_idle
from tests.support.waiting import eventually


def in_flight_at_most(requests):
    """The most of `requests` (Recorded) that were in flight at one moment."""
    moments = sorted([(r.started, 1) for r in requests] + [(r.finished_at, -1) for r in requests])
    most = current = 0
    for _, change in moments:
        current += change
        most = max(most, current)
    return most


def test_a_burst_of_new_chats_with_a_slow_title_model_never_delays_an_answer(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE, settings.CHAT_TITLE_CONCURRENCY = True, 2
    chats = 6
    upstream.completions.extend(script(words=[f"Title {n}"], first_delay=1.0) for n in range(chats))
    upstream.push(*(script(tokens=5, interval=0.02) for _ in range(chats)))
    client = live(owner)
    ids = [client.create_conversation() for _ in range(chats)]
    first_tokens, ends = {}, {}

    def chat(conversation_id):
        sent = time.monotonic()
        stream = client.send(conversation_id, f"question of chat {conversation_id}")
        events = iter(stream)
        read_until(events, lambda seen: text_of(seen) != "")
        first_tokens[conversation_id] = time.monotonic() - sent
        list(events)
        ends[conversation_id] = time.monotonic() - sent
        stream.close()

    threads = [threading.Thread(target=chat, args=(conversation_id,)) for conversation_id in ids]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every answer came at once and ended within its own time, whatever the titles take (1 s
    # each, two at a time: three seconds for six).
    assert max(first_tokens.values()) < 0.8, first_tokens
    assert max(ends.values()) < 1.0, ends

    def titled():
        return sorted(Conversation.objects.filter(pk__in=ids).values_list("title", flat=True))

    assert eventually(lambda: all(title.startswith("Title ") for title in titled()), timeout=10)
    assert titled() == sorted(f"Title {n}" for n in range(chats))
    title_requests = [r for r in upstream.chat_requests if not r.body.get("stream")]
    assert len(title_requests) == chats
    assert in_flight_at_most(title_requests) == 2
    # Each title was asked only after its answer had begun.
    assert min(r.started for r in title_requests) > started
    wait_until_idle()


def test_a_title_that_fails_in_the_queue_falls_back_to_the_first_words(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE, settings.CHAT_TITLE_CONCURRENCY = True, 1
    upstream.completions.extend([script(status=500), script(words=["Second Title"], first_delay=0.2)])
    client = live(owner)
    first, second = client.create_conversation(), client.create_conversation()
    client.ask(first, "what is the capital of France")
    client.ask(second, "how far is the moon")
    assert eventually(lambda: Conversation.objects.get(pk=second).title == "Second Title", timeout=5)
    assert Conversation.objects.get(pk=first).title == "what is the capital of France"


def test_the_title_event_reaches_a_stream_still_going(live, owner, upstream, script, settings):
    settings.CHAT_AUTO_TITLE = True
    upstream.completions.append(script(words=["Sourdough at Home"], first_delay=0.1))
    upstream.push(script(tokens=20, interval=0.05))
    client = live(owner)
    events = client.ask(client.create_conversation(), "how do I bake sourdough bread at home")
    names = [event.name for event in events]
    assert names.count("title") == 1
    # Sent while the answer was still streaming: deltas follow it.
    assert "delta" in names[names.index("title") :]
    assert events[names.index("title")].data == {"title": "Sourdough at Home"}
