"""The Overview: its numbers are the calls list's numbers, in the viewer's days and hours."""

import csv
import io
import re
import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.analytics import overview as figures
from calls.filters import CallFilterForm
from calls.models import Call
from calls.sync import payloads, writes

pytestmark = pytest.mark.django_db


def _call(n, start, *, state="completed", direction="in", answered=True, talk=60, tag="", frm=None):
    payload = {
        "id": f"c-ov{n}",
        "direction": direction,
        "from": frm or f"+1919555{n % 7:04d}",
        "to": "+19195550100" if direction == "in" else f"+1415555{n % 5:04d}",
        "state": state,
        "startTime": start.isoformat(),
        "tag": tag,
    }
    if answered:
        payload["activeTime"] = (start + timedelta(seconds=5)).isoformat()
    if state not in Call.LIVE_STATES:
        payload["endTime"] = (start + timedelta(seconds=5 + talk)).isoformat()
        payload["chargeableDuration"] = 60
    return payloads.call_fields(payload)


@pytest.fixture
def traffic():
    """Calls over the last three days, every kind of outcome."""
    now = timezone.now()
    rows = []
    for n in range(240):
        start = now - timedelta(minutes=17 * n + 3)
        state = ["completed", "completed", "rejected", "error", "completed"][n % 5]
        rows.append(
            _call(
                n,
                start,
                state=state,
                direction="in" if n % 3 else "out",
                answered=state == "completed" and n % 4 != 0,
                tag="vip" if n % 6 == 0 else "",
            )
        )
    rows.append(_call(999, now - timedelta(minutes=30), state="active"))
    writes.upsert_calls(rows)
    # Causes come from the events read: a few calls have one.
    Call.objects.filter(state="rejected").update(hangup_cause="CALL_REJECTED")
    Call.objects.filter(state="error").update(hangup_cause="NORMAL_TEMPORARY_FAILURE")
    return now


def _list_count(query: dict) -> int:
    form = CallFilterForm(query)
    assert form.is_valid(), form.errors
    return form.filter(Call.objects.all()).count()


FILTERS = [
    {"period": "24h"},
    {"period": "7d", "direction": "out"},
    {"period": "today"},
    {"period": "24h", "q": "5550003"},
    {"period": "7d", "tag": "vip"},
    {"period": "hour"},
    # Filters only the calls can apply, counted from them through one compiled condition.
    {"period": "7d", "outcome": "answered", "direction": "in"},
    {"period": "24h", "q": "555", "match": "contains"},
    {"period": "7d", "weekday": "3", "hour": "10"},
    {"period": "30d", "q": "+1 (919) 555-0003", "tag": "vip"},
]


@pytest.mark.parametrize("query", FILTERS)
def test_overview_counts_the_calls_the_list_shows(client, viewer, traffic, query):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), query)
    assert response.status_code == 200
    panels = response.context["panels"]
    expected = _list_count(query)
    assert panels["totals"].calls == expected
    assert sum(sum(c.values()) for _, c in panels["volume_table"]) == expected
    # The link to the list carries an explicit range: the list shows the same calls.
    link = parse_qs(urlsplit(unescape(panels["list_url"])).query)
    assert _list_count({k: v[-1] for k, v in link.items()}) == expected


# Counted from KeyedRollup (an own number, a tag) plus, for a number, the calls whose
# other party matches: the fixture's inbound calls come from numbers that are the own
# numbers of its outbound calls, so both parts count.
KEYED_FILTERS = [
    ({"period": "7d", "q": "+1 (919) 555-0003"}, "own"),
    ({"period": "7d", "q": "919-555-0100", "direction": "in"}, "own"),
    ({"period": "24h", "q": "19195550003", "match": "exact"}, "own"),
    ({"period": "7d", "q": "+1 415 555 0002", "direction": "out"}, "own"),
    ({"period": "7d", "tag": "IP"}, "tag"),
    ({"period": "30d", "tag": "long-"}, "tag"),
    ({"period": "30d", "tag": "no such tag"}, "tag"),
]


