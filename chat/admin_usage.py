"""
The usage report of the admin (chat.admin.UsageAdmin): its date range filter, its sums over
the rows the filters select, its chart of tokens per day, its CSV export, and a user's usage
on their own admin page. Plain ORM aggregates, so the same on SQLite, PostgreSQL and MariaDB,
and a fixed number of queries whatever the number of rows.
"""

import csv
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin
from django.db.models import F, Q, Sum
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from chat.models import Usage
from runtime.database import in_database_thread

CHART_DAYS = 30
# The groups (user and model) the page shows; the CSV has every row.
MOST_GROUPS = 100
CSV_CHUNK = 1000
CHART_HEIGHT = 120
BAR_WIDTH = 20

TOKENS = F("prompt_tokens") + F("completion_tokens")


def today():
    """Today in the server's time zone, the days of Usage rows."""
    return timezone.localdate(timezone=timezone.get_default_timezone())


def share(part, whole):
    return part / whole if whole else None


def money(value):
    """A cost without its trailing zeros: 0.000123, 12.5, 0."""
    value = Decimal(value or 0).quantize(Decimal("0.000001")).normalize()
    return f"{value:f}"


def percent(fraction):
    return "-" if fraction is None else f"{fraction:.0%}"


class DayRangeFilter(admin.FieldListFilter):
    """
    From a day to a day, both included, either left blank: Django's admin has no range filter.
    The lookups are the day__gte and day__lte that the admin would accept in the URL anyway; a
    small form (the template) sets them from the page.
    """

    template = "admin/chat/usage/day_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_since = f"{field_path}__gte"
        self.lookup_until = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        # The form sends a date left blank as an empty value: no bound, not a wrong date.
        self.used_parameters = {
            name: values for name, values in self.used_parameters.items() if any(value for value in values)
        }
        self.title = _("day range")

    def expected_parameters(self):
        return [self.lookup_since, self.lookup_until]

    def value(self, name):
        values = self.used_parameters.get(name) or [""]
        return values[-1]

    def choices(self, changelist):
        removed = changelist.get_query_string(remove=self.expected_parameters())
        yield {
            "since_name": self.lookup_since,
            "since": self.value(self.lookup_since),
            "until_name": self.lookup_until,
            "until": self.value(self.lookup_until),
            # The other filters, search and ordering, kept when the form is sent.
            "hidden": [
                (name, value)
                for name, values in changelist.filter_params.items()
                if name not in self.expected_parameters()
                for value in values
            ],
            "clear_url": removed,
            "selected": bool(self.used_parameters),
        }

    def until(self):
        """The last day of the range (a valid date: the changelist checked it), or None."""
        return parse_date(self.value(self.lookup_until) or "") or None


def sums(queryset):
    """Tokens, estimated tokens, requests and cost over `queryset`, in one query."""
    totals = queryset.order_by().aggregate(
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        estimated=Sum("estimated_tokens"),
        requests=Sum("requests"),
        cost=Sum("cost"),
    )
    return summarised({name: value or 0 for name, value in totals.items()})


def summarised(row):
    row["tokens"] = row["prompt"] + row["completion"]
    row["estimated_share"] = percent(share(row["estimated"], row["tokens"]))
    row["cost"] = money(row["cost"])
    return row


def by_user_and_model(queryset):
    """The rows of `queryset` added up per user and model, most tokens first (MOST_GROUPS of them)."""
    groups = (
        # Without the changelist's ordering, which would otherwise join the GROUP BY.
        queryset.order_by()
        .values("user_id", "user__username", "model")
        .annotate(
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            estimated=Sum("estimated_tokens"),
            requests=Sum("requests"),
            cost=Sum("cost"),
            total=Sum(TOKENS),
        )
        .order_by("-total", "user__username", "model")[: MOST_GROUPS + 1]
    )
    rows = [summarised(dict(row)) for row in groups]
    return rows[:MOST_GROUPS], len(rows) > MOST_GROUPS


def chart(queryset, end):
    """
    The bars of the tokens per day of `queryset`, for the CHART_DAYS days up to `end`: one bar
    a day, days without usage included, in SVG coordinates (integers, so no locale's decimal
    comma reaches the SVG).
    """
    start = end - timedelta(days=CHART_DAYS - 1)
    per_day = dict(
        queryset.order_by()
        .filter(day__gte=start, day__lte=end)
        .values("day")
        .annotate(tokens=Sum(TOKENS))
        .values_list("day", "tokens")
    )
    highest = max(per_day.values(), default=0) or 0
    bars = []
    for index in range(CHART_DAYS):
        day = start + timedelta(days=index)
        tokens = per_day.get(day) or 0
        height = round(CHART_HEIGHT * tokens / highest) if highest else 0
        bars.append(
            {
                "day": day,
                "tokens": tokens,
                "x": index * BAR_WIDTH + 2,
                "y": CHART_HEIGHT - height,
                "width": BAR_WIDTH - 4,
                "height": height,
            }
        )
    return {
        "bars": bars,
        "start": start,
        "end": end,
        "highest": highest,
        "width": CHART_DAYS * BAR_WIDTH,
        "height": CHART_HEIGHT,
        "label_y": CHART_HEIGHT + 16,
    }


