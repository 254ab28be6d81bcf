"""
Fair use: each limit refuses exactly the request over it, before anything is saved or sent
upstream, with a 429 and when it frees up; usage is counted exactly, or estimated and marked
so, and the running totals equal the answers' usage whatever happens to them.
"""

import dataclasses
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import limits, tokens, usage
from chat.errors import OverLimit
from chat.models import Activity, Allowance, Conversation, Message, Usage
from tests.support.fake_upstream import Script
from tests.support.live import read_until, text_of


def counts():
    return Conversation.objects.count(), Message.objects.count()


def assert_refused(client, upstream, conversation_id, *, status=429, content="one more"):
    """Send a message that must be refused with `status`; nothing is saved or sent upstream."""
    before, requests = counts(), len(upstream.chat_requests)
    stream = client.send(conversation_id, content)
    body = stream.json()
    assert stream.status == status, body
    assert counts() == before
    assert len(upstream.chat_requests) == requests
    if status == 429:
        retry_after = int(stream.response.headers["Retry-After"])
        assert body["retry_after"] == retry_after >= 1
    else:
        assert "Retry-After" not in stream.response.headers
    return body


def used_today(user, tokens):
    Usage.objects.create(user=user, day=timezone.localdate(), model="an-earlier-model", prompt_tokens=tokens)


# --- Limits ---------------------------------------------------------------------------------


def test_the_rate_limit_refuses_the_message_past_it_and_says_when_it_frees_up(live, owner, upstream, settings):
    settings.CHAT_RATE_LIMIT = 2
    client = live(owner)
    conversation_id = client.create_conversation()
    for _ in range(2):
        assert client.ask(conversation_id, "hello")[-1].name == "done"

    body = assert_refused(client, upstream, conversation_id)
    assert "2 messages in the last minute" in body["error"]
    assert 50 <= body["retry_after"] <= 60

    # A minute after the first of them, the limit has room again.
    activity = Activity.objects.get(user=owner)
    first, *later = activity.starts.split()
    activity.starts = " ".join([repr(float(first) - 61), *later])
    activity.save()
    assert client.ask(conversation_id, "hello again")[-1].name == "done"


def test_the_rate_limit_counts_regenerated_answers_too(live, owner, upstream, settings):
    settings.CHAT_RATE_LIMIT = 1
    client = live(owner)
    conversation_id = client.create_conversation()
    events = client.ask(conversation_id, "hello")
    answer_id = events[0].data["assistant_message_id"]
    before = counts()
    stream = client.open("POST", f"/api/messages/{answer_id}/regenerate/", {})
    assert stream.status == 429, stream.json()
    assert counts() == before and Message.objects.filter(pk=answer_id).exists()


def test_concurrent_streams_are_limited_per_user_not_per_server(live, owner, outsider, upstream, script, settings):
    settings.CHAT_MAX_STREAMS_PER_USER = 1
    client = live(owner)
    held = script(tokens=5, hold_at=1)
    upstream.push(held)
    stream = client.send(client.create_conversation(), "a long story")
    events = iter(stream)
    read_until(events, lambda seen: text_of(seen) == "t0 ")

    body = assert_refused(client, upstream, client.create_conversation())
    assert "1 answer being generated" in body["error"]
    # Someone else is not held back by it.
    other = live(outsider)
    assert other.ask(other.create_conversation(), "hi")[-1].name == "done"

    held.release.set()
    assert list(events)[-1].name == "done"
    stream.close()
    assert client.ask(client.create_conversation(), "and now")[-1].name == "done"


def test_the_daily_quota_refuses_once_spent_until_midnight(live, owner, upstream, settings):
    settings.CHAT_DAILY_TOKEN_QUOTA = 1000
    client = live(owner)
    conversation_id = client.create_conversation()
    used_today(owner, 999)
    assert client.ask(conversation_id, "hello")[-1].name == "done"  # 999 < 1000: it may go on

    body = assert_refused(client, upstream, conversation_id)
    assert "today's 1,000 tokens" in body["error"]
    now = timezone.localtime()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(body["retry_after"] - (midnight - now).total_seconds()) < 5


