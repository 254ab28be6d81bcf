"""
Fair use: what a person may do, and the check of it as a turn begins.

A person's limits are the settings' (CHAT_RATE_LIMIT, CHAT_MAX_STREAMS_PER_USER,
CHAT_DAILY_TOKEN_QUOTA, CHAT_MONTHLY_TOKEN_QUOTA), in place of which their groups' allowances
give the most generous of each, and their own allowance its own (models.Allowance). The
allowances are few and change rarely: they are read once for every process, again after
RELOAD_SECONDS or when one is saved here, so that knowing someone's limits costs a turn no
query. Checking them costs one, in the turn's own database unit (check), and none when
nothing is limited.
"""

import math
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chat.errors import Forbidden, OverLimit
from chat.models import Allowance, Message, Usage

RELOAD_SECONDS = 5.0
# How long a person told "too many answers at once" waits before trying again: answers end
# within seconds to minutes, and nothing says which will end first.
STREAMS_RETRY_SECONDS = 5
WINDOW = timedelta(minutes=1)

# Each limit, the allowance field that overrides it, and the setting that sets it.
FIELDS = {
    "messages_per_minute": "CHAT_RATE_LIMIT",
    "max_streams": "CHAT_MAX_STREAMS_PER_USER",
    "daily_tokens": "CHAT_DAILY_TOKEN_QUOTA",
    "monthly_tokens": "CHAT_MONTHLY_TOKEN_QUOTA",
}


@dataclass(frozen=True)
class Limits:
    """
    A person's limits: 0 is none. `models`: the model ids they may use, None for all; and
    `token_models`, those the API token they came with may use (None for all).
    """

    messages_per_minute: int = 0
    max_streams: int = 0
    daily_tokens: int = 0
    monthly_tokens: int = 0
    models: frozenset = None
    token_models: frozenset = None

    @property
    def counts_anything(self):
        return bool(self.messages_per_minute or self.max_streams or self.daily_tokens or self.monthly_tokens)

    def through(self, token):
        """These limits for a request that came with `token` (a models.ApiToken), or None."""
        if token is None or not token.model_ids:
            return self
        return replace(self, token_models=token.model_ids)

    def allows(self, offer):
        """Whether the person may ask `offer`'s model (named by its id or provider/name)."""
        names = (offer.id, f"{offer.provider}/{offer.name}", offer.name)
        return all(models is None or not models.isdisjoint(names) for models in (self.models, self.token_models))

    def allowed(self, catalogue):
        """The offers of `catalogue` (chat.catalogue.Catalogue) the person may use, in order."""
        return [offer for offer in catalogue.offers if self.allows(offer)]

    def default(self, catalogue):
        """The model of a person's new conversation: the default, or else the first they may use."""
        if self.allows(catalogue.default):
            return catalogue.default
        return next(iter(self.allowed(catalogue)), catalogue.default)

    def as_json(self, catalogue):
        """The models the person may use and their default, as GET /api/models/ tells them."""
        return {
            "default": self.default(catalogue).id,
            "results": [offer.as_json() for offer in self.allowed(catalogue)],
        }

    def check_model(self, offer, catalogue):
        if not self.allows(offer):
            raise Forbidden(
                _("You may not use the model %(model)s. Pick one of: %(models)s.")
                % {"model": repr(offer.id), "models": ", ".join(o.id for o in self.allowed(catalogue)) or "-"},
                field="model",
            )


def _most_generous(values):
    """Of the groups' values of one limit: none (0) if any has none, else the highest."""
    return 0 if 0 in values else max(values)


class Allowances:
    """Every allowance, as read at one moment: the limits of any person, without a query."""

    def __init__(self, rows, memberships):
        self.by_user = {row.user_id: row for row in rows if row.user_id is not None}
        self.by_group = {row.group_id: row for row in rows if row.group_id is not None}
        self.groups_of = {}
        for user_id, group_id in memberships:
            self.groups_of.setdefault(user_id, []).append(group_id)

    def of(self, user_id):
        own = self.by_user.get(user_id)
        groups = [self.by_group[group_id] for group_id in self.groups_of.get(user_id, ())]
        values = {}
        for field, setting in FIELDS.items():
            if own is not None and getattr(own, field) is not None:
                values[field] = getattr(own, field)
            elif given := [getattr(group, field) for group in groups if getattr(group, field) is not None]:
                values[field] = _most_generous(given)
            else:
                values[field] = getattr(settings, setting)
        if own is not None and own.model_ids:
            values["models"] = own.model_ids
        elif groups and all(group.model_ids for group in groups):
            values["models"] = frozenset().union(*(group.model_ids for group in groups))
        return Limits(**values)


def build():
    rows = list(Allowance.objects.all())
    group_ids = [row.group_id for row in rows if row.group_id is not None]
    memberships = []
    if group_ids:
        memberships = get_user_model().groups.through.objects.filter(group_id__in=group_ids)
        memberships = list(memberships.values_list("user_id", "group_id"))
    return Allowances(rows, memberships)


_lock = threading.Lock()
_current = None
_built_at = 0.0


def of(user_id):
    """The limits of the user `user_id`. It may read the database: call it from sync code."""
    global _current, _built_at
    allowances = _current
    if allowances is None or time.monotonic() - _built_at >= RELOAD_SECONDS:
        with _lock:
            if _current is allowances or _current is None:
                _current, _built_at = build(), time.monotonic()
            allowances = _current
    return allowances.of(user_id)


