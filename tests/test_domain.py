"""
The rules of a chat turn and of a person's conversations (chat.turns, chat.conversations),
called as plain functions with plain values, without a server or an upstream; and the one
place their refusals become HTTP statuses (chat.api).
"""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.http import JsonResponse
from django.test import RequestFactory
from django.utils import timezone

from chat import api, conversations, errors, turns
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound, OverLimit
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(owner):
    return Conversation.objects.create(owner=owner, model="fake-model")


def finish(answer_id, content="An answer.", status=Message.Status.COMPLETE):
    Message.objects.filter(pk=answer_id).update(content=content, status=status)


def saved(conversation):
    """The messages shown (the versions shown of each place), as the person reads them."""
    return list(conversation.messages.shown().order_by("id").values_list("role", "content", "status"))


def test_a_turn_saves_the_question_and_an_empty_answer_before_anything_goes_upstream(owner, conversation):
    turn = turns.start(owner.pk, conversation.pk, "What is a turn?")

    assert saved(conversation) == [("user", "What is a turn?", "complete"), ("assistant", "", "streaming")]
    question, answer = conversation.messages.order_by("id")
    assert (turn.question_id, turn.answer_id, turn.conversation_id) == (question.pk, answer.pk, conversation.pk)
    assert turn.user_id == owner.pk
    assert turn.model == "fake-model" == answer.model
    assert turn.messages == [{"role": "user", "content": "What is a turn?"}]
    conversation.refresh_from_db()
    assert conversation.title == turn.title == "What is a turn?"


@pytest.mark.parametrize(
    ("content", "model", "field"),
    [
        ("", None, "content"),
        ("   \n ", None, "content"),
        ("x" * 33, None, "content"),
        ("Fine.", "not-offered", "model"),
    ],
)
def test_a_turn_refuses_bad_input_and_saves_nothing(owner, conversation, settings, content, model, field):
    settings.CHAT_MAX_PROMPT_CHARS = 32

    with pytest.raises(Invalid) as refused:
        turns.start(owner.pk, conversation.pk, content, model=model)

    assert refused.value.field == field
    assert saved(conversation) == []
    conversation.refresh_from_db()
    assert (conversation.title, conversation.model) == ("", "fake-model")


def test_a_turn_in_someone_elses_conversation_is_not_found_and_saves_nothing(outsider, conversation):
    with pytest.raises(NotFound):
        turns.start(outsider.pk, conversation.pk, "Hello?")

    assert saved(conversation) == []


def test_a_turn_switches_the_conversation_to_the_model_asked_for(owner, conversation):
    turn = turns.start(owner.pk, conversation.pk, "Hi", model="fake-other")

    conversation.refresh_from_db()
    assert turn.model == conversation.model == "fake-other"
    assert conversation.messages.get(role="assistant").model == "fake-other"


def test_a_conversation_on_a_model_since_removed_takes_no_message_until_another_is_picked(owner):
    conversation = Conversation.objects.create(owner=owner, model="retired-model")

    with pytest.raises(Invalid, match="'retired-model' is no longer offered. Pick another model") as refused:
        turns.start(owner.pk, conversation.pk, "Still there?")
    assert refused.value.field == "model"
    assert not conversation.messages.exists()

    turn = turns.start(owner.pk, conversation.pk, "Still there?", model="fake-other")
    conversation.refresh_from_db()
    assert turn.model == conversation.model == "fake-other"


def test_only_a_conversations_first_turn_asks_for_a_title(owner, conversation, settings):
    settings.CHAT_AUTO_TITLE = True

    first = turns.start(owner.pk, conversation.pk, "Name me")
    finish(first.answer_id)
    second = turns.start(owner.pk, conversation.pk, "And again")

    assert first.title_from == "Name me"
    assert second.title_from == ""


def test_the_demo_model_never_asks_for_a_title(owner, settings):
    settings.CHAT_AUTO_TITLE = True
    conversation = Conversation.objects.create(owner=owner, model="demo")

    assert turns.start(owner.pk, conversation.pk, "Hi").title_from == ""


def test_the_history_keeps_the_newest_turns_that_fit_the_budget_after_the_system_prompt(owner, settings):
    conversation = Conversation.objects.create(owner=owner, model="fake-model", system_prompt="Be brief.")
    for n in range(3):
        turn = turns.start(owner.pk, conversation.pk, f"question {n}")
        finish(turn.answer_id, f"answer {n}")
    # "question 3", "answer 2", "question 2" fit (10 characters each); "answer 1" does not.
    settings.CHAT_HISTORY_CHARS = 35

    turn = turns.start(owner.pk, conversation.pk, "question 3")

    assert turn.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "question 2"},
        {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": "question 3"},
    ]