def test_the_monthly_quota_counts_every_day_of_the_month(live, owner, upstream, settings):
    settings.CHAT_MONTHLY_TOKEN_QUOTA = 500
    client = live(owner)
    conversation_id = client.create_conversation()
    today = timezone.localdate()
    Usage.objects.create(user=owner, day=today.replace(day=1), model="fake-model", completion_tokens=300)
    # Last month's tokens are not this month's.
    Usage.objects.create(user=owner, day=today.replace(day=1) - timedelta(days=1), model="x", prompt_tokens=10**6)
    assert client.ask(conversation_id, "hello")[-1].name == "done"
    used_today(owner, 200)

    body = assert_refused(client, upstream, conversation_id)
    assert "this month's 500 tokens" in body["error"]
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert body["retry_after"] >= (next_month - today).days * 86400 - 86400


def test_a_model_the_person_may_not_use_is_forbidden(live, owner, upstream):
    Allowance.objects.create(user=owner, allowed_models="fake-other")
    client = live(owner)
    conversation_id = client.create_conversation()
    assert Conversation.objects.get(pk=conversation_id).model == "fake-other"  # their default

    status, body = client.json("POST", "/api/chats/", {"model": "fake-model"})
    assert status == 403 and "fake-other" in body["error"] and body["field"] == "model"
    Conversation.objects.filter(pk=conversation_id).update(model="fake-model")
    body = assert_refused(client, upstream, conversation_id, status=403)
    assert "You may not use the model 'fake-model'" in body["error"]

    status, models = client.json("GET", "/api/models/")
    assert status == 200
    assert [m["id"] for m in models["results"]] == ["fake-other"] and models["default"] == "fake-other"


def test_a_refused_message_keeps_the_conversation_model_unchanged(live, owner, upstream, settings):
    settings.CHAT_RATE_LIMIT = 1
    client = live(owner)
    conversation_id = client.create_conversation(model="fake-model")
    assert client.ask(conversation_id, "hello")[-1].name == "done"
    stream = client.send(conversation_id, "again", model="fake-other")
    assert stream.status == 429, stream.json()
    assert Conversation.objects.get(pk=conversation_id).model == "fake-model"


# --- Whose limits ---------------------------------------------------------------------------


EVERY_LIMIT = limits.Limits(messages_per_minute=1000, max_streams=1000, daily_tokens=10**9, monthly_tokens=10**9)


def new_answer(conversation, status=Message.Status.STREAMING):
    conversation.messages.create(role="user", content="question")
    return conversation.messages.create(role="assistant", content="", status=status)


