"""The benchmark suite: ingest, steady-state sync, pages, admin, live load. Prints a table.

    .venv/bin/python bench/run.py                      # everything, full size
    .venv/bin/python bench/run.py --scale 0.05         # the same at 5 % of the sizes, minutes
    .venv/bin/python bench/run.py --parts steady,pages # some parts only
    .venv/bin/python bench/run.py --parts budget       # freshness under the 1 request/s limit
    .venv/bin/python bench/run.py --parts alerts       # one evaluation of 20 alert rules
    .venv/bin/python bench/run.py --parts overview     # the Overview at 1M and 10M calls

PostgreSQL is --pg-url (its tables are emptied: point it at a database of its own); Redis is
REDIS_URL or --redis-url. The simulator runs in this process on a loopback port, rate limit
off; the ingest backfills run in child processes so their peak RSS is their own. The budget
part (bench/budget.py) runs whole stacks as bin/up does instead, on SQLite, the simulator's
1 request/s limit on; it needs no PostgreSQL when run alone. These are benchmarks: the
figures depend on the machine. Exit status 0 even when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alerts import part_alerts  # noqa: E402 - needs ROOT on the path
from bench.budget import part_budget  # noqa: E402 - needs ROOT on the path
from bench.common import backfill, empty_tables, ensure_postgres_database  # noqa: E402
from bench.overview import part_overview  # noqa: E402

SIM_USER, SIM_TOKEN, SIM_SECRET = "u-bench", "bench-token", "bench-secret-value"
PARTS = ("ingest", "steady", "live", "pages", "admin", "budget", "push", "alerts", "overview")
RESULTS: list[tuple[str, str, str, str]] = []  # (part, figure, value, target / verdict)


def record(part: str, figure: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("pass" if ok else "MISS")
    RESULTS.append((part, figure, value, f"{target} {verdict}".strip()))
    print(f"  {figure}: {value} {target} {verdict}", flush=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return p50, p95


def base_env(workdir: Path, database_url: str, redis_url: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CATAPULT_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        STATE_DIR=str(workdir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        CATAPULT_RATE_LIMIT="0",
        SYNC_LOCK_TIMEOUT_SECONDS="7200",
        # Ingest measures throughput: calls that ended moments ago are read at once, not
        # after the (live-traffic) late-events delay.
        SYNC_LATE_EVENTS_SECONDS="0",
    )
    return env


def sim_env(sim) -> dict:
    return {
        "CATAPULT_BASE_URL": sim.base_url,
        "CATAPULT_USER_ID": SIM_USER,
        "CATAPULT_API_TOKEN": SIM_TOKEN,
        "CATAPULT_API_SECRET": SIM_SECRET,
        "CATAPULT_RATE_LIMIT": "0",
    }


def start_simulator(calls: int, events: int, live: int, outside: int):
    from catapult_sim.numbers import NumberPool
    from catapult_sim.testing import running_simulator

    manager = running_simulator(
        user_id=SIM_USER, api_token=SIM_TOKEN, api_secret=SIM_SECRET, seed=1
    )
    sim = manager.__enter__()
    sim.numbers = NumberPool(1, size=outside)
    sim.preload(calls, events_per_call=events, live=live)
    return manager, sim


# --- child processes (ingest) -------------------------------------------------------------


def child_backfill() -> dict:
    """Backfill from the simulator into an empty database; time the database writes."""
    import django

    django.setup()
    from django.core.management import call_command

    from calls import sync
    from calls.catapult import CatapultClient
    from calls.models import Call, CallEvent

    call_command("migrate", verbosity=0, interactive=False)
    empty_tables()
    if os.environ.get("BENCH_ROLLUP_TRIGGERS") == "off":
        # The Overview's rollup triggers off: what they add to the writes is the difference.
        from django.db import connection

        from calls.analytics import triggers

        triggers.remove(connection)
    db_time = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                db_time[0] += time.perf_counter() - started

        return wrapper

    # The cycle calls the writers by the names it imported: time them there.
    from calls.sync import cycle

    cycle.upsert_calls = timed(cycle.upsert_calls)
    cycle.store_events = timed(cycle.store_events)
    client = CatapultClient.from_settings(retry=sync.sync_retry_policy())
    started = time.perf_counter()
    cycles = backfill(client)
    wall = time.perf_counter() - started
    rows = Call.objects.count() + CallEvent.objects.count()
    return {
        "wall": wall,
        "rows": rows,
        "db_time": db_time[0],
        "cycles": cycles,
        "requests": client.requests_made,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def child_fetch() -> dict:
    """The network floor: the same list pages and event lists, nothing parsed or stored."""
    import django

    django.setup()
    from calls.catapult import CatapultClient

    client = CatapultClient.from_settings()
    started = time.perf_counter()
    calls = events = 0
    for page in client.list_calls(size=1000, sort_order="desc"):
        for payload in page:
            calls += 1
            events += len(client.list_events(payload["id"]))
    return {
        "wall": time.perf_counter() - started,
        "calls": calls,
        "events": events,
        "requests": client.requests_made,
    }


def child_viewers() -> None:
    """Viewers polling the live partial every 2 s (the live part's load, own process)."""
    import requests

    url, cookie = os.environ["BENCH_URL"], os.environ["BENCH_COOKIE"]
    viewers, seconds = int(os.environ["BENCH_VIEWERS"]), float(os.environ["BENCH_SECONDS"])
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def viewer(index: int) -> None:
        session = requests.Session()
        session.cookies.set("sessionid", cookie)
        time.sleep(2.0 * index / viewers)  # spread over the polling interval
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                response = session.get(url, headers={"HX-Request": "true"}, timeout=10)
                ok = response.status_code in (200, 204) and not response.is_redirect
                problem = "" if ok else f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                elapsed = seconds - (stop_at - time.monotonic())
                problem = f"{type(exc).__name__} at {elapsed:.1f} s: {str(exc)[-160:]}"
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                if problem:
                    errors.append(problem)
            time.sleep(max(0.0, 2.0 - took))

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(viewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {"latencies": latencies, "errors": errors}
    Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(result))
    return None  # nothing on stdout: it is the benchmark's own


def run_child(kind: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=7200,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- parts --------------------------------------------------------------------------------


def part_ingest(args, workdir: Path) -> None:
    n = args.ingest_calls or max(100, int(100_000 * args.scale))
    print(f"\n[ingest] backfill of {n:,} calls, {args.events} events per answered call", flush=True)
    manager, sim = start_simulator(n, args.events, 0, args.outside_numbers)
    try:
        fetch = run_child(
            "fetch", {**base_env(workdir, args.pg_url, args.redis_url), **sim_env(sim)}
        )
        record(
            "ingest",
            "fetch-only pass (network floor)",
            f"{fetch['wall']:.1f} s, {fetch['requests']:,} requests, {fetch['events']:,} events",
        )
        targets = [
            ("PostgreSQL", args.pg_url),
            ("SQLite", f"sqlite:///{workdir / 'ingest.sqlite3'}"),
        ]
        for label, url in targets:
            res = run_child("backfill", {**base_env(workdir, url, args.redis_url), **sim_env(sim)})
            rate = res["rows"] / res["wall"]
            db_rate = res["rows"] / res["db_time"]
            ratio = res["wall"] / fetch["wall"]
            mb = res["maxrss_kb"] / 1024
            record(
                "ingest",
                f"{label} backfill wall time",
                f"{res['wall']:.1f} s, {res['rows']:,} rows, {rate:,.0f} rows/s, "
                f"{res['requests']:,} requests",
            )
            record(
                "ingest",
                f"{label} upsert path",
                f"{db_rate:,.0f} rows/s",
                ">= 10,000",
                db_rate >= 10_000,
            )
            record(
                "ingest", f"{label} backfill / fetch-only", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5
            )
            record("ingest", f"{label} worker peak RSS", f"{mb:.0f} MB", "<= 250 MB", mb <= 250)
            env = {**base_env(workdir, url, args.redis_url), **sim_env(sim)}
            bare = run_child("backfill", {**env, "BENCH_ROLLUP_TRIGGERS": "off"})
            extra = 100 * (res["db_time"] - bare["db_time"]) / bare["db_time"]
            record(
                "ingest",
                f"{label} rollup upkeep (sync write time with triggers vs without)",
                f"{bare['db_time']:.1f} s without, {res['db_time']:.1f} s with: {extra:+.1f} %",
                "<= +10 %",
                extra <= 10,
            )
    finally:
        manager.__exit__(None, None, None)


class Stored:
    """The steady/live/pages data set: a simulator and the database seeded from it."""

    manager = None
    sim = None


def ensure_stored(args) -> None:
    if Stored.sim is not None:
        return
    from django.conf import settings

    from calls.management.commands.seed_calls import seed_from_simulator

    n = max(1000, int(1_000_000 * args.scale))
    print(f"\n[data] simulator with {n:,} calls + {args.live} live; seeding PostgreSQL", flush=True)
    started = time.perf_counter()
    Stored.manager, Stored.sim = start_simulator(n, args.events, args.live, args.outside_numbers)
    print(f"  simulator preload {time.perf_counter() - started:.1f} s", flush=True)
    empty_tables()
    started = time.perf_counter()
    calls, events = seed_from_simulator(Stored.sim, jobs=os.cpu_count() or 1)
    seconds = time.perf_counter() - started
    record(
        "data",
        "seed_calls (PostgreSQL, COPY)",
        f"{calls:,} calls + {events:,} events in {seconds:.0f} s",
    )
    for name, value in sim_env(Stored.sim).items():
        setattr(settings, name, value if name != "CATAPULT_RATE_LIMIT" else 0.0)


def minimum_requests(sim, page_size: int) -> tuple[int, int, int]:
    """(list pages, event fetches, total) the data needs now: pages down to the oldest call
    that is new or changed, one event read per call that ended since it was stored (live
    calls' events are read when they end: the list carries their state)."""
    from calls.models import Call
    from catapult_sim import render

    with sim.lock:
        order = sim.store._order[::-1][: 20 * page_size]
    ids = [call_id for _, call_id in order]
    stored = {}
    for i in range(0, len(ids), 2000):
        stored.update(
            Call.objects.filter(catapult_id__in=ids[i : i + 2000]).values_list("catapult_id", "raw")
        )
    stored_live = set(
        Call.objects.filter(state__in=Call.LIVE_STATES).values_list("catapult_id", flat=True)
    )
    with sim.lock:
        changed_positions = []
        need_events = set()
        for position, call_id in enumerate(ids):
            call = sim.store.calls[call_id]
            body = render.call_json(call, sim.api_base, in_list=True)
            if stored.get(call_id) != body:
                changed_positions.append(position)
                if call.is_final:
                    need_events.add(call_id)
        # Stored live, now ended: their one events read.
        need_events |= {c for c in stored_live if sim.store.calls[c].is_final}
    pages = math.ceil((max(changed_positions) + 1) / page_size) if changed_positions else 1
    return pages, len(need_events), pages + len(need_events)


def part_steady(args) -> None:
    ensure_stored(args)
    from django.conf import settings

    from calls import sync
    from calls.catapult import CatapultClient

    sim = Stored.sim
    print("\n[steady] one sync cycle with the data set stored", flush=True)
    time.sleep(2)  # live calls move on: something changed since the seed
    pages, event_reads, minimum = minimum_requests(sim, settings.SYNC_PAGE_SIZE)
    client = CatapultClient.from_settings(retry=sync.sync_retry_policy())
    sim.reset_stats()
    cpu0, proc0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
    run = sync.run_cycle(client)
    cpu = time.thread_time() - cpu0
    proc = time.process_time() - proc0
    wall = time.perf_counter() - wall0
    ratio = run.api_requests / minimum
    record("steady", "cycle outcome", f"{run.outcome}: {run.summary()}")
    record(
        "steady",
        "API requests / minimum",
        f"{run.api_requests} / {minimum} ({pages} pages + {event_reads} event reads)"
        f" = {ratio:.2f}x",
        "<= 1.2x",
        ratio <= 1.2,
    )
    record(
        "steady",
        "cycle CPU time (sync thread)",
        f"{cpu:.2f} s (wall {wall:.2f} s; whole process incl. simulator {proc:.2f} s)",
        "< 1 s",
        cpu < 1.0,
    )


def _session_cookie(username: str, superuser: bool = False):
    from django.contrib.auth.models import User
    from django.test import Client

    from calls.roles import VIEWER, assign_role

    user = User.objects.filter(username=username).first()
    if user is None:
        if superuser:
            user = User.objects.create_superuser(username, password=None)
        else:
            user = User.objects.create_user(username, password=None)
            assign_role(user, VIEWER)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def part_live(args, workdir: Path) -> None:
    ensure_stored(args)
    import requests

    from calls import sync
    from calls.catapult import CatapultClient
    from dashboard.embedded_redis import free_port

    sim = Stored.sim
    viewers = max(2, int(args.viewers))
    seconds = args.load_seconds
    print(
        f"\n[live] {viewers} viewers polling /?state=live every 2 s for {seconds:.0f} s", flush=True
    )
    cookie = _session_cookie("bench-viewer").cookies["sessionid"].value
    port = free_port()
    env = {**base_env(workdir, args.pg_url, args.redis_url), **sim_env(sim)}
    server = subprocess.Popen(  # noqa: S603 - our own program
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "dashboard.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--keep-alive",  # longer than the 2 s poll, as bin/up's server (dashboard/stack.py)
            "10",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/?state=live"
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/login/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        sim.start_traffic(calls_per_minute=120)
        result_file = workdir / "viewers.json"  # a file, not a pipe: no size limit to block on
        # The viewers run in their own process: in this one the simulator and the sync
        # compete for the interpreter and would inflate the client-side timings.
        load = subprocess.Popen(  # noqa: S603 - our own program
            [sys.executable, __file__, "--child", "viewers"],
            env={
                **os.environ,
                "BENCH_URL": url,
                "BENCH_COOKIE": cookie,
                "BENCH_VIEWERS": str(viewers),
                "BENCH_SECONDS": str(seconds),
                "BENCH_RESULT": str(result_file),
            },
        )
        cycles = 0
        client = CatapultClient.from_settings(retry=sync.sync_retry_policy())
        while load.poll() is None:
            sync.run_cycle(client)
            cycles += 1
            time.sleep(0.5)
        if load.returncode != 0:
            raise SystemExit(f"the viewers' process failed (exit status {load.returncode})")
        result = json.loads(result_file.read_text())
        latencies, errors = result["latencies"], result["errors"]
        sim.stop_traffic()
        p50, p95 = percentiles([x * 1000 for x in latencies])
        record(
            "live",
            "live partial under load",
            f"{len(latencies)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms, {cycles} sync cycles",
            "p95 <= 100 ms",
            p95 <= 100,
        )
        record(
            "live",
            "errors",
            f"{len(errors)}" + (f" (first: {errors[0]})" if errors else ""),
            "0",
            not errors,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def _timed(client, path: str, n: int, **headers) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        response = client.get(path, **headers)
        samples.append((time.perf_counter() - began) * 1000)
        if response.status_code not in (200, 204):
            raise SystemExit(f"GET {path}: HTTP {response.status_code}")
    return percentiles(samples)


def _explain(label: str, qs) -> None:
    from django.db import connection

    text = qs.explain(analyze=True) if connection.vendor == "postgresql" else qs.explain()
    print(f"\n  EXPLAIN {label}\n    " + text.replace("\n", "\n    "), flush=True)


def _search_queries():
    """(label, query string) of the number searches the pages part measures."""
    from calls.models import Call

    sample = (
        Call.objects.exclude(to_digits="")
        .order_by("-start_time")
        .values("from_digits", "to_digits")[500]
    )
    outside = sample["from_digits"] if sample["from_digits"][4:7] == "555" else sample["to_digits"]
    return [
        ("contains", f"q={outside[-7:-1]}&match=contains"),
        ("suffix", f"q={outside[-10:]}&match=suffix"),
        ("prefix", f"q={outside[:6]}&match=prefix"),
    ]


def part_pages(args) -> None:
    ensure_stored(args)
    from datetime import timedelta

    from django.db.models import Count
    from django.http import QueryDict
    from django.utils import timezone

    from calls.filters import CallFilterForm
    from calls.models import Call, CallEvent

    n = args.requests
    print(f"\n[pages] server time in-process (Django test Client), {n} requests each", flush=True)
    client = _session_cookie("bench-viewer")
    # A call with 50 events.
    call = Call.objects.filter(state="completed").order_by("-start_time")[100]
    have = call.events.count()
    CallEvent.objects.bulk_create(
        CallEvent(
            call=call, catapult_id=f"ce-bench-{i}", name="dtmf", time=call.start_time, data="1"
        )
        for i in range(max(0, 50 - have))
    )
    day = timezone.now() - timedelta(days=3)
    span = f"start_from={day:%Y-%m-%dT%H:%M}&start_to={day + timedelta(hours=6):%Y-%m-%dT%H:%M}"
    busiest = (
        Call.objects.values("to_digits")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("to_digits", flat=True)
    )
    numbers = list(busiest)
    typical = numbers[len(numbers) // 2]  # a number of median traffic
    searches = _search_queries()
    pages = [("calls list, unfiltered", "/", {})]
    pages += [(f"calls list, number {label} ({q})", f"/?{q}", {}) for label, q in searches]
    pages += [
        ("calls list, state + date range", f"/?state=completed&{span}", {}),
        ("call detail, 50 events", f"/calls/{call.catapult_id}/", {}),
        (f"number page, median number (+{typical})", f"/numbers/+{typical}/", {}),
        (f"number page, busiest number (+{numbers[0]})", f"/numbers/+{numbers[0]}/", {}),
    ]
    for label, path, headers in pages:
        client.get(path, **headers)  # warm
        p50, p95 = _timed(client, path, n, **headers)
        record("pages", label, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", "p95 <= 50 ms", p95 <= 50)
    p50, p95 = _timed(client, "/?state=live", n, HTTP_HX_REQUEST="true")
    record(
        "pages",
        "live-calls partial (htmx)",
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
        "p95 <= 25 ms",
        p95 <= 25,
    )
    for label, q in searches + [("state + date range", f"state=completed&{span}")]:
        form = CallFilterForm(QueryDict(q))
        form.is_valid()
        _explain(label, form.filter(Call.objects.all()).order_by("-start_time", "-id")[:51])
    Stored.app_search = (searches[0][1], p95_of(client, f"/?{searches[0][1]}", n))


def p95_of(client, path: str, n: int) -> float:
    return _timed(client, path, n)[1]


def part_admin(args) -> None:
    ensure_stored(args)
    n = max(5, args.admin_requests)
    print(f"\n[admin] Django admin changelist of Call, {n} requests each", flush=True)
    client = _session_cookie("bench-admin", superuser=True)
    if not hasattr(Stored, "app_search"):
        q = _search_queries()[0][1]
        Stored.app_search = (q, p95_of(_session_cookie("bench-viewer"), f"/?{q}", n))
    q, app_p95 = Stored.app_search
    fragment = q.split("&")[0].removeprefix("q=")
    p50, p95 = _timed(client, "/admin/calls/call/", n)
    record("admin", "admin changelist, unfiltered", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    p50, p95 = _timed(client, f"/admin/calls/call/?q={fragment}", n)
    record(
        "admin",
        f"admin changelist, search {fragment}",
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"{p95 / app_p95:.1f}x the calls page's p95 ({app_p95:.1f} ms)",
    )


def print_table() -> None:
    widths = [
        max(len(r[i]) for r in RESULTS + [("part", "figure", "value", "target")]) for i in range(4)
    ]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format("part", "figure", "value", "target"))
    print(line.format(*("-" * w for w in widths)))
    for row in RESULTS:
        print(line.format(*row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("backfill", "fetch", "viewers"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiplies the data sizes (100k ingest, 1M stored)",
    )
    parser.add_argument(
        "--ingest-calls", type=int, default=0, help="ingest size (default 100k x scale)"
    )
    parser.add_argument(
        "--events",
        type=int,
        default=10,
        help="events of an answered call; unanswered ones have 2-3 (10: 8.2 per call on average)",
    )
    parser.add_argument("--live", type=int, default=200, help="live calls in the stored data set")
    parser.add_argument("--outside-numbers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page measured")
    parser.add_argument("--admin-requests", type=int, default=20)
    parser.add_argument(
        "--evaluations", type=int, default=20, help="alerts: evaluations of the 20 rules timed"
    )
    parser.add_argument(
        "--overview-sizes",
        default="1000000,10000000",
        help="overview: calls generated, comma-separated (its own calls replace the stored ones)",
    )
    parser.add_argument(
        "--requests-overview", type=int, default=40, help="overview: requests per page measured"
    )
    parser.add_argument(
        "--upkeep-batches", type=int, default=200, help="overview: write batches for the upkeep"
    )
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument(
        "--budget-scenarios",
        default="on30,on60,off30,off60",
        help="budget part: on/off (callbacks) + calls per minute, comma-separated",
    )
    parser.add_argument("--budget-seconds", type=float, default=180.0, help="budget: window")
    parser.add_argument("--budget-warmup", type=float, default=60.0, help="budget: warm-up")
    parser.add_argument(
        "--budget-drain",
        type=float,
        default=60.0,
        help="budget: after the window, how long its changes may still reach the database",
    )
    parser.add_argument("--budget-preload", type=int, default=50, help="budget: history calls")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()

    if args.child:
        children = {"backfill": child_backfill, "fetch": child_fetch, "viewers": child_viewers}
        result = children[args.child]()
        if result is not None:
            print(json.dumps(result))
        return

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    # The budget and push parts run servers of their own, on SQLite.
    if set(parts) - {"budget", "push"}:
        ensure_postgres_database(args.pg_url)
        os.environ.update(base_env(workdir, args.pg_url, args.redis_url))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    try:
        if "ingest" in parts:
            part_ingest(args, workdir)
        if "steady" in parts:
            part_steady(args)
        if "live" in parts:
            part_live(args, workdir)
        if "pages" in parts:
            part_pages(args)
        if "admin" in parts:
            part_admin(args)
        if "alerts" in parts:
            ensure_stored(args)  # the pages' data set: alert rules read the same calls
            part_alerts(args, record)
        if "budget" in parts:
            part_budget(args, workdir, record)
        if "push" in parts:
            # Its own process: a Django setup of its own (SQLite), and the figures of its
            # own table (bench/push.py --help has its options).
            scale = ["--scale", str(args.scale)] if args.scale != 1 else []
            subprocess.run([sys.executable, str(ROOT / "bench" / "push.py"), *scale], check=False)
        if "overview" in parts:
            # Last: it replaces the stored calls with generated ones of its own sizes.
            part_overview(args, record)
    finally:
        if Stored.manager is not None:
            Stored.manager.__exit__(None, None, None)
    print_table()


if __name__ == "__main__":
    main()