@pytest.mark.parametrize(("query", "kind"), KEYED_FILTERS)
def test_number_and_tag_filters_count_from_keyed_rollups_exactly(
    client, viewer, traffic, query, kind
):
    now = traffic
    odd = [
        # A direction the API did not say, a long tag, a call between two own numbers.
        {**_call(2001, now - timedelta(hours=2), frm="+19195550003"), "direction": ""},
        _call(2002, now - timedelta(hours=3), tag="long-" + "y" * 2000),
        _call(2003, now - timedelta(hours=4), direction="out", frm="+19195550100"),
    ]
    writes.upsert_calls(odd)
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), query)
    assert response.status_code == 200
    panels = response.context["panels"]
    exact, plan = panels["selection"].plan
    assert not exact and plan.keyed[0] == kind  # not counted from the calls
    expected = _list_count(query)
    assert panels["totals"].calls == expected
    assert sum(sum(c.values()) for _, c in panels["volume_table"]) == expected
    assert sum(sum(row) for _, row in panels["heat_rows"]) == expected
    today = dict(panels["comparisons"])["Today"].calls
    assert today == _list_count({**query, "period": "today"})
    if "no such" not in query.get("tag", ""):
        assert expected > 0


@pytest.mark.parametrize("window", [7, 10_000])
@pytest.mark.parametrize(
    "query",
    [q for q, _ in KEYED_FILTERS] + [{"period": "7d"}, {"period": "24h", "direction": "in"}],
)
def test_top_parties_are_those_of_the_newest_calls_the_list_shows(
    traffic, monkeypatch, query, window
):
    """Whichever way they are read (along the start-time index; per own number or per
    tag, and the other party's matches, on PostgreSQL), the top callers and callees
    are those of the very calls the list shows first."""
    now = traffic
    writes.upsert_calls(
        [
            # A long tag (no entry in the tag index), a call between two own numbers.
            _call(2002, now - timedelta(hours=3), tag="long-" + "y" * 2000),
            _call(2003, now - timedelta(hours=4), direction="out", frm="+19195550100"),
        ]
    )
    monkeypatch.setattr(figures, "TOP_WINDOW", window)
    form = CallFilterForm(query)
    assert form.is_valid()
    selection = figures.select(form, traffic, timezone.get_current_timezone())
    newest = list(
        form.filter(Call.objects.all(), now=traffic)
        .order_by("-start_time")
        .values_list("from_number", "to_number")[:window]
    )
    top = figures.top_parties(selection)
    for side, found in ((0, top["callers"]), (1, top["callees"])):
        counts = Counter(pair[side] for pair in newest if pair[side])
        assert dict(found) == {n: counts[n] for n, _ in found}
        assert sorted(counts.values(), reverse=True)[: len(found)] == [c for _, c in found]
    assert top["capped"] == (len(newest) >= window)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own indexes")
@pytest.mark.parametrize(
    ("query", "indexes"),
    [
        ({"period": "7d"}, ["call_newest_idx"]),
        (
            {"period": "7d", "q": "+1 (919) 555-0003"},
            ["call_from_digits_idx", "call_to_digits_idx"],
        ),
        ({"period": "7d", "tag": "vip"}, ["call_tag_newest"]),
    ],
)
def test_top_parties_read_an_index_and_never_the_table(traffic, query, indexes):
    """The query as written matches its index's expression and WHERE: PostgreSQL can
    answer it from the index alone (on a table this small it would rather scan, so the
    other ways are turned off for the EXPLAIN)."""
    form = CallFilterForm(query)
    assert form.is_valid()
    selection = figures.select(form, traffic, timezone.get_current_timezone())
    sql, params = figures._newest_window(selection)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in indexes:
        assert f"Index Only Scan using {index} " in plan, plan
    assert "Seq Scan" not in plan


def test_every_bar_drills_into_exactly_its_calls(client, viewer, traffic):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), {"period": "7d", "direction": "in"})
    page = response.content.decode()
    outcome_bar = r'<a href="([^"]+)"><rect class="s-(?!peak)(\w+)"[^>]*><title>[^<]*: (\d+) '
    hrefs = re.findall(outcome_bar, page)
    assert len(hrefs) > 10
    for href, _outcome, n in hrefs[:40]:
        query = parse_qs(urlsplit(unescape(href)).query)
        assert _list_count({k: v[-1] for k, v in query.items()}) == int(n)


def test_heatmap_cells_drill_into_their_weekday_and_hour(client, viewer, traffic):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), {"period": "7d"})
    cells = [cell for cell in response.context["panels"]["heat"].cells if cell.value]
    assert cells
    for cell in cells[:10]:
        query = parse_qs(urlsplit(unescape(cell.href)).query)
        assert _list_count({k: v[-1] for k, v in query.items()}) == cell.value