def test_the_newest_question_goes_upstream_whatever_its_length(owner, conversation, settings):
    turn = turns.start(owner.pk, conversation.pk, "short")
    finish(turn.answer_id, "reply")
    settings.CHAT_HISTORY_CHARS = 3

    assert turns.start(owner.pk, conversation.pk, "a long question").messages == [
        {"role": "user", "content": "a long question"}
    ]


def test_the_history_counts_at_most_the_messages_allowed(owner, conversation, settings):
    for n in range(3):
        finish(turns.start(owner.pk, conversation.pk, f"q{n}").answer_id, f"a{n}")
    settings.CHAT_HISTORY_MESSAGES = 3

    assert [m["content"] for m in turns.start(owner.pk, conversation.pk, "q3").messages] == ["q2", "a2", "q3"]


def test_failed_and_empty_answers_never_go_back_upstream(owner, conversation):
    finish(turns.start(owner.pk, conversation.pk, "q0").answer_id, "half an answer", Message.Status.ERROR)
    finish(turns.start(owner.pk, conversation.pk, "q1").answer_id, "", Message.Status.STOPPED)
    finish(turns.start(owner.pk, conversation.pk, "q2").answer_id, "cut short", Message.Status.STOPPED)

    assert [m["content"] for m in turns.start(owner.pk, conversation.pk, "q3").messages] == [
        "q0",
        "q1",
        "q2",
        "cut short",
        "q3",
    ]


def test_regenerating_shows_a_new_empty_answer_and_keeps_the_last_as_its_earlier_version(owner, conversation):
    first = turns.start(owner.pk, conversation.pk, "q0")
    finish(first.answer_id, "a0")
    second = turns.start(owner.pk, conversation.pk, "q1")
    finish(second.answer_id, "a1")

    turn = turns.regenerate(owner.pk, second.answer_id)

    assert turn.versions == (second.answer_id, turn.answer_id)
    assert Message.objects.get(pk=second.answer_id).content == "a1"
    assert saved(conversation) == [
        ("user", "q0", "complete"),
        ("assistant", "a0", "complete"),
        ("user", "q1", "complete"),
        ("assistant", "", "streaming"),
    ]
    assert turn.question_id == second.question_id
    assert [m["content"] for m in turn.messages] == ["q0", "a0", "q1"]


def test_only_the_last_answer_can_be_regenerated(owner, conversation):
    first = turns.start(owner.pk, conversation.pk, "q0")
    finish(first.answer_id)
    finish(turns.start(owner.pk, conversation.pk, "q1").answer_id)
    before = saved(conversation)

    with pytest.raises(Invalid):
        turns.regenerate(owner.pk, first.answer_id)

    assert saved(conversation) == before


def test_an_answer_still_being_generated_must_be_stopped_before_it_is_regenerated(owner, conversation):
    turn = turns.start(owner.pk, conversation.pk, "q0")

    for status in Message.LIVE_STATUSES:
        Message.objects.filter(pk=turn.answer_id).update(status=status)
        with pytest.raises(Conflict):
            turns.regenerate(owner.pk, turn.answer_id)
        assert Message.objects.get(pk=turn.answer_id).status == status


def test_an_answer_whose_process_died_can_be_regenerated_at_once(owner, conversation, settings):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    long_ago = timezone.now() - timedelta(seconds=settings.CHAT_ABANDONED_SECONDS + 5)
    Message.objects.filter(pk=turn.answer_id).update(updated_at=long_ago)

    again = turns.regenerate(owner.pk, turn.answer_id)

    assert again.answer_id != turn.answer_id
    assert saved(conversation) == [("user", "q0", "complete"), ("assistant", "", "streaming")]


def test_a_question_or_someone_elses_answer_cannot_be_regenerated(owner, outsider, conversation):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    finish(turn.answer_id)

    with pytest.raises(NotFound):
        turns.regenerate(owner.pk, turn.question_id)
    with pytest.raises(NotFound):
        turns.regenerate(outsider.pk, turn.answer_id)
    with pytest.raises(NotFound):
        turns.answer_of(outsider.pk, turn.answer_id)
    assert len(saved(conversation)) == 2


def test_editing_a_question_shows_it_anew_and_keeps_it_and_everything_after_it_as_its_earlier_version(
    owner, conversation
):
    first = turns.start(owner.pk, conversation.pk, "q0")
    finish(first.answer_id, "a0")
    second = turns.start(owner.pk, conversation.pk, "q1")
    finish(second.answer_id, "a1")

    turn = turns.edit(owner.pk, first.question_id, "q0, better put")

    assert saved(conversation) == [("user", "q0, better put", "complete"), ("assistant", "", "streaming")]
    assert turn.versions == (first.question_id, turn.question_id)
    assert turn.messages == [{"role": "user", "content": "q0, better put"}]
    assert Message.objects.count() == 6


