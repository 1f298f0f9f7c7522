"""Overview benchmark: every panel and the whole page at 1M and 10M calls, and what the
rollup triggers add to the sync's write time.

    .venv/bin/python bench/overview.py                    # 1M and 10M calls (PostgreSQL)
    .venv/bin/python bench/overview.py --sizes 1000000    # one size
    .venv/bin/python bench/run.py --parts overview        # the same, in the suite's table

The calls are generated in the database (generate_series, 90 days of history with a
daily and weekly shape, every outcome, an account's numbers and many outside ones), so
10M calls take minutes rather than the hour a simulator backfill would. The triggers run
during the load, as they do for any writer; `rebuild_rollups` then fills the concurrency
cache (timed, reported). The database is --pg-url's (its calls are replaced).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAYS = 90

# One row per call; start times spread over DAYS with more calls in working hours.
GENERATE = """
INSERT INTO calls_call (
    catapult_id, direction, from_number, to_number, from_digits, to_digits,
    from_digits_rev, to_digits_rev, state, start_time, active_time, end_time,
    chargeable_duration, duration, callback_url, callback_http_method, fallback_url,
    recording_enabled, has_recording, recording_file_format, transcription_enabled, tag,
    sip_headers, bridge_id, conference_id, hangup_cause, raw, first_seen_at, synced_at,
    events_pending, oddities, raw_original)
SELECT
    'c-ov' || g, d.direction, d.frm, d.too, d.fd, d.td, reverse(d.fd), reverse(d.td),
    d.state, d.t, d.active, d.ended,
    CASE WHEN d.ended IS NOT NULL THEN 60 * (1 + d.talk / 60) END,
    CASE WHEN d.active IS NOT NULL AND d.ended IS NOT NULL THEN d.talk END,
    '', '', '', false, false, '', false,
    CASE WHEN g %% 10 = 0 THEN 'campaign-' || (g %% 7) ELSE '' END,
    '{}'::jsonb, '', '', d.cause, '{}'::jsonb, now(), now(), false, '[]'::jsonb, ''
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
CROSS JOIN LATERAL (
    SELECT
        s.direction, s.state, s.t, s.talk,
        CASE WHEN s.direction = 'in' THEN '+1' || s.outside ELSE '+1919555' || s.own END AS frm,
        CASE WHEN s.direction = 'in' THEN '+1919555' || s.own ELSE '+1' || s.outside END AS too,
        CASE WHEN s.direction = 'in' THEN '1' || s.outside ELSE '1919555' || s.own END AS fd,
        CASE WHEN s.direction = 'in' THEN '1919555' || s.own ELSE '1' || s.outside END AS td,
        CASE WHEN s.state = 'completed' AND s.answered
             THEN s.t + interval '4 seconds' END AS active,
        CASE WHEN s.state IN ('completed', 'rejected', 'error')
             THEN s.t + make_interval(secs => 4 + s.talk) END AS ended,
        CASE s.state WHEN 'completed' THEN
                 CASE WHEN s.answered THEN 'NORMAL_CLEARING'
                      ELSE (ARRAY['NO_ANSWER', 'USER_BUSY', 'ORIGINATOR_CANCEL'])[1 + g %% 3] END
             WHEN 'rejected' THEN 'CALL_REJECTED'
             WHEN 'error' THEN 'NORMAL_TEMPORARY_FAILURE' ELSE '' END AS cause
    FROM (
        SELECT
            CASE WHEN g %% 5 < 3 THEN 'in' ELSE 'out' END AS direction,
            CASE WHEN g %% 50 = 0 THEN 'rejected' WHEN g %% 37 = 0 THEN 'error'
                 ELSE 'completed' END AS state,
            (g %% 9) <> 0 AS answered,
            (g * 7919 %% 600) AS talk,
            lpad((g %% 20)::text, 4, '0') AS own,
            (2000000000 + (g * 104729) %% %(outside)s)::text AS outside,
            -- Spread evenly, then bent towards the day's middle (a working-hours shape).
            now() - make_interval(secs => %(span)s * (1 - (g - 1)::float / %(n)s))
                - make_interval(secs => 3600 * 4 * sin(pi() * ((g * 2654435761) %% 1000) / 1000.0))
                AS t
    ) AS s
) AS d
"""


def load(n: int, outside: int) -> float:
    """Replace the calls with n generated ones, in batches; returns seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE calls_callevent, calls_auditentry, calls_call, calls_callrollup, "
            "calls_keyedrollup, calls_rollupkey, "
            "calls_concurrencypeak RESTART IDENTITY CASCADE"
        )
    batch = 1_000_000
    span = DAYS * 86_400
    for first in range(1, n + 1, batch):
        last = min(n, first + batch - 1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                GENERATE, {"first": first, "last": last, "n": n, "span": span, "outside": outside}
            )
        print(f"  {last:,} calls", flush=True)
    settle()
    return time.perf_counter() - started