def statements_of_admit(owner, conversation):
    answer = new_answer(conversation, Message.Status.COMPLETE)
    with CaptureQueriesContext(connection) as queries:
        limits.admit(owner.pk, EVERY_LIMIT, answer.pk)
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_the_check_reads_no_message_however_long_the_history(owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    limits.admit(owner.pk, EVERY_LIMIT, new_answer(conversation).pk)  # the person's first: their row is made
    # The tokens of the day and the month, the person's row, and the new answer written into it.
    before = statements_of_admit(owner, conversation)
    assert len(before) == 3
    assert not [sql for sql in before if Message._meta.db_table in sql]
    Message.objects.bulk_create(
        Message(conversation=conversation, role=role, content="years of it", status=Message.Status.COMPLETE)
        for _ in range(500)
        for role in ("user", "assistant")
    )
    assert len(statements_of_admit(owner, conversation)) == 3


@pytest.mark.django_db
def test_a_persons_first_check_costs_one_insert_more(owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    # The day's and month's tokens, the person's row (none), it made, read, and written.
    assert len(statements_of_admit(owner, conversation)) == 5
    assert len(statements_of_admit(owner, conversation)) == 3


@pytest.mark.django_db(transaction=True)
def test_two_first_turns_of_a_person_begun_together_both_pass_with_one_row(owner):
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    answers = [new_answer(conversation).pk for _ in range(2)]
    together = threading.Barrier(2)
    failures = []

    # Both in their transaction at once, where the database lets two write transactions be
    # (SQLite's transactions take its lock as they begin: there, one waits for the other).
    serialised = connection.vendor == "sqlite"

    def turn(answer_id):
        try:
            if serialised:
                together.wait(5)
            with transaction.atomic():
                if not serialised:
                    together.wait(5)
                limits.admit(owner.pk, EVERY_LIMIT, answer_id)
        except Exception as exc:  # any error is the test's failure, seen below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=turn, args=(answer_id,)) for answer_id in answers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert sorted(map(int, Activity.objects.get(user=owner).live.split())) == answers


@pytest.mark.django_db
def test_answers_that_ended_free_their_place_among_the_answers_at_once(owner, outsider):
    at_once = limits.Limits(max_streams=2)
    conversation = Conversation.objects.create(owner=owner, model="fake-model")
    first, second = new_answer(conversation), new_answer(conversation)
    limits.admit(owner.pk, at_once, first.pk)
    limits.admit(owner.pk, at_once, second.pk)
    third = new_answer(conversation)
    with pytest.raises(OverLimit, match="2 answers being generated"):
        limits.admit(owner.pk, at_once, third.pk)
    # Another person's answers are theirs.
    limits.admit(outsider.pk, at_once, third.pk)
    # Stopped: its place is free.
    Message.objects.filter(pk=first.pk).update(status=Message.Status.STOPPED)
    limits.admit(owner.pk, at_once, third.pk)
    with pytest.raises(OverLimit):
        limits.admit(owner.pk, at_once, new_answer(conversation).pk)


def test_the_wait_is_told_from_the_whole_seconds_of_retry_after():
    now = timezone.now()
    assert limits.wait_words(now + timedelta(seconds=59.95), now) == "1\xa0minute"
    assert limits.wait_words(now + timedelta(seconds=42.2), now) == "43 seconds"
    assert limits.wait_words(now + timedelta(hours=3, minutes=12, seconds=5), now) == "3\xa0hours, 12\xa0minutes"


@pytest.mark.django_db
def test_a_users_allowance_goes_before_their_groups_and_the_settings(owner, outsider, settings):
    settings.CHAT_RATE_LIMIT, settings.CHAT_DAILY_TOKEN_QUOTA = 10, 1000
    generous, strict = Group.objects.create(name="generous"), Group.objects.create(name="strict")
    Allowance.objects.create(group=generous, messages_per_minute=30, daily_tokens=0)
    Allowance.objects.create(group=strict, messages_per_minute=5, daily_tokens=2000, allowed_models="fake-model")
    owner.groups.add(generous, strict)
    outsider.groups.add(strict)

    # The most generous of the groups: 30 a minute, no daily quota (0), every model (generous
    # lists none).
    assert limits.of(owner.pk) == limits.Limits(messages_per_minute=30, daily_tokens=0)
    assert limits.of(outsider.pk) == limits.Limits(
        messages_per_minute=5, daily_tokens=2000, models=frozenset({"fake-model"})
    )
    # The user's own allowance wins where it says something; blank fields are the groups'.
    Allowance.objects.create(user=owner, messages_per_minute=1, allowed_models="fake-other\n")
    assert limits.of(owner.pk) == limits.Limits(messages_per_minute=1, models=frozenset({"fake-other"}))
    # Nobody's allowance: the settings'.
    owner.groups.clear()
    Allowance.objects.filter(user=owner).delete()
    assert limits.of(owner.pk) == limits.Limits(messages_per_minute=10, daily_tokens=1000)


def test_a_group_allowance_lifts_the_settings_limit_for_its_members(live, owner, outsider, upstream, settings):
    settings.CHAT_DAILY_TOKEN_QUOTA = 100
    staff = Group.objects.create(name="staff")
    Allowance.objects.create(group=staff, daily_tokens=10**6)
    owner.groups.add(staff)
    used_today(owner, 500)
    used_today(outsider, 500)
    client = live(owner)
    assert client.ask(client.create_conversation(), "hello")[-1].name == "done"
    other = live(outsider)
    assert_refused(other, upstream, other.create_conversation())


# --- Usage ----------------------------------------------------------------------------------


def totals(user):
    return Usage.objects.filter(user=user).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), requests=Sum("requests")
    )