def report(changelist):
    """What the report page shows above and below the rows, from the rows the filters select."""
    queryset = changelist.queryset
    range_filter = next((spec for spec in changelist.filter_specs if isinstance(spec, DayRangeFilter)), None)
    end = (range_filter and range_filter.until()) or today()
    groups, more_groups = by_user_and_model(queryset)
    for group in groups:
        # The report of this user, with the other filters kept.
        group["url"] = changelist.get_query_string({"user__id__exact": group["user_id"]})
    return {
        "usage_totals": sums(queryset),
        "usage_groups": groups,
        "usage_more_groups": more_groups,
        "usage_most_groups": MOST_GROUPS,
        "usage_chart": chart(queryset, end),
        "usage_currency": settings.CHAT_CURRENCY,
    }


# --- The CSV --------------------------------------------------------------------------------

CSV_COLUMNS = [
    "user",
    "day",
    "model",
    "provider",
    "api_token",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "tokens",
    "estimated_tokens",
    "estimated_share",
    "cost",
    "currency",
]


class _Line:
    """A file for csv.writer that hands back what is written, for one line at a time."""

    def write(self, value):
        return value


def spreadsheet_safe(text):
    """
    A text a spreadsheet will not run as a formula: usernames may begin with + - @ and model ids
    with anything, and a cell beginning with = + - @ is a formula to Excel and LibreOffice.
    """
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@in_database_thread
def _csv_chunk(queryset, offset):
    return list(
        queryset.values_list(
            "user__username",
            "day",
            "model",
            "provider",
            "token__name",
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "estimated_tokens",
            "cost",
        )[offset : offset + CSV_CHUNK]
    )


async def _csv_lines(queryset):
    writer = csv.writer(_Line())
    # A byte order mark: Excel then reads the file as UTF-8 (Chinese usernames, model names).
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    currency = settings.CHAT_CURRENCY
    offset = 0
    while True:
        # In chunks, in a database thread: the response is async like every stream of the
        # product, and the whole report never sits in memory. The changelist's ordering ends
        # with the primary key, so the chunks neither skip nor repeat a row.
        rows = await _csv_chunk(queryset, offset)
        for username, day, model, provider, token, requests, prompt, completion, estimated, cost in rows:
            tokens = prompt + completion
            estimated_share = share(estimated, tokens)
            yield writer.writerow(
                [
                    spreadsheet_safe(username),
                    day.isoformat(),
                    spreadsheet_safe(model),
                    spreadsheet_safe(provider),
                    spreadsheet_safe(token or ""),
                    requests,
                    prompt,
                    completion,
                    tokens,
                    estimated,
                    "" if estimated_share is None else f"{estimated_share:.4f}",
                    f"{cost:f}",
                    currency,
                ]
            )
        if len(rows) < CSV_CHUNK:
            return
        offset += CSV_CHUNK


def csv_response(queryset):
    """The rows of `queryset` (the report as filtered, in its order) as a CSV download."""
    response = StreamingHttpResponse(_csv_lines(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{today().isoformat()}.csv"'
    return response


# --- A user's usage, on their admin page -------------------------------------------------------


def user_summary(user):
    """A user's tokens and cost today, this month and over the last 30 days (one query), as HTML."""
    day = today()
    month = day.replace(day=1)
    last_30 = day - timedelta(days=CHART_DAYS - 1)
    periods = [
        (_("today"), Q(day=day)),
        (_("this month"), Q(day__gte=month, day__lte=day)),
        (_("last 30 days"), Q(day__gte=last_30, day__lte=day)),
    ]
    aggregates = {}
    for index, (_label, condition) in enumerate(periods):
        aggregates[f"tokens_{index}"] = Sum(TOKENS, filter=condition)
        aggregates[f"cost_{index}"] = Sum("cost", filter=condition)
    totals = Usage.objects.filter(user=user, day__gte=min(month, last_30)).aggregate(**aggregates)
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
        (
            (label, totals[f"tokens_{index}"] or 0, money(totals[f"cost_{index}"]))
            for index, (label, _condition) in enumerate(periods)
        ),
    )
    url = reverse("admin:chat_usage_changelist") + "?" + urlencode({"user__id__exact": user.pk})
    return format_html(
        "<table><thead><tr><th></th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">{}</a></p>',
        _("tokens"),
        format_html("{} ({})", _("cost"), settings.CHAT_CURRENCY),
        rows,
        url,
        _("This user's usage report"),
    )
