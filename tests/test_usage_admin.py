"""
The operator's usage report in the admin: the rows by user, day and model with their totals,
filters, a chart of the last 30 days and a CSV export; the per-user summary and the allowances.
Usage rows are made here with the ORM, as chat.usage records them when answers end.
"""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, Permission

from chat import admin_usage
from chat.models import Allowance, Usage

pytestmark = pytest.mark.django_db

REPORT = "/admin/chat/usage/"
EXPORT = "/admin/chat/usage/export/"


def today():
    return admin_usage.today()


def usage(user, day=None, model="deepseek/deepseek-chat", provider="deepseek", **numbers):
    values = {"requests": 1, "prompt_tokens": 100, "completion_tokens": 50, "estimated_tokens": 0, "cost": "0.001"}
    values.update(numbers)
    return Usage.objects.create(user=user, day=day or today(), model=model, provider=provider, **values)


def rows(response):
    return {(u.user.username, u.day, u.model) for u in response.context["cl"].result_list}


def download(response):
    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode("utf-8-sig")


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(download(response))))


@pytest.fixture
def spread(owner, outsider):
    """Usage of two people, two models of two providers, over three days."""
    day = today()
    return [
        usage(owner, day, requests=3, prompt_tokens=1000, completion_tokens=500, estimated_tokens=300, cost="0.25"),
        usage(owner, day - timedelta(days=1), model="qwen/qwen-max", provider="qwen", prompt_tokens=40),
        usage(outsider, day, requests=2, prompt_tokens=10, completion_tokens=20, cost="0.000123"),
        usage(outsider, day - timedelta(days=5), completion_tokens=7000, estimated_tokens=7000, cost="1.5"),
    ]


def test_the_report_lists_each_users_days_and_models_with_their_numbers(admin_client, owner, spread):
    response = admin_client.get(REPORT)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 4
    row = re.search(r"<tr>.*?0\.25.*?</tr>", response.content.decode(), re.S).group(0)
    # requests, tokens, estimated share (300 of 1500) and cost of the owner's first row.
    assert ">3<" in row and ">1500<" in row and ">20%<" in row and "owner" in row


def test_the_report_totals_equal_the_usage_rows(admin_client, spread):
    totals = admin_client.get(REPORT).context["usage_totals"]
    assert totals["tokens"] == sum(u.prompt_tokens + u.completion_tokens for u in spread)
    assert totals["requests"] == sum(u.requests for u in spread)
    assert totals["estimated"] == 7300
    assert Decimal(totals["cost"]) == sum(Decimal(u.cost) for u in spread) == Decimal("1.751123")


def test_the_totals_are_of_the_filtered_rows(admin_client, outsider, spread):
    response = admin_client.get(REPORT, {"user__id__exact": outsider.pk})
    totals = response.context["usage_totals"]
    assert (totals["tokens"], totals["requests"], totals["cost"]) == (30 + 7100, 3, "1.500123")
    assert ">7130<" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user", {("outsider", 0, "deepseek/deepseek-chat"), ("outsider", 5, "deepseek/deepseek-chat")}),
        ({"model__exact": "qwen/qwen-max"}, {("owner", 1, "qwen/qwen-max")}),
        ({"provider__exact": "qwen"}, {("owner", 1, "qwen/qwen-max")}),
        ({"q": "outs"}, {("outsider", 0, "deepseek/deepseek-chat"), ("outsider", 5, "deepseek/deepseek-chat")}),
        (
            "range",
            {("owner", 1, "qwen/qwen-max"), ("outsider", 5, "deepseek/deepseek-chat")},
        ),
    ],
    ids=["user", "model", "provider", "search", "date range"],
)
def test_the_filters_select_the_rows(admin_client, outsider, spread, query, expected):
    if query == "user":
        query = {"user__id__exact": outsider.pk}
    elif query == "range":
        query = {
            "day__gte": (today() - timedelta(days=5)).isoformat(),
            "day__lte": (today() - timedelta(1)).isoformat(),
        }
    response = admin_client.get(REPORT, query)
    assert response.status_code == 200
    assert rows(response) == {(name, today() - timedelta(days=ago), model) for name, ago, model in expected}