def test_live_panel_and_comparisons(client, viewer, traffic):
    client.force_login(viewer)
    panels = client.get(reverse("calls:overview")).context["panels"]
    assert panels["live"]["active"] == 1
    assert panels["live"]["longest"].catapult_id == "c-ov999"
    today, yesterday, last_week = (t for _, t in panels["comparisons"])
    midnight = timezone.localtime(traffic).replace(hour=0, minute=0, second=0, microsecond=0)
    assert today.calls == Call.objects.filter(start_time__gte=midnight).count()
    assert (
        yesterday.calls
        == Call.objects.filter(
            start_time__gte=midnight - timedelta(days=1), start_time__lt=traffic - timedelta(days=1)
        ).count()
    )
    assert last_week.calls == 0
    answered = Call.objects.filter(start_time__gte=midnight, active_time__isnull=False).count()
    assert today.answered == answered


@pytest.mark.parametrize("chart", ["volume", "peaks", "heatmap", "causes", "directions"])
def test_each_chart_downloads_as_csv(client, viewer, traffic, chart):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), {"period": "24h", "csv": chart})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) > 1


def test_bad_input_is_a_clear_400(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), {"period": "nonsense"})
    assert response.status_code == 400
    assert b"Some filters are not valid" in response.content
    response = client.get(reverse("calls:overview"), {"period": "24h", "csv": "nope"})
    assert response.status_code == 400


def test_overview_queries_do_not_grow_with_the_calls(client, viewer, traffic):
    client.force_login(viewer)
    url = reverse("calls:overview")
    client.get(url, {"period": "7d"})  # warms the concurrency cache
    with CaptureQueriesContext(connection) as first:
        client.get(url, {"period": "7d"})
    now = timezone.now()
    writes.upsert_calls([_call(5000 + n, now - timedelta(minutes=n)) for n in range(200)])
    client.get(url, {"period": "7d"})
    with CaptureQueriesContext(connection) as second:
        client.get(url, {"period": "7d"})
    assert len(second) == len(first)


# --- the viewer's time zone, DST days included ---------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", "2026-11-01", 25),  # clocks go back: 01:00 twice
        ("Europe/Berlin", "2026-03-29", 23),  # clocks go forward: no 02:00
        ("Asia/Kolkata", "2026-03-29", 24),  # UTC+05:30: hours start at :30 UTC
    ],
)
def test_hours_and_days_follow_the_viewers_zone(zone, day, hours):
    tz = zoneinfo.ZoneInfo(zone)
    local_midnight = datetime.fromisoformat(day).replace(tzinfo=tz)
    utc_start = local_midnight.astimezone(UTC)
    rows = [_call(n, utc_start - timedelta(hours=3) + timedelta(minutes=7 * n)) for n in range(300)]
    writes.upsert_calls(rows)
    with timezone.override(tz):
        next_midnight = datetime.fromisoformat(day).replace(tzinfo=tz) + timedelta(days=1)
        next_midnight = next_midnight.replace(tzinfo=tz)
        form = CallFilterForm(
            {
                "period": "custom",
                "start_from": local_midnight.isoformat(),
                "start_to": datetime.combine(next_midnight.date(), datetime.min.time(), tz)
                .astimezone(UTC)
                .isoformat(),
            }
        )
        assert form.is_valid(), form.errors
        selection = figures.select(form, timezone.now(), tz)
        bars = figures.intervals(selection)
        assert len(bars) == hours
        counts = figures.by_interval(selection.rows(), bars)
        for bar, count in zip(bars, counts, strict=True):
            expected = Call.objects.filter(start_time__gte=bar.start, start_time__lt=bar.end)
            assert sum(count.values()) == expected.count(), bar.label
        assert sum(sum(c.values()) for c in counts) == form.filter(Call.objects.all()).count()
        # Per day: the same calls fall on the viewer's local dates.
        per_day = dict(figures.per_day(figures.rollups.from_calls(Call.objects.all()), tz))
        local_dates = [r["start_time"].astimezone(tz).date() for r in rows]
        for date_, count in per_day.items():
            assert sum(count.values()) == local_dates.count(date_)


def test_overview_page_has_a_chart_summary_and_a_table(client, viewer, traffic):
    client.force_login(viewer)
    page = client.get(reverse("calls:overview"), {"period": "24h"}).content.decode()
    assert page.count('<svg class="chart') >= 3
    assert 'id="volume-summary"' in page and "<details><summary>Numbers</summary>" in page
    assert "style=" not in page  # strict CSP: no inline style anywhere


