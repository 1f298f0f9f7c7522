"""Benchmark: one evaluation of 20 alert rules over the stored calls (1M at full size).

    .venv/bin/python bench/alerts.py                 # 1M calls seeded into SQLite (long)
    .venv/bin/python bench/alerts.py --scale 0.01    # 10k calls: a quick check
    DATABASE_URL=postgres://... .venv/bin/python bench/alerts.py
    .venv/bin/python bench/run.py --parts alerts     # on bench/run.py's PostgreSQL data set

The rules mix every metric: calls metrics over 5 minutes to 24 hours (ASR, failed share,
short calls, call counts), compared with a value, the window before and the same window
last week, scoped by number, direction, tag and a saved view's filters; live calls older
than N hours; and the sync, API and callback metrics over a day of sync runs and
callbacks. Each evaluation is the beat task's work: evaluate.run(now), every rule
measured and moved through its lifecycle. Prints p50/p95 seconds (target p95 <= 1 s).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_SECONDS = 1.0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def seed_operations(now) -> None:
    """A day of sync runs (one per 10 s) and callbacks, as a running stack leaves them."""
    from calls.models import CallbackEvent, SyncRun, SyncState

    SyncRun.objects.all().delete()
    CallbackEvent.objects.all().delete()
    runs = []
    for i in range(24 * 360):
        started = now - timedelta(seconds=10 * i)
        runs.append(
            SyncRun(
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                outcome="success",
                api_requests=12,
                api_errors=1 if i % 50 == 0 else 0,
                rate_limited=1 if i % 200 == 0 else 0,
                backfill_pages=1 if i % 3 == 0 else 0,
                list_read=True,
            )
        )
    SyncRun.objects.bulk_create(runs, batch_size=2000)
    callbacks = []
    for i in range(20_000):
        kind = "recording" if i % 10 == 0 else "answer"
        payload = {"eventType": kind, "callId": f"c-bench-{i}", "n": i}
        if kind == "recording":
            payload["status"] = "error" if i % 100 == 0 else "complete"
        callbacks.append(
            CallbackEvent(
                received_at=now - timedelta(seconds=4 * i),
                event_type=kind,
                call_catapult_id=f"c-bench-{i}",
                payload=payload,
                digest=f"bench-{i:064d}"[-64:],
                processed_at=now,
            )
        )
    CallbackEvent.objects.bulk_create(callbacks, batch_size=2000)
    state = SyncState.get()
    state.backfill_next_url = "https://example.invalid/next"
    state.save()


def make_rules(now) -> list:
    """The 20 rules: every metric, windows of 5 min to 24 h, scopes and comparisons."""
    from datetime import time as clock

    from calls.alerts.models import Rule, SavedView
    from calls.models import Call

    Rule.objects.all().delete()
    number = (
        Call.objects.exclude(from_digits="")
        .order_by("-start_time")
        .values_list("from_digits", flat=True)
        .first()
        or "19195550100"
    )
    owner = _bench_user()
    view, _ = SavedView.objects.get_or_create(
        owner=owner,
        name="bench inbound completed",
        defaults={"query": "direction=in&state=completed&period=24h", "created_at": now},
    )
    specs = [
        dict(metric="asr", param=20, window_minutes=60, op="below", threshold=50),
        dict(metric="asr", param=5, window_minutes=15, op="below", threshold=50, direction="in"),
        dict(
            metric="asr",
            param=20,
            window_minutes=1440,
            compare="last_week",
            op="below",
            threshold=-20,
        ),
        dict(metric="asr", param=5, window_minutes=1440, op="below", threshold=50, number=number),
        dict(metric="failed_share", param=10, window_minutes=15, op="above", threshold=20),
        dict(
            metric="failed_share",
            param=10,
            window_minutes=60,
            compare="previous",
            op="above",
            threshold=50,
        ),
        dict(
            metric="short_calls",
            param=10,
            window_minutes=60,
            compare="last_week",
            op="above",
            threshold=100,
        ),
        dict(
            metric="short_calls",
            param=5,
            window_minutes=15,
            op="above",
            threshold=10,
            number=number,
        ),
        dict(
            metric="call_count",
            window_minutes=30,
            op="below",
            threshold=1,
            active_from=clock(0, 0),
            active_to=clock(23, 59),
        ),
        dict(metric="call_count", window_minutes=5, op="below", threshold=1, tag="sales"),
        dict(
            metric="call_count",
            window_minutes=1440,
            op="below",
            threshold=10,
            view_name=view.name,
            view_query=view.query,
        ),
        dict(metric="stuck_calls", param=4, op="above", threshold=0),
        dict(metric="stuck_calls", param=1, op="above", threshold=0, direction="out"),
        dict(metric="sync_lag", op="above", threshold=5),
        dict(metric="backfill_pages", window_minutes=30, op="below", threshold=1),
        dict(metric="api_error_rate", window_minutes=15, op="above", threshold=10),
        dict(metric="rate_limited", window_minutes=15, op="above", threshold=5),
        dict(metric="api_down", op="above", threshold=2),
        dict(metric="callbacks_silent", op="above", threshold=10),
        dict(metric="recording_errors", window_minutes=60, op="above", threshold=0),
    ]
    rules = [
        Rule(name=f"bench {i} {spec['metric']}", created_at=now, updated_at=now, **spec)
        for i, spec in enumerate(specs)
    ]
    return Rule.objects.bulk_create(rules)


def _bench_user():
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="bench-alerts")
    return user


def part_alerts(args, record) -> None:
    """With Django set up and the calls stored: time evaluations of the 20 rules."""
    from django.db import connection
    from django.utils import timezone

    from calls.alerts import evaluate
    from calls.models import Call

    now = timezone.now()
    seed_operations(now)
    rules = make_rules(now)
    calls = Call.objects.count()
    print(
        f"\n[alerts] {len(rules)} rules over {calls:,} calls, {args.evaluations} evaluations "
        f"({connection.vendor})",
        flush=True,
    )
    evaluate.run(timezone.now())  # warm: the first one also opens connections
    samples, errors = [], []
    for _ in range(args.evaluations):
        started = time.perf_counter()
        summary = evaluate.run(timezone.now())
        samples.append(time.perf_counter() - started)
        errors += summary.errors
    p50, p95 = _percentiles(samples)
    record(
        "alerts",
        f"one evaluation of {len(rules)} rules ({calls:,} calls)",
        f"p50 {p50:.3f} s, p95 {p95:.3f} s",
        f"p95 <= {TARGET_P95_SECONDS:g} s",
        p95 <= TARGET_P95_SECONDS,
    )
    if errors:
        record("alerts", "rules that could not be measured", f"{len(errors)}: {errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies 1M calls")
    parser.add_argument("--live", type=int, default=200, help="live calls in the data set")
    parser.add_argument("--evaluations", type=int, default=20)
    args = parser.parse_args()

    from bench.common import empty_tables, prepare

    workdir, redis_server = prepare("bench-alerts-")
    try:
        from django.core.management import call_command

        calls = max(1000, int(1_000_000 * args.scale))
        print(f"[data] seeding {calls:,} calls + {args.live} live", flush=True)
        empty_tables()
        started = time.perf_counter()
        call_command("seed_calls", calls=calls, events_per_call=2, live=args.live, verbosity=0)
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)

        def record(part, figure, value, target="", ok=None):
            verdict = "" if ok is None else ("pass" if ok else "MISS")
            print(f"  {figure}: {value} {target} {verdict}".rstrip(), flush=True)

        part_alerts(args, record)
    finally:
        if redis_server is not None:
            redis_server.stop()


if __name__ == "__main__":
    main()
