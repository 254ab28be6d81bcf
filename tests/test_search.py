"""
Full-text search (GET /api/search/, chat.search) on the database's own engine: Chinese, a
substring, a code identifier, a phrase, title hits above message hits and recent above old,
the index current as an answer streams in, after an edit and after a delete, and only the
person's own conversations. Transactional: InnoDB's FULLTEXT index sees what was committed.
"""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from chat import search
from chat.models import Conversation, Message
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def through_the_index(monkeypatch):
    """
    On MySQL/MariaDB a page found among the newest messages is found by reading them
    (chat.search.MySQL.NEWEST): the tests' few messages all are. Here the FULLTEXT index
    answers, as for a longer history; test_the_newest_messages_are_read_first reads them.
    """
    monkeypatch.setattr(search.MySQL, "NEWEST", 0)


def chat(owner, title, *texts, days_ago=0):
    """A conversation of `owner`'s, its messages question, answer, question... `days_ago`."""
    at = timezone.now() - timedelta(days=days_ago)
    conversation = Conversation.objects.create(owner=owner, model="fake-model", title=title, updated_at=at)
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT,
            content=text,
            created_at=at + timedelta(seconds=n),
        )
        for n, text in enumerate(texts)
    )
    return conversation


def found(client, query, page=None):
    params = {"q": query} if page is None else {"q": query, "page": page}
    response = client.get("/api/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


def snippets(client, query):
    return [hit["snippet"] for hit in found(client, query)["results"]]


def marked(hit):
    return [hit["snippet"][start:end] for start, end in hit["highlights"]]


def test_a_chinese_word_is_found_inside_a_longer_sentence(owner_client, owner):
    chat(owner, "笔记", "我们今天讨论了数据库的索引应该怎样设计才能更快", "另一句话，没有那个词")
    (hit,) = found(owner_client, "数据库")["results"]
    assert hit["snippet"] == "我们今天讨论了数据库的索引应该怎样设计才能更快"
    assert marked(hit) == ["数据库"]
    assert (hit["in"], hit["role"]) == ("message", "user")


def test_a_two_character_chinese_word_is_found_too(owner_client, owner):
    # Shorter than a trigram: each engine's fallback.
    chat(owner, "笔记", "我们今天讨论了数据库的索引", "没有这个词的回答")
    assert snippets(owner_client, "数据") == ["我们今天讨论了数据库的索引"]
    assert snippets(owner_client, "索引 数据") == ["我们今天讨论了数据库的索引"]


def test_a_substring_of_a_word_is_found_whatever_its_case(owner_client, owner):
    chat(owner, "words", "Internationalization is hard", "nothing here")
    (hit,) = found(owner_client, "NATIONALIZ")["results"]
    assert marked(hit) == ["nationaliz"]


def test_code_identifiers_are_found_as_they_are_written(owner_client, owner):
    chat(
        owner,
        "code",
        "Call Conversation.objects.get_for_user(request.user) first",
        "In React, useEffect runs after render",
        "getXforXuser is another function",
    )
    assert snippets(owner_client, "get_for_user") == ["Call Conversation.objects.get_for_user(request.user) first"]
    assert snippets(owner_client, "useeffect") == ["In React, useEffect runs after render"]
    # % and _ are no wildcards in a query.
    assert found(owner_client, "get_for")["results"][0]["snippet"].startswith("Call")
    assert len(found(owner_client, "get_for")["results"]) == 1
    assert found(owner_client, "100%")["results"] == []


def test_backslashes_and_quotes_are_searched_as_written(owner_client, owner):
    chat(owner, "paths", r"Open C:\Users\me and read it", 'She said "hello" twice', "C:Users without them")
    assert snippets(owner_client, r"C:\Users") == [r"Open C:\Users\me and read it"]
    assert snippets(owner_client, r"\me") == [r"Open C:\Users\me and read it"]
    assert snippets(owner_client, 'said "hello"') == ['She said "hello" twice']


def test_a_quoted_phrase_matches_as_a_phrase_and_words_each_anywhere(owner_client, owner):
    chat(owner, "foxes", "the quick brown fox jumps", "a brown dog, quick as ever")
    assert snippets(owner_client, '"quick brown"') == ["the quick brown fox jumps"]
    assert sorted(snippets(owner_client, "quick brown")) == ["a brown dog, quick as ever", "the quick brown fox jumps"]
    (hit,) = found(owner_client, '"QUICK   brown" fox')["results"]
    assert marked(hit) == ["quick brown", "fox"]


def test_every_term_must_match(owner_client, owner):
    chat(owner, "terms", "apples and pears", "apples alone")
    assert snippets(owner_client, "apples pears") == ["apples and pears"]
    assert snippets(owner_client, "apples plums") == []


def test_title_hits_come_before_message_hits_and_recent_before_old(owner_client, owner):
    old_title = chat(owner, "Kubernetes notes", "nothing", days_ago=30)
    old_body = chat(owner, "Older", "kubernetes was new then", days_ago=20)
    new_body = chat(owner, "Deploying", "we run it on kubernetes now", days_ago=1)
    hits = found(owner_client, "kubernetes")["results"]
    assert [(hit["conversation_id"], hit["message_id"], hit["in"]) for hit in hits] == [
        (old_title.pk, None, "title"),
        (new_body.pk, new_body.messages.get().pk, "message"),
        (old_body.pk, old_body.messages.get().pk, "message"),
    ]
    assert hits[0]["snippet"] == "Kubernetes notes" and marked(hits[0]) == ["Kubernetes"]
    assert hits[1]["title"] == "Deploying"


def test_an_archived_conversation_is_found_and_says_so(owner_client, owner):
    conversation = chat(owner, "put away", "the archived zebra")
    Conversation.objects.filter(pk=conversation.pk).update(archived=True)
    (hit,) = found(owner_client, "zebra")["results"]
    assert hit["archived"] is True


def test_a_snippet_is_the_text_around_the_first_match_with_every_match_marked(owner_client, owner):
    text = "word " * 100 + "Needle in the middle, and another needle, NEEDLE. " + "more " * 100
    chat(owner, "long", text)
    (hit,) = found(owner_client, "needle")["results"]
    assert hit["snippet"].startswith("…") and hit["snippet"].endswith("…")
    assert len(hit["snippet"]) <= search.SNIPPET_CHARS + 2
    assert marked(hit) == ["Needle", "needle", "NEEDLE"]
    assert hit["snippet"].index("Needle") <= search.SNIPPET_LEAD + 1


def test_another_persons_text_is_never_found(owner_client, outsider_client, owner, outsider):
    chat(outsider, "outsider secret title", "the outsider's secret platypus")
    chat(owner, "mine", "my own platypus")
    assert snippets(owner_client, "platypus") == ["my own platypus"]
    assert snippets(owner_client, "secret") == []
    assert snippets(outsider_client, "platypus") == ["the outsider's secret platypus"]
    assert Client().get("/api/search/", {"q": "platypus"}).status_code == 401


def test_hits_come_in_pages_of_twenty(owner_client, owner):
    chat(owner, "many", *(f"repeated marker number {n}" for n in range(45)))
    pages = [found(owner_client, "marker", page) for page in (1, 2, 3)]
    assert [len(page["results"]) for page in pages] == [20, 20, 5]
    assert [page["next_page"] for page in pages] == [2, 3, None]
    ids = [hit["message_id"] for page in pages for hit in page["results"]]
    assert len(set(ids)) == 45
    assert ids == sorted(ids, reverse=True)
    assert found(owner_client, "marker", 4) == {"results": [], "next_page": None}


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": '""'}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": " ".join(f"w{n}" for n in range(11))}, "q"),
        ({"q": "fine", "page": "two"}, "page"),
        ({"q": "fine", "page": "100000"}, "page"),
    ],
)
def test_a_bad_query_is_refused_with_a_clear_error(owner_client, owner, params, field):
    chat(owner, "fine", "fine text")
    response = owner_client.get("/api/search/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and body["error"]


def test_a_nul_character_is_no_error(owner_client, owner):
    chat(owner, "nul", "fine text")
    assert snippets(owner_client, "fine\x00text") == ["fine text"]


def live_hits(client, query):
    """The message hits of a search through a live server (the title is the first question's)."""
    status, body = client.json("GET", "/api/search/?" + urlencode({"q": query}))
    assert status == 200, body
    return [hit for hit in body["results"] if hit["in"] == "message"]


def test_an_answer_is_found_once_it_streamed_in(live, owner, upstream, script):
    upstream.push(script(words=["The ", "answer ", "mentions ", "quetzalcoatl ", "and ", "向量数据库。"]))
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "Tell me about it")
    assert events[-1].name == "done"
    (hit,) = live_hits(client, "quetzalcoatl")
    assert (hit["message_id"], hit["role"]) == (events[0].data["assistant_message_id"], "assistant")
    assert [hit["message_id"] for hit in live_hits(client, "向量数据库")] == [events[0].data["assistant_message_id"]]