def answers_usage(user):
    return Message.objects.filter(conversation__owner=user, role="assistant").aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )


def test_reported_usage_is_recorded_exactly(live, owner, upstream):
    client = live(owner)
    events = client.ask(client.create_conversation(), "hello")
    answer = Message.objects.get(pk=events[0].data["assistant_message_id"])
    assert (answer.prompt_tokens, answer.completion_tokens, answer.usage_estimated) == (11, 5, False)
    assert events[-1].data["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "estimated": False}
    assert totals(owner) == {"prompt": 11, "completion": 5, "requests": 1}
    row = Usage.objects.get(user=owner)
    assert (row.day, row.model, row.provider, row.estimated_tokens) == (timezone.localdate(), "fake-model", "local", 0)


def test_usage_a_provider_does_not_report_is_estimated_and_marked(live, owner, upstream):
    upstream.push(Script(words=["Hello ", "there, ", "friend."], usage=False))
    client = live(owner)
    events = client.ask(client.create_conversation(system_prompt="Be brief."), "Say hello to me")
    answer = Message.objects.get(pk=events[0].data["assistant_message_id"])
    assert answer.usage_estimated
    # 21 characters of answer at about four a token; two messages (15 and 9 characters) with
    # 4 tokens of format each.
    assert answer.completion_tokens == 21 // 4 + 1
    assert answer.prompt_tokens == (15 // 4 + 1 + 4) + (9 // 4 + 1 + 4)
    assert events[-1].data["usage"]["estimated"] is True
    row = Usage.objects.get(user=owner)
    assert row.estimated_tokens == answer.prompt_tokens + answer.completion_tokens == row.tokens


def test_the_totals_equal_the_answers_usage_after_stops_faults_regenerates_and_deletes(live, owner, upstream, script):
    client = live(owner)
    charged = {"prompt": 0, "completion": 0}

    def charge_of(message_id):
        answer = Message.objects.get(pk=message_id)
        charged["prompt"] += answer.prompt_tokens or 0
        charged["completion"] += answer.completion_tokens or 0
        return answer

    first = client.create_conversation()
    # Complete, reported.
    answer_id = client.ask(first, "one")[0].data["assistant_message_id"]
    assert not charge_of(answer_id).usage_estimated
    # Stopped midway: what it produced, estimated.
    held = script(tokens=10, hold_at=2)
    upstream.push(held)
    stream = client.send(first, "two")
    events = iter(stream)
    meta = next(events)
    read_until(events, lambda seen: text_of(seen) == "t0 t1 ")
    assert client.json("POST", f"/api/messages/{meta.data['assistant_message_id']}/stop/")[0] == 200
    list(events)
    stream.close()
    stopped = charge_of(meta.data["assistant_message_id"])
    assert (stopped.status, stopped.usage_estimated) == ("stopped", True) and stopped.completion_tokens > 0
    # A fault mid-answer: estimated too.
    upstream.push(Script(tokens=6, fault="reset", fault_after=3))
    events = client.ask(first, "three")
    faulted = charge_of(events[0].data["assistant_message_id"])
    assert (faulted.status, faulted.usage_estimated) == ("error", True)
    # Refused by the provider at once: nothing consumed, a request all the same.
    upstream.push(Script(status=429, error_message="slow down"))
    refused = charge_of(client.ask(first, "four")[0].data["assistant_message_id"])
    assert (refused.prompt_tokens, refused.completion_tokens) == (None, None)
    # Regenerated: the answer replaced still counts.
    events = client.open("POST", f"/api/messages/{refused.pk}/regenerate/", {}).events()
    charge_of(events[0].data["assistant_message_id"])
    assert totals(owner) == {**charged, "requests": 5}

    # A deleted conversation gives nothing back.
    assert answers_usage(owner) != {"prompt": 0, "completion": 0}
    assert client.json("DELETE", f"/api/chats/{first}/")[0] == 204
    assert answers_usage(owner) == {"prompt": None, "completion": None}
    assert totals(owner) == {**charged, "requests": 5}


def test_usage_is_costed_at_the_models_prices(live, owner, upstream):
    from chat.models import Provider, ProviderModel

    provider = Provider.objects.create(name="priced", base_url=upstream.base_url)
    ProviderModel.objects.create(
        provider=provider, name="fake-priced", input_price="2.00", output_price="8.00", enabled=True
    )
    client = live(owner)
    client.ask(client.create_conversation(model="fake-priced"), "hello")
    row = Usage.objects.get(user=owner)
    assert (row.model, row.provider) == ("fake-priced", "priced")
    # 11 prompt tokens at 2 per million, 5 completion tokens at 8 per million.
    assert str(row.cost) == "0.000062"


def charge(user, model="fake-model", *, prompt=10, completion=5, cost="0.000100", estimated=False, token_id=None):
    return usage.Charge(
        user_id=user.pk,
        model=model,
        provider="",
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated=estimated,
        cost=Decimal(cost),
        token_id=token_id,
    )


def totals_of(user):
    return list(
        Usage.objects.filter(user=user)
        .order_by("model")
        .values_list("model", "requests", "prompt_tokens", "completion_tokens", "estimated_tokens", "cost")
    )


@pytest.mark.django_db
def test_answers_ended_together_add_to_their_users_rows_and_make_the_missing_ones(owner, outsider):
    usage.record([charge(owner), charge(owner, "other-model", estimated=True)])
    assert totals_of(owner) == [
        ("fake-model", 1, 10, 5, 0, Decimal("0.0001")),
        ("other-model", 1, 10, 5, 15, Decimal("0.0001")),
    ]
    # One batch: two answers of the owner's model (a row to add to), the outsider's first.
    with CaptureQueriesContext(connection) as queries:
        usage.record([charge(owner, prompt=1, completion=2), charge(owner, cost="0.5"), charge(outsider)])
    assert totals_of(owner)[0] == ("fake-model", 3, 21, 12, 0, Decimal("0.5002"))
    assert totals_of(owner)[1] == ("other-model", 1, 10, 5, 15, Decimal("0.0001"))
    assert totals_of(outsider) == [("fake-model", 1, 10, 5, 0, Decimal("0.0001"))]
    # The rows read, added to, and the missing one made: however many answers and people.
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]) == 3


