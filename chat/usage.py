"""
What answers consume: each answer's tokens, as its provider reported them or else estimated
(settle), added to its user's running totals per day and model (models.Usage) in the very
transaction that saves the answer (record), so that the totals always equal the answers'
usage; and a person's usage against their quotas (summary, for GET /api/usage/).

An estimate (docs/fair-use.md): the prompt is the text sent upstream (system prompt, history,
question) at models.estimated_tokens' rate plus 4 tokens a message for the chat format, the
completion the text and reasoning received. An answer the provider refused before sending
anything (a fault at the first byte) consumed nothing; a stopped or interrupted one consumed
its prompt and what it produced.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from chat.models import Message, Usage, estimated_tokens

# Tokens a message takes beyond its text in the chat format (its role, its delimiters).
MESSAGE_OVERHEAD_TOKENS = 4
# An image's, as chat.files counts it against the history budget.
IMAGE_TOKENS = 1000
MILLION = Decimal(1_000_000)
COST_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Charge:
    """What one answer adds to its user's totals."""

    user_id: int
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    cost: Decimal
    # The API token the request came through (chat.tokens); None for the page.
    token_id: int = None


def prompt_tokens(messages):
    """The estimated tokens of `messages` sent upstream (a content of parts: its text, and each image)."""
    return sum(_content_tokens(message["content"]) + MESSAGE_OVERHEAD_TOKENS for message in messages)


def _content_tokens(content):
    if isinstance(content, str):
        return estimated_tokens(content)
    return sum(
        estimated_tokens(part.get("text") or "") if part.get("type") == "text" else IMAGE_TOKENS
        for part in content
        if isinstance(part, dict)
    )


def settle(outcome, *, user_id, offer, messages, token_id=None):
    """
    The Charge of an answer that ended with `outcome` (its Message.OUTCOME_FIELDS), asked of
    `offer` with `messages`. When its provider reported no usage, the outcome's usage is
    estimated here and marked so.
    """
    prompt, completion = outcome["prompt_tokens"], outcome["completion_tokens"]
    reported = isinstance(prompt, int) and isinstance(completion, int)
    produced = outcome["content"] or outcome["reasoning"]
    refused = outcome["status"] == Message.Status.ERROR and not produced
    estimated = not reported and not refused
    if estimated:
        if not isinstance(prompt, int):
            prompt = prompt_tokens(messages)
        if not isinstance(completion, int):
            completion = sum(estimated_tokens(text) for text in (outcome["content"], outcome["reasoning"]) if text)
        outcome.update(prompt_tokens=prompt, completion_tokens=completion, usage_estimated=True)
    elif refused and not reported:
        # The provider refused the request and sent nothing: it consumed nothing.
        prompt, completion = (value if isinstance(value, int) else 0 for value in (prompt, completion))
    return Charge(
        user_id=user_id,
        model=offer.id,
        provider=offer.provider,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated=estimated,
        cost=cost(offer, prompt, completion),
        token_id=token_id,
    )


def cost(offer, prompt, completion):
    """At the offer's prices per million tokens (CHAT_CURRENCY); 0 where it has none."""
    total = Decimal(0)
    if offer.input_price:
        total += offer.input_price * prompt / MILLION
    if offer.output_price:
        total += offer.output_price * completion / MILLION
    return total.quantize(COST_PLACES)


def record(charges, *, day=None):
    """
    Add `charges` to their users' totals of `day` (today in the server's time zone). Run it
    in the transaction that saves the answers charged. The rows that exist are found with one
    query and added to with one statement (UsageQuerySet.add_each); the others, a person's
    first answers of the day, are made with one INSERT.
    """
    day = day or timezone.localdate()
    # By the row each charge adds to (a row's provider is the one of its first charge).
    totals = {}
    for charge in charges:
        _provider, total = totals.setdefault(
            (charge.user_id, charge.model, charge.token_id), (charge.provider, [0, 0, 0, 0, Decimal(0)])
        )
        total[0] += 1
        total[1] += charge.prompt_tokens
        total[2] += charge.completion_tokens
        total[3] += charge.prompt_tokens + charge.completion_tokens if charge.estimated else 0
        total[4] += charge.cost
    if not totals:
        return
    users = sorted({user_id for user_id, _model, _token in totals})
    existing = {}
    for start in range(0, len(users), 500):
        rows = Usage.objects.filter(day=day, user_id__in=users[start : start + 500])
        existing.update(
            ((user_id, model, token_id), pk)
            for pk, user_id, model, token_id in rows.values_list("pk", "user", "model", "token")
        )
    adding, missing = [], {}
    for key, (provider, values) in totals.items():
        if (pk := existing.get(key)) is not None:
            adding.append((pk, *values))
        else:
            missing[key] = (provider, values)
    Usage.objects.add_each(adding)
    if not missing:
        return
    try:
        # In a savepoint: another process may make one of these rows at the same moment.
        with transaction.atomic():
            Usage.objects.bulk_create(
                _new_row(day, key, provider, values) for key, (provider, values) in missing.items()
            )
    except IntegrityError:
        for key, (provider, values) in missing.items():
            _add_one(day, key, provider, values)


