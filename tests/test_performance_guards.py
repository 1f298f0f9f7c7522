"""Small versions of the benchmarks (bench/run.py), asserting only what is stable:
query counts that do not grow with the data, index use in the search plans, and the API
requests of a steady-state sync cycle. Never wall times."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from calls import sync
from calls.catapult import CatapultClient
from calls.filters import CallFilterForm
from calls.models import Call, CallEvent
from calls.numbers import digits
from calls.roles import VIEWER, assign_role
from calls.sync.cycle import sync_retry_policy

pytestmark = pytest.mark.django_db

BUSY_NUMBER = "+19195550100"


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("pat", password="pw-for-tests-1")
    assign_role(user, VIEWER)
    return user


def make_calls(n: int, live: int = 0) -> Call:
    """n calls of one busy number (the first `live` of them live), 8 events on the first."""
    now = timezone.now()
    rows = []
    for i in range(n):
        to = f"+1206555{i % 100 + 100:04d}"
        rows.append(
            Call(
                catapult_id=f"c-perf{i:021d}",
                direction="out",
                from_number=BUSY_NUMBER,
                to_number=to,
                from_digits=digits(BUSY_NUMBER),
                to_digits=digits(to),
                from_digits_rev=digits(BUSY_NUMBER)[::-1],
                to_digits_rev=digits(to)[::-1],
                state="active" if i < live else "completed",
                start_time=now - timedelta(seconds=10 * i),
                first_seen_at=now,
                synced_at=now,
                events_pending=i < live,
            )
        )
    Call.objects.bulk_create(rows)
    first = Call.objects.get(catapult_id="c-perf" + "0" * 21)
    CallEvent.objects.bulk_create(
        CallEvent(call=first, catapult_id=f"ce-{j}", name="dtmf", time=now, data="1")
        for j in range(8)
    )
    return first


def _queries_for(client, django_assert_max_num_queries, path, limit, **headers):
    with django_assert_max_num_queries(limit):
        response = client.get(path, **headers)
    assert response.status_code == 200


PAGES = [
    # Each page's status line counts the events still to read (two indexed counts) and
    # reads the backfill's progress: three queries of the nine to fifteen.
    ("list", lambda call: reverse("calls:list"), {}, 12),
    ("search", lambda call: reverse("calls:list") + "?q=5550150", {}, 12),
    ("detail", lambda call: reverse("calls:detail", args=[call.catapult_id]), {}, 15),
    # The number page's calls-per-day chart: a window bound per side, one grouped count.
    ("number", lambda call: reverse("calls:number", args=[BUSY_NUMBER]), {}, 18),
    (
        "live partial",
        lambda call: reverse("calls:list") + "?state=live",
        {"HTTP_HX_REQUEST": "true"},
        12,
    ),
]


@pytest.mark.parametrize("rows", [10, 300])
@pytest.mark.parametrize(("name", "path", "headers", "limit"), PAGES, ids=[p[0] for p in PAGES])
def test_query_count_does_not_grow_with_rows(
    client, viewer, django_assert_max_num_queries, rows, name, path, headers, limit
):
    call = make_calls(rows, live=min(rows, 60))
    client.force_login(viewer)
    client.get(path(call), **headers)  # first request: session, permissions cached
    _queries_for(client, django_assert_max_num_queries, path(call), limit, **headers)


# --- search plans (PostgreSQL only) ---------------------------------------------------------


def _plan(query: str) -> str:
    form = CallFilterForm(QueryDict(query))
    assert form.is_valid(), form.errors
    qs = form.filter(Call.objects.all())
    with connection.cursor() as cursor:
        # Without planner statistics a tiny table is read sequentially: forbid that, as a
        # table of millions would, to see which index the query can use.
        cursor.execute("SET LOCAL enable_seqscan = off")
        return qs.explain()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the number-search indexes exist on PostgreSQL only"
)
@pytest.mark.parametrize(
    ("query", "indexes"),
    [
        ("q=555015&match=contains", ("call_from_digits_trgm", "call_to_digits_trgm")),
        ("q=2065550150&match=suffix", ("call_from_rev_prefix", "call_to_rev_prefix")),
        ("q=1206555&match=prefix", ("call_from_digits_prefix", "call_to_digits_prefix")),
    ],
    ids=["contains-trigram", "suffix-reversed", "prefix-pattern"],
)
def test_number_search_uses_its_index(query, indexes):
    make_calls(50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_call")
    from django.db import transaction

    with transaction.atomic():
        plan = _plan(query)
    for index in indexes:
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan


# --- steady-state sync: API requests against the minimum ------------------------------------


def test_steady_cycle_requests_stay_near_the_minimum(sim, catapult_settings):
    """With history stored, a cycle reads one list page: the list carries every call's
    state, and nobody has a live call open whose events would be worth a read."""
    catapult_settings.SYNC_PAGE_SIZE = 100
    sim.preload(1000, events_per_call=8, live=5)
    client = CatapultClient.from_settings(retry=sync_retry_policy())
    while True:  # backfill
        run = sync.run_cycle(client)
        assert run.outcome == "success", run.error
        if (
            not Call.objects.filter(events_pending=True)
            .exclude(state__in=Call.LIVE_STATES)
            .exists()
        ):
            break
    sim.reset_stats()
    run = sync.run_cycle(client)
    assert run.outcome == "success", run.error
    # Nothing new: one list page reaches past the watermark.
    minimum = 1
    assert run.api_requests == sim.stats()["requests"]
    assert run.api_requests <= 1.2 * minimum, (run.api_requests, minimum, sim.stats())
    assert run.pages == 1


# --- sync write path: statements per batch, not per row -------------------------------------


def _payload(i: int) -> dict:
    start = timezone.now() - timedelta(seconds=i)
    return {
        "id": f"c-guard{i:06d}",
        "from": "+19195550100",
        "to": f"+1206555{i % 1000:04d}",
        "state": "completed",
        "startTime": start.isoformat(),
    }


def _statements(fn) -> int:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries.captured_queries)


def _write(first: int, calls: int) -> tuple[int, int]:
    """Statements to upsert `calls` new calls, then to store 8 events for each."""
    from calls.sync.payloads import call_fields, event_fields

    rows = [call_fields(_payload(i)) for i in range(first, first + calls)]
    upsert = _statements(lambda: sync.upsert_calls(rows))
    pks = Call.objects.filter(catapult_id__in=[r["catapult_id"] for r in rows])
    event = {"name": "speak", "time": "2026-11-20T10:00:00Z"}
    reads = [
        sync.EventRead(
            pk,
            "completed",
            None,
            "",
            [event_fields({**event, "id": f"ce-{j}"}) for j in range(8)],
            timezone.now(),
        )
        for pk in pks.values_list("pk", flat=True)
    ]
    store = _statements(lambda: sync.store_events(reads))
    return upsert, store


def test_sync_writes_take_as_many_statements_for_400_calls_as_for_60():
    from calls.sync import bulk

    small = bulk.STAGE_FROM_ROWS + 10  # both sizes take the same path (PostgreSQL: COPY)
    assert _write(0, small) == (large := _write(small, 400))
    assert Call.objects.count() == small + 400
    assert CallEvent.objects.count() == 8 * (small + 400)
    # A select of the stored calls and the upsert; the look-up of callback entries the read
    # replaces, the events insert and the flags update (on PostgreSQL each write with its
    # staging table's set-up; COPY is not counted here).
    assert large[0] <= 6 and large[1] <= 9, large