def settle() -> None:
    """What autovacuum does to freshly written calls before long: statistics, and the
    visibility map that lets the Overview's index-only scans skip the table (measured
    straight after a load, every one of them would fetch its rows)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("calls_call", "calls_callrollup", "calls_keyedrollup"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _timed(fn, n: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def load_seeded(n: int) -> float:
    """Replace the calls with n from `seed_calls` (the simulator's own history: 7 days, its
    numbers and tags, one event per call); returns seconds."""
    from django.core.management import call_command

    from bench.common import empty_tables

    started = time.perf_counter()
    empty_tables()
    call_command("seed_calls", calls=n, events_per_call=1, verbosity=0)
    settle()
    return time.perf_counter() - started


def busiest(column: str, where: str) -> str:
    """The most frequent value of a column of the calls (a number or a tag to filter by)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM calls_call WHERE {where} "  # noqa: S608 - fixed names
            f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column} LIMIT 1"
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def measure_panels(
    record,
    size: str,
    n: int,
    target_ms: float,
    number: str = "+19195550003",
    tag: str = "campaign-3",
) -> None:
    """Every panel, then the whole page, for the ranges and filters an operator picks;
    `number` (one of the account's) and `tag` are the filters' values."""
    from urllib.parse import quote_plus

    from django.http import QueryDict
    from django.test import Client
    from django.utils import timezone

    from calls.analytics import overview as figures
    from calls.filters import CallFilterForm

    zone = timezone.get_current_timezone()
    # As the server does once it has loaded (dashboard/asgi.py): what lives by now is
    # left out of full collections, which would otherwise land in random samples.
    gc.collect()
    gc.freeze()

    def selection(query: str):
        form = CallFilterForm(QueryDict(query))
        assert form.is_valid(), form.errors
        return figures.select(form, timezone.now(), zone)

    def week():
        return selection("period=7d")  # a new Selection each time: it keeps what it counted

    bars = figures.intervals(week())
    rows = week().split_rows()
    panels = {
        "range (7 days): totals, bars and heatmap rows in one pass": lambda: week().split_rows(),
        "calls per day by outcome (from those rows)": lambda: figures.by_interval(rows[1], bars),
        "hour-of-week heatmap (from those rows)": lambda: figures.heatmap(rows[1], zone),
        "peak concurrency (warm cache)": lambda: figures.peak_per_interval(week(), bars),
        "today vs yesterday vs last week": lambda: figures.comparisons(week()),
        "top callers and callees": lambda: figures.top_parties(week()),
        "live now": figures.live_now,
        "one number, 30 days: range rows": lambda: selection(
            f"period=30d&q={quote_plus(number)}"
        ).split_rows(),
        "one number, 30 days: top callers and callees": lambda: figures.top_parties(
            selection(f"period=30d&q={quote_plus(number)}")
        ),
        "a tag, 24 hours: range rows": lambda: selection(
            f"period=24h&tag={quote_plus(tag)}"
        ).split_rows(),
        "a tag, 24 hours: top callers and callees": lambda: figures.top_parties(
            selection(f"period=24h&tag={quote_plus(tag)}")
        ),
    }
    for label, fn in panels.items():
        p50, p95 = _timed(fn, n)
        record("overview", f"{size} panel: {label}", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from calls.roles import VIEWER, assign_role

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test Client's
    user, _ = get_user_model().objects.get_or_create(username="bench-overview")
    assign_role(user, VIEWER)
    client = Client()
    client.force_login(user)
    pages = [
        ("default (last 7 days)", ""),
        ("today", "period=today"),
        ("last 24 hours", "period=24h"),
        ("last 30 days", "period=30d"),
        ("inbound, 7 days", "period=7d&direction=in"),
        ("one account number, 30 days", f"period=30d&q={quote_plus(number)}"),
        ("a tag, 24 hours", f"period=24h&tag={quote_plus(tag)}"),
    ]
    for label, query in pages:
        path = f"/overview/?{query}"
        status = client.get(path).status_code
        assert status == 200, (path, status)
        p50, p95 = _timed(lambda p=path: client.get(p), n)
        record(
            "overview",
            f"{size} whole page: {label}",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            f"p95 <= {target_ms:.0f} ms",
            p95 <= target_ms,
        )


def _trigger_ms(cursor) -> float:
    """Milliseconds spent in the rollup trigger functions by this session and not yet
    reported to the statistics (PostgreSQL reports them only between transactions, so
    two reads inside one transaction differ by that transaction's own trigger time)."""
    cursor.execute(
        "SELECT COALESCE(SUM(total_time), 0) FROM pg_stat_xact_user_functions "
        "WHERE funcname IN ('calls_rollup_insert', 'calls_rollup_update', 'calls_rollup_delete')"
    )
    return float(cursor.fetchone()[0])


def _batch_rows(base, batch: int, state: str) -> list[dict]:
    """500 calls as the sync's list read gives them: live, or the same calls ended.
    Two in three carry a tag, as the simulator's do."""
    from calls.sync import payloads

    out = []
    for i in range(500):
        start = base - timedelta(seconds=batch * 500 + i)
        payload = {
            "id": f"c-upkeep-{batch}-{i}",
            "direction": "in",
            "from": f"+1202555{i % 1000:04d}",
            "to": "+19195550001",
            "state": state,
            "startTime": start.isoformat(),
            "activeTime": (start + timedelta(seconds=3)).isoformat(),
            "tag": ("support", "sales", "")[i % 3],
        }
        if state == "completed":
            payload["endTime"] = (start + timedelta(seconds=90)).isoformat()
            payload["chargeableDuration"] = 120
        out.append(payloads.call_fields(payload))
    return out


def _batch_events(base, cid: str) -> list[dict]:
    from calls.sync import payloads

    names = ["answer", "speak", "playback", "dtmf", "dtmf", "recording", "hangup"]
    return [
        payloads.event_fields(
            {
                "id": f"ce-{cid}-{k}",
                "name": name,
                "time": base.isoformat(),
                "data": "NORMAL_CLEARING" if name == "hangup" else "{}",
            }
        )
        for k, name in enumerate(names)
    ]


def _write_batch(base, batch: int, written) -> float:
    """One batch of the sync's writes, each step through `written(step)` (a transaction
    of its own); returns the sum of what `written` returns."""
    from calls.models import Call
    from calls.sync import writes

    spent = written(lambda: writes.upsert_calls(_batch_rows(base, batch, "active")))
    spent += written(lambda: writes.upsert_calls(_batch_rows(base, batch, "completed")))
    # Then the calls' events, as the sync reads them once a call has ended (this also
    # sets each hangup cause, which moves the call between rollup rows).
    ids = dict(
        Call.objects.filter(catapult_id__startswith=f"c-upkeep-{batch}-").values_list(
            "catapult_id", "pk"
        )
    )
    reads = [
        writes.EventRead(pk, "completed", None, "", _batch_events(base, cid), base, cid)
        for cid, pk in ids.items()
    ]
    return spent + written(lambda: writes.store_events(reads))


def _forget_batches() -> None:
    """Leave the loaded calls as they were (a later --no-load run finds them), and
    recount: batches written with the triggers off were never counted."""
    from django.db import connection, transaction

    from calls.analytics import triggers
    from calls.models import Call

    with transaction.atomic():
        Call.objects.filter(catapult_id__startswith="c-upkeep-").delete()
        triggers.rebuild(connection)


def measure_upkeep(record, batches: int) -> None:
    """The sync's write path (writes.upsert_calls: COPY + INSERT ... ON CONFLICT) with the
    rollup triggers on and off, on new calls and on calls that end, measured two ways:

    - directly: the time PostgreSQL spends in the trigger functions (track_functions),
      against the write time of the batches written without them. Exact to the
      millisecond, whatever else the machine does; it leaves out the transition tables'
      capture (a copy of the changed rows, small beside the functions).
    - end to end: the batches' wall time with the triggers enabled and disabled, in the
      order on, off, off, on (drift cancels out). A batch's time varies by more than the
      triggers cost (Python, the disk, the other core): it takes a hundred batches each
      way for the medians to settle within a few percent (20 gave anywhere from +1 % to
      +15 % on one machine). Shown with the spread of the batches written without them.
    """
    from datetime import UTC, datetime

    from django.db import DatabaseError, connection, transaction

    if batches <= 0:
        return
    base = datetime.now(UTC)
    with connection.cursor() as cursor:
        try:
            cursor.execute("SET track_functions = 'pl'")  # a superuser's setting
            direct = True
        except DatabaseError:  # not allowed: the end-to-end figure only
            direct = False
    timings: dict[bool, list[float]] = {True: [], False: []}
    in_triggers: list[float] = []

    def written(write) -> float:
        """Write in a transaction of its own; returns the trigger functions' ms in it."""
        with transaction.atomic(), connection.cursor() as cursor:
            before = _trigger_ms(cursor) if direct else 0.0
            write()
            return (_trigger_ms(cursor) - before) if direct else 0.0

    for batch in range(batches):
        triggers_on = batch % 4 in (0, 3)
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE calls_call {'ENABLE' if triggers_on else 'DISABLE'} TRIGGER USER"
            )
        started = time.perf_counter()
        spent = _write_batch(base, batch, written)
        timings[triggers_on].append(time.perf_counter() - started)
        if triggers_on:
            in_triggers.append(spent)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE calls_call ENABLE TRIGGER USER")
    _forget_batches()
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    what = "rollup upkeep on the sync's writes (500 calls listed, ended, 3,500 events)"
    if direct and in_triggers:
        spent_ms = statistics.median(in_triggers)
        share = 100 * spent_ms / (off * 1000)
        record(
            "overview",
            f"{what}: time in the rollup triggers",
            f"{spent_ms:.1f} ms per batch of {off * 1000:.0f} ms written without them: "
            f"+{share:.1f} %",
            "<= +10 %",
            share <= 10,
        )
    low, high = (statistics.quantiles(timings[False], n=4)[i] for i in (0, 2))
    spread = 100 * (high - low) / off
    extra = 100 * (on - off) / off
    record(
        "overview",
        f"{what}: end to end, {len(timings[True])} batches each way",
        f"{off * 1000:.0f} ms without, {on * 1000:.0f} ms with triggers: {extra:+.1f} % "
        f"(batches without vary by {spread:.0f} % between quartiles)",
        "<= +10 %",
        extra <= 10,
    )