@pytest.mark.django_db
def test_charges_of_one_model_through_two_providers_in_one_batch_add_to_one_row(owner):
    # The page's rows (no API token) are not kept apart by the unique constraint, whose NULLs
    # differ: the batch must not make two.
    first, second = charge(owner), charge(owner, prompt=1, completion=1)
    second = dataclasses.replace(second, provider="renamed")
    usage.record([first, second])
    assert totals_of(owner) == [("fake-model", 2, 11, 6, 0, Decimal("0.0002"))]


@pytest.mark.django_db
def test_a_days_row_made_by_another_process_meanwhile_is_added_to_not_doubled(owner, outsider, monkeypatch):
    # The outsider's row (of an API token: the rows of the page, whose token is none, are
    # told apart by the one process that writes them on SQLite, and by the query above
    # elsewhere) is made after the batch looked for it: the batch's INSERT fails, and each row
    # is then added to, or made, on its own.
    token, _secret = tokens.create(outsider.pk, name="script")
    made_meanwhile = Usage(user=outsider, day=timezone.localdate(), model="fake-model", token=token, requests=4)
    original = Usage.objects.add_each

    def add_each_then_the_other_process(rows):
        original(rows)
        made_meanwhile.save()

    monkeypatch.setattr(Usage.objects, "add_each", add_each_then_the_other_process)
    usage.record([charge(owner), charge(outsider, token_id=token.pk)])
    assert totals_of(owner) == [("fake-model", 1, 10, 5, 0, Decimal("0.0001"))]
    assert totals_of(outsider) == [("fake-model", 5, 10, 5, 0, Decimal("0.0001"))]