def test_a_partial_answer_is_found_while_it_streams(live, owner, upstream, script):
    held = script(words=["first ", "axolotl ", "then ", "more"], hold_at=3)
    upstream.push(held)
    client = live(owner)
    conversation_id = client.create_conversation()
    stream = client.send(conversation_id, "go")
    try:
        assert eventually(lambda: live_hits(client, "axolotl") != [], timeout=10)
    finally:
        held.release.set()
        stream.events()
        stream.close()
    (hit,) = live_hits(client, "axolotl")
    assert hit["snippet"] == "first axolotl then more"


def test_an_edited_question_is_found_by_the_words_of_the_version_shown(live, owner, upstream, script):
    upstream.push(script(words=["first answer"]), script(words=["second answer"]))
    client = live(owner)
    conversation_id = client.create_conversation()
    question_id = client.ask(conversation_id, "about the ocelot")[0].data["user_message_id"]
    assert [hit["message_id"] for hit in live_hits(client, "ocelot")] == [question_id]
    stream = client.open("POST", f"/api/messages/{question_id}/edit/", {"content": "about the capybara"})
    events = stream.events()
    stream.close()
    assert events[-1].name == "done"
    edited_id = events[0].data["user_message_id"]
    assert live_hits(client, "ocelot") == []
    assert [hit["message_id"] for hit in live_hits(client, "capybara")] == [edited_id]
    # The answer of the version not shown is not found either.
    assert [hit["snippet"] for hit in live_hits(client, "answer")] == ["second answer"]
    # Shown again, the earlier version is what is found.
    client.json("POST", f"/api/messages/{question_id}/show/", {})
    assert [hit["message_id"] for hit in live_hits(client, "ocelot")] == [question_id]
    assert [hit["snippet"] for hit in live_hits(client, "answer")] == ["first answer"]