def answer(turn, text):
    finish(turn.answer_id, text)
    return turn


def test_showing_an_earlier_version_brings_back_its_branch_with_the_versions_it_showed(owner, conversation):
    q0 = answer(turns.start(owner.pk, conversation.pk, "q0"), "a0")
    q1 = answer(turns.start(owner.pk, conversation.pk, "q1"), "a1")
    again = answer(turns.regenerate(owner.pk, q1.answer_id), "a1, again")
    edited = answer(turns.edit(owner.pk, q0.question_id, "q0 edited"), "a0 for the edit")
    assert [m[1] for m in saved(conversation)] == ["q0 edited", "a0 for the edit"]

    turns.show_version(owner.pk, q0.question_id)
    # The branch as it was shown: its second answer is the regenerated one.
    assert [m[1] for m in saved(conversation)] == ["q0", "a0", "q1", "a1, again"]
    assert [m["content"] for m in turns.start(owner.pk, conversation.pk, "q2").messages] == [
        "q0",
        "a0",
        "q1",
        "a1, again",
        "q2",
    ]

    Message.objects.filter(status="streaming").update(status="complete", content="a2")
    turns.show_version(owner.pk, q1.answer_id)
    # From that place on, the conversation is the one the version began: q2 was asked after the other.
    assert [m[1] for m in saved(conversation)] == ["q0", "a0", "q1", "a1"]
    turns.show_version(owner.pk, again.answer_id)
    assert [m[1] for m in saved(conversation)] == ["q0", "a0", "q1", "a1, again", "q2", "a2"]
    turns.show_version(owner.pk, edited.question_id)
    assert [m[1] for m in saved(conversation)] == ["q0 edited", "a0 for the edit"]
    assert Message.objects.count() == 9  # nothing was ever lost


def test_a_version_not_shown_is_not_regenerated_edited_or_shown_from_a_hidden_branch(owner, conversation):
    q0 = answer(turns.start(owner.pk, conversation.pk, "q0"), "a0")
    q1 = answer(turns.start(owner.pk, conversation.pk, "q1"), "a1")
    again = answer(turns.regenerate(owner.pk, q1.answer_id), "a1, again")
    answer(turns.edit(owner.pk, q0.question_id, "q0 edited"), "other")
    before = list(Message.objects.order_by("id").values_list("id", "hidden_in", "versions_of"))

    with pytest.raises(Invalid):
        turns.regenerate(owner.pk, again.answer_id)
    with pytest.raises(Invalid):
        turns.edit(owner.pk, q1.question_id, "changed")
    with pytest.raises(Invalid):
        turns.show_version(owner.pk, q1.answer_id)  # its place is in the hidden branch
    with pytest.raises(Invalid):
        turns.show_version(owner.pk, q1.question_id)  # a message of one version only
    assert list(Message.objects.order_by("id").values_list("id", "hidden_in", "versions_of")) == before


def test_versions_are_shown_only_to_their_owner_and_not_while_an_answer_is_generated(owner, outsider, conversation):
    q0 = answer(turns.start(owner.pk, conversation.pk, "q0"), "a0")
    again = turns.regenerate(owner.pk, q0.answer_id)
    with pytest.raises(NotFound):
        turns.show_version(outsider.pk, q0.answer_id)
    with pytest.raises(Conflict):
        turns.show_version(owner.pk, q0.answer_id)
    assert saved(conversation)[-1] == ("assistant", "", "streaming")
    finish(again.answer_id, "a0, again")
    turns.show_version(owner.pk, q0.answer_id)
    assert saved(conversation)[-1] == ("assistant", "a0", "complete")


def test_an_answer_with_no_text_is_not_kept_as_a_version(owner, conversation):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    finish(turn.answer_id, "", Message.Status.ERROR)
    again = turns.regenerate(owner.pk, turn.answer_id)
    assert again.versions == ()
    assert not Message.objects.filter(pk=turn.answer_id).exists()


def test_an_edit_waits_until_the_answers_after_the_question_are_stopped(owner, conversation):
    first = turns.start(owner.pk, conversation.pk, "q0")
    finish(first.answer_id, "a0")
    turns.start(owner.pk, conversation.pk, "q1")
    before = saved(conversation)

    with pytest.raises(Conflict):
        turns.edit(owner.pk, first.question_id, "changed")

    assert saved(conversation) == before