def test_the_person_sees_their_usage_and_quotas(live, owner, outsider, upstream, settings):
    settings.CHAT_DAILY_TOKEN_QUOTA, settings.CHAT_MONTHLY_TOKEN_QUOTA = 1000, 0
    used_today(outsider, 777)
    today = timezone.localdate()
    if today.day > 1:
        Usage.objects.create(user=owner, day=today.replace(day=1), model="fake-model", prompt_tokens=100)
    client = live(owner)
    client.ask(client.create_conversation(), "hello")
    status, body = client.json("GET", "/api/usage/")
    assert status == 200
    month = 16 + (100 if today.day > 1 else 0)
    assert body["today"] == {"tokens": 16, "quota": 1000, "remaining": 984, "cost": "0.000000"}
    assert body["month"] == {"tokens": month, "quota": None, "remaining": None, "cost": "0.000000"}
    assert body["currency"] == "USD"
    assert body["limits"] == {"messages_per_minute": None, "max_streams": None}
    assert live().json("GET", "/api/usage/")[0] == 401


def test_a_limit_is_told_in_the_persons_language(live, owner, upstream, settings):
    settings.CHAT_RATE_LIMIT = 1
    client = live(owner)
    conversation_id = client.create_conversation()
    client.ask(conversation_id, "hello")
    stream = client.open(
        "POST", f"/api/chats/{conversation_id}/messages/", {"content": "again"}, {"Accept-Language": "zh-hans"}
    )
    assert stream.status == 429
    assert "分钟" in stream.json()["error"]


def test_an_answer_whose_process_died_is_charged_once_as_estimated(owner_client, owner, settings):
    chat = Conversation.objects.create(owner=owner, model="fake-model")
    chat.add_turn("Tell me about relays")
    answer = chat.new_answer()
    answer.content = "Relays pass a stream on, token by token."
    answer.save()
    long_ago = timezone.now() - timedelta(seconds=settings.CHAT_ABANDONED_SECONDS + 5)
    Message.objects.filter(pk=answer.pk).update(updated_at=long_ago)

    for _ in range(2):  # the second look finds it ended: nothing more is charged
        assert owner_client.get(f"/api/chats/{chat.pk}/").status_code == 200
    answer.refresh_from_db()
    assert (answer.status, answer.usage_estimated) == ("interrupted", True)
    assert answer.completion_tokens == len(answer.content) // 4 + 1
    assert answer.prompt_tokens == len("Tell me about relays") // 4 + 1 + 4
    assert totals(owner) == {"prompt": answer.prompt_tokens, "completion": answer.completion_tokens, "requests": 1}


def test_the_admin_report_equals_the_answers_usage(live, owner, outsider, upstream, admin_client):
    from chat import tokens

    for person in (owner, outsider):
        client = live(person)
        conversation_id = client.create_conversation()
        client.ask(conversation_id, "hello")
        upstream.push(Script(words=["No ", "usage."], usage=False))
        client.ask(conversation_id, "again")
    _row, token = tokens.create(owner.pk, name="Script")
    stream = live().open(
        "POST",
        "/v1/chat/completions",
        {"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {token}"},
        csrf=False,
    )
    assert stream.status == 200 and stream.json()["object"] == "chat.completion"
    stream.close()

    response = admin_client.get("/admin/chat/usage/")
    totals = response.context["usage_totals"]
    answers = answers_usage(owner), answers_usage(outsider)
    assert totals["prompt"] == sum(a["prompt"] for a in answers)
    assert totals["completion"] == sum(a["completion"] for a in answers)
    assert totals["requests"] == Message.objects.filter(role="assistant").count() == 5
    estimated = Message.objects.filter(usage_estimated=True)
    assert totals["estimated"] == sum(m.prompt_tokens + m.completion_tokens for m in estimated)
    # The request through the token is a row of its own, under the token's name.
    assert "Script" in response.content.decode()
    assert Usage.objects.filter(token__name="Script").get().requests == 1