def _new_row(day, key, provider, values):
    """The row of `key` (user id, model, token id) on `day`, holding `values` (Usage.SUMS' order)."""
    user_id, model, token_id = key
    return Usage(
        user_id=user_id,
        day=day,
        model=model,
        provider=provider,
        token_id=token_id,
        **dict(zip(Usage.SUMS, values, strict=True)),
    )


def _add_one(day, key, provider, values):
    """Add `values` (in Usage.SUMS' order) to the row of `key`, made if need be."""
    user_id, model, token_id = key
    row = Usage.objects.filter(user_id=user_id, day=day, model=model, token_id=token_id)
    added = {name: F(name) + value for name, value in zip(Usage.SUMS, values, strict=True)}
    if row.update(**added):
        return
    try:
        with transaction.atomic():
            _new_row(day, key, provider, values).save(force_insert=True)
    except IntegrityError:
        row.update(**added)


def charge_abandoned(answers):
    """
    End `answers`, (id, status) pairs of answers whose process died, as interrupted (stopped
    if a stop had been asked for), with their usage estimated from the text saved and the
    history they were asked with, and charge it to their users: each once, whichever process
    gets there first. Returns how many it ended.
    """
    from chat import catalogue  # which reads the providers' models

    now = timezone.now()
    ended, charges = 0, []
    offers = catalogue.current()
    with transaction.atomic():
        for answer_id, status in answers:
            final = Message.Status.STOPPED if status == Message.Status.STOPPING else Message.Status.INTERRUPTED
            answer = Message.objects.select_related("conversation").filter(pk=answer_id).first()
            if answer is None:
                continue
            messages, _first, _live = answer.conversation.upstream_messages(before_id=answer_id)
            outcome = {**answer.outcome(), "status": final}
            offer = offers.find(answer.model) or catalogue.Offer(
                id=answer.model, name=answer.model, label="", provider=""
            )
            charge = settle(outcome, user_id=answer.conversation.owner_id, offer=offer, messages=messages)
            changed = Message.objects.filter(pk=answer_id, status=status).update(
                status=final,
                updated_at=now,
                prompt_tokens=outcome["prompt_tokens"],
                completion_tokens=outcome["completion_tokens"],
                usage_estimated=outcome["usage_estimated"],
            )
            if changed:
                ended += 1
                charges.append(charge)
        record(charges)
    return ended


def summary(user_id, limits, *, now=None):
    """The person's tokens and cost of today and of this month, with their quotas (docs/api.md)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    month_start = today.replace(day=1)
    tokens = F("prompt_tokens") + F("completion_tokens")
    totals = Usage.objects.filter(user_id=user_id, day__gte=month_start).aggregate(
        today_tokens=Sum(tokens, filter=Q(day=today)),
        today_cost=Sum("cost", filter=Q(day=today)),
        month_tokens=Sum(tokens),
        month_cost=Sum("cost"),
    )

    def period(used, cost, quota):
        used = used or 0
        return {
            "tokens": used,
            "quota": quota or None,
            "remaining": max(quota - used, 0) if quota else None,
            "cost": str((cost or Decimal(0)).quantize(COST_PLACES)),
        }

    return {
        "today": period(totals["today_tokens"], totals["today_cost"], limits.daily_tokens),
        "month": period(totals["month_tokens"], totals["month_cost"], limits.monthly_tokens),
        "currency": settings.CHAT_CURRENCY,
        "limits": {
            "messages_per_minute": limits.messages_per_minute or None,
            "max_streams": limits.max_streams or None,
        },
    }
