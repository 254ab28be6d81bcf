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
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chat.errors import Forbidden, OverLimit
from chat.models import Activity, Allowance, Message, Usage

RELOAD_SECONDS = 5.0
# How long a person told "too many answers at once" waits before trying again: answers end
# within seconds to minutes, and nothing says which will end first.
STREAMS_RETRY_SECONDS = 5
WINDOW = timedelta(minutes=1)
# A person's answers begun are checked against what is still generating once there are this
# many (or their limit, if lower): the list stays short whatever their limit.
LIVE_KEPT = 8

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


def admit(user_id, limits, answer_id, *, now=None):
    """
    Refuse (OverLimit) the turn of the user `user_id` whose answer `answer_id` was just added,
    if it is over one of their `limits`: a month's or a day's tokens spent, as many answers
    generating as they may have at once, as many answers begun in the last minute as they may
    ask. Else count the answer as begun. Run it in the turn's transaction, which a refusal
    rolls back, so that nothing of the turn is saved; the person's Activity row is held until
    it ends, so that two turns begun together cannot both pass a limit only one fits in.

    Its cost is per turn, not per message kept: the quotas read the day's totals
    (models.Usage), the other limits the person's Activity row by primary key.
    """
    if not limits.counts_anything:
        return
    now = now or timezone.now()
    today = timezone.localdate(now)
    found = {}
    if limits.monthly_tokens or limits.daily_tokens:
        first = today.replace(day=1) if limits.monthly_tokens else today
        found["month"], found["today"] = Usage.objects.spent(user_id, first, today)
    row = Activity.objects.read(user_id)
    if row is None:
        # The person's first turn. One INSERT, ignored when a first turn begun at the same time
        # made the row already (get_or_create would cost a savepoint and two more queries).
        Activity.objects.bulk_create([Activity(user_id=user_id)], ignore_conflicts=True)
        row = Activity.objects.read(user_id)
    live = [int(i) for i in row[0].split()]
    moment = now.timestamp()
    starts = [float(t) for t in row[1].split() if moment - float(t) < WINDOW.total_seconds()]
    if len(live) >= min(limits.max_streams or LIVE_KEPT, LIVE_KEPT):
        # Some may have ended since: which are still generating, their answers say.
        live = sorted(Message.objects.filter(pk__in=live).live().values_list("pk", flat=True))
    found["streams"] = len(live)
    if limits.messages_per_minute and len(starts) >= limits.messages_per_minute:
        # The answer begun messages_per_minute answers ago was within the minute: the limit
        # frees up when it is a minute old.
        oldest = sorted(starts, reverse=True)[limits.messages_per_minute - 1]
        found["oldest_recent"] = datetime.fromtimestamp(oldest, tz=timezone.get_current_timezone())
    refuse(limits, found, today, now)
    Activity.objects.write(user_id, " ".join(map(str, [*live, answer_id])), " ".join(map(repr, [*starts, moment])))


def refuse(limits, found, today, now):
    """Raise OverLimit for the first of `limits` that what was `found` reaches."""
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
    # From the whole seconds told in Retry-After: 59.9 s is "1 minute", not "0 minutes".
    return timeuntil(now + timedelta(seconds=seconds), now, depth=2)