def test_overview_is_first_in_the_navigation(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("calls:list")).content.decode()
    nav = page[page.index('aria-label="Main"') :]
    assert nav.index(reverse("calls:overview")) < nav.index(f'href="{reverse("calls:list")}"')


# --- bounds and bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "1000-01-01T00:00"]
)
@pytest.mark.parametrize("url_name", ["calls:list", "calls:overview"])
def test_dates_no_database_can_hold_are_a_clear_400(client, viewer, start, url_name):
    client.force_login(viewer)
    response = client.get(reverse(url_name), {"period": "custom", "start_from": start})
    assert response.status_code == 400
    assert b"between 1970 and 9000" in response.content


def test_a_range_longer_than_the_overview_covers_is_refused(client, viewer, traffic):
    client.force_login(viewer)
    old = timezone.now() - timedelta(days=900)
    writes.upsert_calls([_call(7000, old)])
    response = client.get(
        reverse("calls:overview"), {"period": "custom", "start_from": old.isoformat()}
    )
    assert response.status_code == 400
    assert b"at most 400 days" in response.content
    # "Any time" is the newest 400 days, and says nothing is wrong.
    response = client.get(reverse("calls:overview"), {"period": ""})
    assert response.status_code == 200
    sel = response.context["panels"]["selection"]
    assert sel.end - sel.start == figures.MAX_RANGE


def test_a_range_before_the_oldest_call_starts_at_the_oldest_call(client, viewer, traffic):
    client.force_login(viewer)
    response = client.get(
        reverse("calls:overview"), {"period": "custom", "start_from": "2001-01-01T00:00:00+00:00"}
    )
    assert response.status_code == 200
    sel = response.context["panels"]["selection"]
    assert sel.start >= Call.objects.order_by("start_time").first().start_time - timedelta(
        minutes=15
    )
    assert len(response.context["panels"]["volume_table"]) <= 5  # days, not 26 years


def test_no_period_is_the_default_one_and_the_form_says_so(client, viewer, traffic):
    client.force_login(viewer)
    page = client.get(reverse("calls:overview")).content.decode()
    assert '<option value="7d" selected>' in page


def test_csv_link_keeps_every_filter(client, viewer, traffic):
    client.force_login(viewer)
    response = client.get(reverse("calls:overview"), {"csv": "", "period": "24h", "tag": "vip"})
    assert response.status_code == 200
    links = re.findall(r'href="\?([^"]*csv=volume)"', response.content.decode())
    query = parse_qs(unescape(links[0]))
    assert query["tag"] == ["vip"] and query["period"] == ["24h"]


def test_peaks_not_computed_yet_are_shown_as_such_and_warmed_later(
    client, viewer, traffic, monkeypatch
):
    from calls.analytics import concurrency

    client.force_login(viewer)
    # Requests sweep nothing: every peak waits for the warm-up task.
    monkeypatch.setitem(concurrency.peak_list.__kwdefaults__, "budget", timedelta(0))
    panels = client.get(reverse("calls:overview"), {"period": "7d"}).context["panels"]
    assert panels["peaks_pending"] == len(panels["peak_table"])
    assert concurrency.warm(timezone.now(), days=8, budget=timedelta(days=8)) > 0
    panels = client.get(reverse("calls:overview"), {"period": "7d"}).context["panels"]
    assert panels["peaks_pending"] <= 1  # the day in progress may hold the open slot
    assert panels["peak_max"] >= 1


def test_exact_match_finds_the_number_and_not_its_suffix(client, viewer):
    now = timezone.now()
    writes.upsert_calls([_call(1, now, frm="+19195550003"), _call(2, now, frm="+4419195550003")])
    assert _list_count({"q": "+19195550003", "match": "exact"}) == 1
    assert _list_count({"q": "+19195550003"}) == 2  # auto: the last 10 digits


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        ("UTC", "2026-03-01", 0),
        ("America/New_York", "2026-03-01", 0),  # a DST change inside: still :00
        ("Asia/Kolkata", "2026-03-01", 30),
        ("Asia/Kathmandu", "2026-03-01", 45),
        ("America/St_Johns", "2026-03-01", 30),  # UTC-03:30, and DST
        ("Australia/Lord_Howe", "2026-03-20", None),  # +11:00 to +10:30 on 5 April
        ("Australia/Lord_Howe", "2026-06-01", 30),  # the winter months alone
    ],
)
def test_the_minute_local_hours_start_at_over_a_range(zone, start, expected):
    from calls.analytics import rollups

    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert rollups.hour_minute(zone, begin, begin + timedelta(days=30)) == expected