def reset(**kwargs):
    global _current
    if kwargs.get("setting") is not None and kwargs["setting"] not in FIELDS.values():
        return
    _current = None


post_save.connect(reset, sender=Allowance, dispatch_uid="limits-reset-save")
post_delete.connect(reset, sender=Allowance, dispatch_uid="limits-reset-delete")
m2m_changed.connect(reset, sender=get_user_model().groups.through, dispatch_uid="limits-reset-groups")
setting_changed.connect(reset, dispatch_uid="limits-reset-setting")


# --- The check ------------------------------------------------------------------------------


def check(user_id, limits, *, now=None):
    """
    Refuse (OverLimit) a turn of the user `user_id` over one of their `limits`, before
    anything is saved: a month's or a day's tokens spent, as many answers generating as they
    may have at once, as many messages in the last minute as they may send. A query for the
    answers and one for the tokens, as the limits in force need; with the answers' limits the
    user's row is held until the turn's transaction ends, so that two turns begun together
    cannot both pass a limit that only one fits in. Run it in the turn's transaction.
    """
    if not limits.counts_anything:
        return
    now = now or timezone.now()
    today = timezone.localdate(now)
    # Plain queries, each a short range of an index: measured, they cost a turn a third of
    # the CPU of one query of subqueries, whose building by the ORM cost more than the rest.
    found = {}
    if limits.max_streams or limits.messages_per_minute:
        if connection.features.has_select_for_update:
            # SQLite needs no lock: its transactions take the write lock as they begin.
            get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk").first()
        answers = Message.objects.filter(conversation__owner_id=user_id, role=Message.Role.ASSISTANT)
        recent = Q(created_at__gt=now - WINDOW) if limits.messages_per_minute else Q(pk__in=[])
        live = Q(status__in=Message.LIVE_STATUSES) if limits.max_streams else Q(pk__in=[])
        rows = list(answers.filter(recent | live).order_by().values_list("status", "created_at"))
        found["streams"] = sum(1 for status, _created in rows if status in Message.LIVE_STATUSES)
        started = sorted((created for _status, created in rows if created > now - WINDOW), reverse=True)
        if limits.messages_per_minute and len(started) >= limits.messages_per_minute:
            # The answer begun messages_per_minute answers ago was within the minute: the limit
            # frees up when it is a minute old.
            found["oldest_recent"] = started[limits.messages_per_minute - 1]
    if limits.monthly_tokens or limits.daily_tokens:
        first = today.replace(day=1) if limits.monthly_tokens else today
        days = Usage.objects.filter(user_id=user_id, day__gte=first).values_list(
            "day", "prompt_tokens", "completion_tokens"
        )
        for day, prompt, completion in days:
            found["month"] = found.get("month", 0) + prompt + completion
            if day == today:
                found["today"] = found.get("today", 0) + prompt + completion

    if limits.monthly_tokens and (found.get("month") or 0) >= limits.monthly_tokens:
        renews = _midnight((today.replace(day=1) + timedelta(days=32)).replace(day=1))
        raise OverLimit(
            _("You have used this month's %(limit)s tokens. The quota renews on %(date)s.")
            % {"limit": _number(limits.monthly_tokens), "date": date_format(renews.date(), "MONTH_DAY_FORMAT")},
            retry_after=_seconds_until(renews, now),
            kind="quota",
        )
    if limits.daily_tokens and (found.get("today") or 0) >= limits.daily_tokens:
        renews = _midnight(today + timedelta(days=1))
        raise OverLimit(
            _("You have used today's %(limit)s tokens. The quota renews in %(wait)s.")
            % {"limit": _number(limits.daily_tokens), "wait": wait_words(renews, now)},
            retry_after=_seconds_until(renews, now),
            kind="quota",
        )
    if limits.max_streams and (found.get("streams") or 0) >= limits.max_streams:
        raise OverLimit(
            ngettext(
                "You already have %(limit)s answer being generated, the most at once. "
                "Wait for it to end, or stop it, and send again.",
                "You already have %(limit)s answers being generated, the most at once. "
                "Wait for one to end, or stop one, and send again.",
                limits.max_streams,
            )
            % {"limit": limits.max_streams},
            retry_after=STREAMS_RETRY_SECONDS,
        )
    if limits.messages_per_minute and (oldest := found.get("oldest_recent")) is not None:
        frees = oldest + WINDOW
        raise OverLimit(
            ngettext(
                "You have sent %(limit)s message in the last minute, the most allowed. Try again in %(wait)s.",
                "You have sent %(limit)s messages in the last minute, the most allowed. Try again in %(wait)s.",
                limits.messages_per_minute,
            )
            % {"limit": limits.messages_per_minute, "wait": wait_words(frees, now)},
            retry_after=_seconds_until(frees, now),
        )


def _midnight(day):
    """The start of `day` in the server's time zone."""
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _seconds_until(moment, now):
    return max(math.ceil((moment - now).total_seconds()), 1)


def _number(value):
    return f"{value:,}"


def wait_words(moment, now):
    """How long until `moment`, in words: '42 seconds', '3 hours, 12 minutes'."""
    seconds = _seconds_until(moment, now)
    if seconds < 60:
        return ngettext("%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}
    return timeuntil(moment, now, depth=2)