def test_the_date_range_is_a_form_on_the_page_that_keeps_the_other_filters(admin_client, spread):
    body = admin_client.get(REPORT, {"model__exact": "qwen/qwen-max", "day__gte": "2020-01-02"}).content.decode()
    form = re.search(r'<form method="get" class="usage-day-range">.*?</form>', body, re.S).group(0)
    assert '<input type="date" name="day__gte" value="2020-01-02">' in form
    assert '<input type="date" name="day__lte" value="">' in form
    assert '<input type="hidden" name="model__exact" value="qwen/qwen-max">' in form
    assert 'name="day__gte" value="2020-01-02"' not in form.split("<p>")[0]


def test_a_date_left_blank_in_the_range_form_is_no_bound(admin_client, spread):
    until = (today() - timedelta(days=2)).isoformat()
    response = admin_client.get(REPORT, {"day__gte": "", "day__lte": until})
    assert response.status_code == 200
    assert rows(response) == {("outsider", today() - timedelta(days=5), "deepseek/deepseek-chat")}


def test_a_wrong_date_is_refused_as_any_wrong_filter(admin_client, spread):
    response = admin_client.get(REPORT, {"day__gte": "yesterday"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def bars(body):
    svg = re.search(r"<svg class=\"usage-chart\".*?</svg>", body, re.S).group(0)
    return svg, re.findall(r'<rect class="usage-bar" [^>]*data-day="([\d-]+)" data-tokens="(\d+)"', svg), svg


def test_the_chart_has_a_bar_for_each_of_the_last_30_days(admin_client, owner):
    usage(owner, today(), prompt_tokens=900, completion_tokens=100)
    usage(owner, today() - timedelta(days=3), prompt_tokens=250, completion_tokens=250)
    usage(owner, today() - timedelta(days=30), prompt_tokens=99999)  # the 31st day: not drawn
    body = admin_client.get(REPORT).content.decode()
    svg, days, _ = bars(body)
    assert [day for day, _tokens in days] == [(today() - timedelta(days=29 - i)).isoformat() for i in range(30)]
    assert dict(days)[today().isoformat()] == "1000"
    assert dict(days)[(today() - timedelta(days=3)).isoformat()] == "500"
    heights = [int(h) for h in re.findall(r'<rect class="usage-bar" [^>]*height="(\d+)"', svg)]
    assert heights[-1] == admin_usage.CHART_HEIGHT and heights[-4] == admin_usage.CHART_HEIGHT // 2
    assert heights.count(0) == 28
    # Drawn by the server: no script, nothing fetched from elsewhere.
    assert "<script" not in svg and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_chart_ends_with_the_date_range(admin_client, owner):
    end = today() - timedelta(days=100)
    usage(owner, end, prompt_tokens=5)
    _svg, days, _ = bars(admin_client.get(REPORT, {"day__lte": end.isoformat()}).content.decode())
    assert len(days) == 30 and days[-1] == (end.isoformat(), "55")


def test_the_report_by_user_and_model_adds_up_their_days(admin_client, owner, spread):
    usage(owner, today() - timedelta(days=2), prompt_tokens=500, completion_tokens=0, cost="0.75")
    groups = admin_client.get(REPORT).context["usage_groups"]
    summary = {(g["user__username"], g["model"]): (g["tokens"], g["requests"], g["cost"]) for g in groups}
    assert summary == {
        ("owner", "deepseek/deepseek-chat"): (2000, 4, "1"),
        ("owner", "qwen/qwen-max"): (90, 1, "0.001"),
        ("outsider", "deepseek/deepseek-chat"): (7130, 3, "1.500123"),
    }
    # Most tokens first.
    assert [g["user__username"] for g in groups] == ["outsider", "owner", "owner"]


def test_names_in_the_report_are_escaped(admin_client, make_user):
    user = make_user("mallory")
    usage(user, model="<img src=x onerror=alert(1)>", provider="<b>p</b>")
    body = admin_client.get(REPORT).content.decode()
    assert "<img src=x" not in body and "<b>p</b>" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_csv_export_has_the_rows_as_filtered_and_their_numbers(admin_client, owner, spread):
    response = admin_client.get(EXPORT, {"user__id__exact": owner.pk, "o": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="usage-')
    lines = csv_rows(response)
    assert list(lines[0]) == admin_usage.CSV_COLUMNS
    assert [(line["user"], line["day"], line["model"]) for line in lines] == [
        ("owner", (today() - timedelta(days=1)).isoformat(), "qwen/qwen-max"),
        ("owner", today().isoformat(), "deepseek/deepseek-chat"),
    ]
    assert lines[1] | {} == {
        "user": "owner",
        "day": today().isoformat(),
        "model": "deepseek/deepseek-chat",
        "provider": "deepseek",
        "api_token": "",
        "requests": "3",
        "prompt_tokens": "1000",
        "completion_tokens": "500",
        "tokens": "1500",
        "estimated_tokens": "300",
        "estimated_share": "0.2000",
        "cost": "0.250000",
        "currency": "USD",
    }


def test_the_csv_export_has_every_row_not_only_a_page(admin_client, owner):
    start = today() - timedelta(days=1199)
    Usage.objects.bulk_create(
        Usage(user=owner, day=start + timedelta(days=i), model=model, prompt_tokens=i)
        for i in range(1200)
        for model in ("a", "b")
    )
    lines = csv_rows(admin_client.get(EXPORT))
    assert len(lines) == 2400 > admin_usage.CSV_CHUNK
    assert len({(line["day"], line["model"]) for line in lines}) == 2400
    assert sum(int(line["tokens"]) for line in lines) == 2 * sum(range(1200)) + 2400 * 0


def test_csv_cells_never_start_a_spreadsheet_formula(admin_client, make_user):
    usage(make_user("@evil"), model='=HYPERLINK("http://x")', provider="+1")
    (line,) = csv_rows(admin_client.get(EXPORT))
    assert (line["user"], line["model"], line["provider"]) == ("'@evil", '\'=HYPERLINK("http://x")', "'+1")


def test_the_page_links_to_the_export_with_its_filters(admin_client, spread):
    body = admin_client.get(REPORT, {"model__exact": "qwen/qwen-max"}).content.decode()
    assert f'href="{EXPORT}?model__exact=qwen%2Fqwen-max"' in body


def test_the_report_and_its_export_need_the_view_permission(client, make_user, spread):
    staff = make_user("clerk")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get(REPORT).status_code == 403
    assert client.get(EXPORT).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_usage"))
    assert client.get(REPORT).status_code == 200
    assert len(csv_rows(client.get(EXPORT))) == 4


def test_people_not_staff_are_sent_to_the_login(owner_client, spread):
    response = owner_client.get(EXPORT)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_report_is_read_only(admin_client, spread):
    row = spread[0]
    assert admin_client.get(f"{REPORT}add/").status_code == 403
    assert admin_client.post(f"{REPORT}{row.pk}/change/", {"requests": 0}).status_code == 403
    assert admin_client.post(f"{REPORT}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.requests == 3
    assert "action-select" not in admin_client.get(REPORT).content.decode()


def test_the_report_takes_a_bounded_number_of_queries(admin_client, make_user, owner, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    usage(owner)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(REPORT).status_code == 200
    for n in range(30):
        user = make_user(f"user{n}")
        Usage.objects.bulk_create(
            Usage(user=user, day=today() - timedelta(days=d), model=m, provider=m, prompt_tokens=d)
            for d in range(10)
            for m in ("m1", "m2")
        )
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(REPORT)
    assert len(response.context["usage_groups"]) == 61


def test_the_users_page_sums_their_usage_today_this_month_and_the_last_30_days(admin_client, owner, outsider):
    day = today()
    days = [day, day - timedelta(days=9), day - timedelta(days=29), day - timedelta(days=45)]
    for ago, on in enumerate(days):
        usage(owner, on, prompt_tokens=10**ago, completion_tokens=0, cost=str(ago + 1))
    usage(outsider, day, prompt_tokens=777777)

    def total(keep):
        kept = [i for i, on in enumerate(days) if keep(on)]
        return sum(10**i for i in kept), sum(i + 1 for i in kept)

    body = admin_client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    summary = re.search(r'<div class="readonly"><table>.*?</table>', body, re.S).group(0)
    cells = re.findall(r"<tr><th>[^<]*</th><td>(\d+)</td><td>([\d.]+)</td></tr>", summary)
    assert [(int(t), int(c)) for t, c in cells] == [
        total(lambda on: on == day),
        total(lambda on: on >= day.replace(day=1)),
        total(lambda on: on > day - timedelta(days=30)),
    ]
    assert f'href="{REPORT}?user__id__exact={owner.pk}"' in body


def user_form(user, **allowance):
    data = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "allowance-TOTAL_FORMS": "1",
        "allowance-INITIAL_FORMS": "0",
        "allowance-MIN_NUM_FORMS": "0",
        "allowance-MAX_NUM_FORMS": "1",
        # The person's settings (chat.admin.ProfileInline), left as they are: none saved.
        "profile-TOTAL_FORMS": "0",
        "profile-INITIAL_FORMS": "0",
        "profile-MIN_NUM_FORMS": "0",
        "profile-MAX_NUM_FORMS": "1",
    }
    data.update({f"allowance-0-{name}": value for name, value in allowance.items()})
    return data


def test_a_users_allowance_is_set_on_their_page(admin_client, owner):
    response = admin_client.post(
        f"/admin/auth/user/{owner.pk}/change/",
        user_form(owner, daily_tokens="5000", allowed_models="deepseek/deepseek-chat\nqwen/qwen-max"),
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    allowance = Allowance.objects.get(user=owner)
    assert (allowance.daily_tokens, allowance.group, allowance.messages_per_minute) == (5000, None, None)
    assert allowance.model_ids == {"deepseek/deepseek-chat", "qwen/qwen-max"}


def test_a_group_has_its_allowance_on_its_page(admin_client):
    group = Group.objects.create(name="students")
    body = admin_client.get(f"/admin/auth/group/{group.pk}/change/").content.decode()
    assert 'name="allowance-0-monthly_tokens"' in body
    assert 'name="allowance-0-user"' not in body


def test_the_allowances_list_who_has_which_limits(admin_client, owner):
    group = Group.objects.create(name="students")
    Allowance.objects.create(user=owner, daily_tokens=0, messages_per_minute=6)
    Allowance.objects.create(group=group, monthly_tokens=100000, allowed_models="a\nb")
    response = admin_client.get("/admin/chat/allowance/")
    by_who = {
        str(allowance): re.search(rf"<tr>(?:(?!</tr>).)*>{allowance}<.*?</tr>", response.content.decode(), re.S).group(
            0
        )
        for allowance in response.context["cl"].result_list
    }
    assert "no limit" in by_who["owner"] and ">6<" in by_who["owner"] and "as the settings" in by_who["owner"]
    assert ">100000<" in by_who["students"] and "a, b" in by_who["students"]


def test_an_allowance_is_a_users_or_a_groups_not_both(admin_client, owner):
    group = Group.objects.create(name="students")
    response = admin_client.post("/admin/chat/allowance/add/", {"user": owner.pk, "group": group.pk})
    assert response.status_code == 200 and not Allowance.objects.exists()
    assert "choose one, not both" in response.content.decode()