def _overview_indexes(on: bool) -> None:
    """The calls' indexes as migration 0010 left them (on), or as before it: without
    the included columns and without the tag index."""
    from django.db import connection, models

    from calls.analytics.keyed import TAG_INDEX
    from calls.models import Call

    widened = [index for index in Call._meta.indexes if index.include]
    with connection.schema_editor() as editor:
        editor.execute(f"DROP INDEX IF EXISTS {TAG_INDEX[0]}")
        for index in widened:
            editor.execute(f"DROP INDEX IF EXISTS {index.name}")
            editor.add_index(
                Call, index if on else models.Index(fields=index.fields, name=index.name)
            )
        if on:
            editor.execute(f"CREATE INDEX {TAG_INDEX[0]} ON calls_call {TAG_INDEX[1]}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE calls_call")


def measure_index_cost(record, batches: int) -> None:
    """What the Overview's index-only reads cost the sync's writes: the batches of
    measure_upkeep with the calls' indexes as migration 0010 made them and as before,
    in phases on, off, off, on (each phase rebuilds the indexes, so not batch by batch).
    Triggers on throughout."""
    from datetime import UTC, datetime

    from django.db import transaction

    base = datetime.now(UTC)

    def written(write) -> float:
        with transaction.atomic():
            write()
        return 0.0

    timings: dict[bool, list[float]] = {True: [], False: []}
    per_phase = max(1, batches // 4)
    batch = 0
    try:
        for on in (True, False, False, True):
            _overview_indexes(on)
            for _ in range(per_phase):
                started = time.perf_counter()
                _write_batch(base, batch, written)
                timings[on].append(time.perf_counter() - started)
                batch += 1
    finally:
        _overview_indexes(True)
        _forget_batches()
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    extra = 100 * (on - off) / off
    record(
        "overview",
        f"index upkeep (0010's included columns and tag index) on the same batches, "
        f"{len(timings[True])} each way",
        f"{off * 1000:.0f} ms without, {on * 1000:.0f} ms with: {extra:+.1f} %",
    )


def part_overview(args, record) -> None:
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == "postgresql", "the overview benchmark runs on PostgreSQL"
    sizes = [int(s) for s in str(args.overview_sizes).split(",") if s]
    scale = getattr(args, "scale", 1)
    if scale != 1:
        sizes = [max(10_000, int(n * scale)) for n in sizes]
    seeded = getattr(args, "data", "generated") == "seed_calls"
    for n in sizes:
        size = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"
        print(f"\n[overview] {n:,} {'seed_calls' if seeded else 'generated'} calls", flush=True)
        from calls.models import Call

        # Calls this benchmark loaded: "c-ov" and a number when generated; seed_calls's
        # are the simulator's ids ("c-" and 25 letters and digits).
        if seeded:
            loaded = Call.objects.exclude(catapult_id__regex=r"^c-ov[0-9]+$")
        else:
            loaded = Call.objects.filter(catapult_id__startswith="c-ov")
        if getattr(args, "no_load", False) and loaded.count() == n == Call.objects.count():
            print("  reusing the calls already loaded", flush=True)
            settle()
        elif seeded:
            seconds = load_seeded(n)
            record("overview", f"{size} load (seed_calls, triggers on)", f"{seconds:.0f} s")
        else:
            seconds = load(n, outside=max(1000, n // 20))
            record("overview", f"{size} load (generate_series, triggers on)", f"{seconds:.0f} s")
        started = time.perf_counter()
        call_command("rebuild_rollups", verbosity=0, peak_days=31)
        record(
            "overview",
            f"{size} rebuild_rollups + 31 days of peaks",
            f"{time.perf_counter() - started:.1f} s",
        )
        target = 100 if n <= 1_000_000 else 300
        filters = {}
        if seeded:  # the simulator's own numbers and tags: its busiest of each
            filters = {
                "number": busiest("to_number", "direction = 'in'"),
                "tag": busiest("tag", "tag <> ''"),
            }
            print(f"  filters: number {filters['number']}, tag {filters['tag']}", flush=True)
        measure_panels(record, size, args.requests_overview, target, **filters)
    measure_upkeep(record, batches=args.upkeep_batches)
    if getattr(args, "index_batches", 0):
        measure_index_cost(record, batches=args.index_batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--upkeep-batches", type=int, default=200)
    parser.add_argument(
        "--index-batches",
        type=int,
        default=0,
        help="also measure what 0010's indexes cost the same writes (rebuilds them 4 times)",
    )
    parser.add_argument(
        "--no-load", action="store_true", help="reuse the calls loaded by an earlier run"
    )
    parser.add_argument(
        "--data",
        choices=("generated", "seed_calls"),
        default="generated",
        help="generated: 90 days in SQL (fast at 10M); seed_calls: the simulator's own "
        "history (7 days; minutes per million calls)",
    )
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/bench")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()
    args.overview_sizes, args.requests_overview = args.sizes, args.requests

    from bench.common import ensure_postgres_database

    ensure_postgres_database(args.pg_url)
    os.environ.update(
        {
            "DATABASE_URL": args.pg_url,
            "REDIS_URL": args.redis_url,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    results = []

    def record(part, figure, value, target="", ok=None):
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        results.append((figure, value, f"{target} {verdict}".strip()))
        print(f"  {figure}: {value} {target} {verdict}", flush=True)

    part_overview(args, record)
    print("\n| figure | value | target |\n|---|---|---|")
    for figure, value, target in results:
        print(f"| {figure} | {value} | {target} |")


if __name__ == "__main__":
    main()