def test_an_edit_refuses_bad_input_and_someone_elses_question(owner, outsider, conversation, settings):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    finish(turn.answer_id, "a0")
    before = saved(conversation)

    with pytest.raises(Invalid):
        turns.edit(owner.pk, turn.question_id, "  ")
    with pytest.raises(NotFound):
        turns.edit(outsider.pk, turn.question_id, "mine now")
    with pytest.raises(NotFound):
        turns.edit(owner.pk, turn.answer_id, "an answer is no question")

    assert saved(conversation) == before


def test_a_conversation_is_created_with_checked_fields(owner, settings):
    settings.CHAT_MAX_SYSTEM_PROMPT_CHARS = 10

    conversation = conversations.create(owner.pk, title="  Plans  ", system_prompt="Be brief.")

    assert (conversation.title, conversation.model, conversation.owner_id) == (
        "Plans",
        settings.OPENAI_DEFAULT_MODEL,
        owner.pk,
    )
    with pytest.raises(Invalid) as refused:
        conversations.create(owner.pk, system_prompt="x" * 11)
    assert refused.value.field == "system_prompt"
    with pytest.raises(Invalid):
        conversations.create(owner.pk, model="not-offered")
    assert Conversation.objects.count() == 1


def test_a_conversations_fields_change_only_when_valid_and_only_for_its_owner(owner, outsider, conversation):
    updated, messages = conversations.update(owner.pk, conversation.pk, title=" Renamed ", model="fake-other")
    assert (updated.title, updated.model, messages) == ("Renamed", "fake-other", [])

    with pytest.raises(Invalid):
        conversations.update(owner.pk, conversation.pk, title="x" * 201)
    with pytest.raises(NotFound):
        conversations.update(outsider.pk, conversation.pk, title="Mine")
    with pytest.raises(NotFound):
        conversations.delete(outsider.pk, conversation.pk)

    conversation.refresh_from_db()
    assert (conversation.title, conversation.model) == ("Renamed", "fake-other")


def test_showing_a_conversation_ends_the_answers_whose_process_died(owner, conversation, settings):
    turn = turns.start(owner.pk, conversation.pk, "q0")
    long_ago = timezone.now() - timedelta(seconds=settings.CHAT_ABANDONED_SECONDS + 5)
    Message.objects.filter(pk=turn.answer_id).update(status=Message.Status.STOPPING, updated_at=long_ago)

    _, messages = conversations.show(owner.pk, conversation.pk)

    assert [m["status"] for m in messages] == ["complete", "stopped"]


def test_the_pages_of_conversations_are_the_persons_own_most_recent_first(owner, outsider):
    mine = [conversations.create(owner.pk, title=f"mine {n}") for n in range(3)]
    conversations.create(outsider.pk, title="theirs")
    Conversation.objects.filter(pk=mine[0].pk).update(updated_at=timezone.now() + timedelta(minutes=1))

    rows, more = conversations.page(owner.pk, 1)

    assert [c.title for c in rows] == ["mine 0", "mine 2", "mine 1"]
    assert not more
    assert [c.title for c in conversations.page(owner.pk, 1, query="2")[0]] == ["mine 2"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("bad"), 400),
        (Forbidden("not yours"), 403),
        (NotFound(), 404),
        (Conflict("not now"), 409),
        (OverLimit("wait", retry_after=7), 429),
    ],
)
def test_every_refusal_has_one_status_for_sync_and_async_views_alike(owner, client, error, status):
    client.force_login(owner)
    factory = RequestFactory()

    @api.api_view
    def sync_view(request):
        raise error

    @api.api_view
    async def async_view(request):
        await api.as_signed_in_user(request, lambda user_id: None)
        raise error

    for view in (sync_view, async_view):
        # A GET: no CSRF check stands before the refusal.
        request = factory.get("/")
        request.session = client.session
        if view is sync_view:
            request.user = owner
        response = async_to_sync(view)(request) if view is async_view else view(request)
        assert isinstance(response, JsonResponse)
        assert response.status_code == status
        assert json.loads(response.content)["error"] == error.message
        if isinstance(error, OverLimit):
            assert response["Retry-After"] == "7" and json.loads(response.content)["retry_after"] == 7


def test_every_kind_of_refusal_has_a_status():
    kinds = {cls for cls in vars(errors).values() if isinstance(cls, type)}
    refusals = {cls for cls in kinds if issubclass(cls, ChatError) and cls is not ChatError}
    assert refusals == set(api.STATUS)


def test_an_async_view_that_never_signs_the_person_in_shows_nothing(client):
    @api.api_view
    async def careless_view(request):
        return JsonResponse({"secret": "nobody should see this"})

    request = RequestFactory().get("/")
    request.session = client.session

    response = async_to_sync(careless_view)(request)

    assert response.status_code == 401
    assert b"secret" not in response.content