def test_a_deleted_conversation_is_found_no_more(owner_client, owner):
    conversation = chat(owner, "to go", "the wombat question", "the wombat answer")
    assert len(found(owner_client, "wombat")["results"]) == 2
    assert owner_client.delete(f"/api/chats/{conversation.pk}/").status_code == 204
    assert found(owner_client, "wombat")["results"] == []
    # Nothing of it is left in an index either.
    chat(owner, "new", "a new wombat")
    assert snippets(owner_client, "wombat") == ["a new wombat"]


def test_the_errors_are_in_the_persons_language(owner_client):
    response = owner_client.get("/api/search/", {"q": ""}, headers={"accept-language": "zh-hans"})
    assert response.json()["error"] == "请输入要搜索的内容：“q”不能为空。"


def test_the_newest_messages_are_read_first_with_the_same_hits(owner_client, owner, monkeypatch):
    chat(owner, "many", *(f"repeated marker number {n}, 数据库" for n in range(30)), "数据 alone")
    through_the_index = [found(owner_client, query, page) for query in ("marker", "数据") for page in (1, 2)]
    monkeypatch.setattr(search.MySQL, "NEWEST", 2000)
    assert [found(owner_client, query, page) for query in ("marker", "数据") for page in (1, 2)] == through_the_index
    assert [len(page["results"]) for page in through_the_index] == [20, 10, 20, 11]


def test_searchindex_writes_what_changed_at_once(owner_client, owner):
    from io import StringIO

    from django.core.management import call_command

    chat(owner, "big import", *(f"imported line {n}" for n in range(30)))
    out = StringIO()
    call_command("searchindex", stdout=out)
    assert out.getvalue().startswith(("Indexed 30 messages.", "Nothing to do"))
    assert len(found(owner_client, "imported")["results"]) == 20
