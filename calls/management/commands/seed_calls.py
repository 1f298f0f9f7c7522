"""Fill the database with simulated call history, fast: the data set of the benchmarks.

    python manage.py seed_calls --calls 1000000 --events-per-call 10 --live 200

The calls come from the Catapult simulator's own history generator (numbers recur as in
real traffic) and go through the same payload parsing as the sync, so every row is what a
sync of that account would have written: digits and reversed digits, `raw`, events
already read (`events_pending` false) for finished calls, still pending for live ones.
A successful SyncRun records the newest start time, so the next cycle walks only what
changed since.

PostgreSQL: rows are streamed with COPY, and the secondary indexes of the two tables are
dropped first and built once at the end (much faster than maintaining them row by row).
SQLite: batched bulk inserts.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from calls.models import Call, CallEvent, SyncRun
from calls.sync.payloads import call_fields, event_fields

BATCH = 5000  # calls per batch (and their events)

CALL_COLUMNS = [f.column for f in Call._meta.concrete_fields if f.name not in ("hangup_cause",)] + [
    "hangup_cause"
]
EVENT_COLUMNS = [
    "call_id",
    "catapult_id",
    "name",
    "time",
    "data",
    "data_json",
    "source",
    "received_at",
    "oddity",
]


def build_simulator(seed: int | str, calls: int, events_per_call: int, live: int, outside: int):
    """A simulator (not serving HTTP) holding `calls` finished calls plus `live` live ones."""
    from catapult_sim.numbers import NumberPool
    from catapult_sim.simulator import Simulator

    sim = Simulator(seed=seed)
    sim.numbers = NumberPool(seed, size=outside)
    sim.preload(calls, events_per_call=events_per_call, live=live)
    return sim


_FORKED_SIM = None  # the simulator a forked worker reads (a copy-on-write snapshot)


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_JSONB = {"raw", "sip_headers", "data_json", "oddities"}


def _copy_value(column: str, value) -> str:
    if value is None:
        return "\\N"
    if column in _JSONB:
        return json.dumps(value).translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_lines(rows, first_pk: int, now: datetime) -> tuple[bytes, bytes]:
    """COPY text of a batch of calls and of their events, ids from first_pk on."""
    calls, events = [], []
    for offset, (fields, event_rows, cause) in enumerate(rows):
        pk = first_pk + offset
        values = _call_values(pk, fields, cause, now)
        calls.append("\t".join(_copy_value(c, values[c]) for c in CALL_COLUMNS))
        for e in event_rows:
            values = {"source": "api", "received_at": None, **e, "call_id": pk}
            events.append("\t".join(_copy_value(c, values[c]) for c in EVENT_COLUMNS))
    return ("\n".join(calls) + "\n").encode(), ("\n".join(events) + "\n").encode()


def _copy_batch(task: tuple[int, int, int, datetime]) -> tuple[int, int, bytes, bytes]:
    start, end, first_pk, now = task
    rows = _rows_of((start, end))
    calls, events = _copy_lines(rows, first_pk, now)
    return len(rows), sum(len(r[1]) for r in rows), calls, events


def _rows_of(bounds: tuple[int, int]) -> list[tuple[dict, list[dict], str]]:
    from catapult_sim import render

    sim = _FORKED_SIM
    base = sim.api_base
    out = []
    for c in _FORKED_CALLS[bounds[0] : bounds[1]]:
        fields = call_fields(render.call_json(c, base, in_list=True))
        events = [event_fields(render.event_json(e)) for e in sim.call_events(c)]
        hangups = sorted((e for e in events if e["name"] == "hangup"), key=lambda e: e["time"])
        cause = hangups[-1]["data"][:64] if hangups else ""
        out.append((fields, events, cause))
    return out


_FORKED_CALLS: list = []


def simulator_rows(sim, batch: int = BATCH, jobs: int = 1) -> Iterator[list]:
    """Batches of (call fields, event fields, hangup cause), as the sync would parse them.

    With jobs > 1 the rows are built in forked processes (the simulator's data is
    inherited, not copied) while this process writes.
    """
    global _FORKED_SIM, _FORKED_CALLS
    with sim.lock:
        _FORKED_SIM, _FORKED_CALLS = sim, list(sim.store.calls.values())
    bounds = [(i, i + batch) for i in range(0, len(_FORKED_CALLS), batch)]
    try:
        if jobs <= 1:
            for b in bounds:
                with sim.lock:
                    rows = _rows_of(b)
                yield rows
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs) as pool:
            yield from pool.imap(_rows_of, bounds)
    finally:
        _FORKED_SIM, _FORKED_CALLS = None, []


def _call_values(pk: int, fields: dict, cause: str, now) -> dict:
    live = fields["state"] in Call.LIVE_STATES
    return {
        **fields,
        "id": pk,
        "first_seen_at": now,
        "synced_at": now,
        "events_pending": live,
        "events_synced_at": now,
        "events_due_at": None,
        "state_changed_at": now,
        "has_recording": fields["recording_enabled"],
        "hangup_cause": cause,
    }


def _next_pk() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM calls_call")
        return cursor.fetchone()[0] + 1


def _write_bulk(batches, next_pk, progress) -> tuple[int, int]:
    n_calls = n_events = 0
    now = timezone.now()
    for batch in batches:
        calls, events = [], []
        for fields, event_rows, cause in batch:
            calls.append(Call(**_call_values(next_pk, fields, cause, now)))
            events.extend(CallEvent(call_id=next_pk, **e) for e in event_rows)
            next_pk += 1
        with transaction.atomic():
            Call.objects.bulk_create(calls, batch_size=500)
            CallEvent.objects.bulk_create(events, batch_size=2000)
        n_calls += len(calls)
        n_events += len(events)
        if progress:
            progress(n_calls, n_events)
    return n_calls, n_events


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of a table's indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND i.schemaname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [table],
    )
    return list(cursor.fetchall())


def _write_postgresql(sim, jobs: int, progress) -> tuple[int, int]:
    global _FORKED_SIM, _FORKED_CALLS
    n_calls = n_events = 0
    now = timezone.now()
    first_pk = _next_pk()
    with sim.lock:
        _FORKED_SIM, _FORKED_CALLS = sim, list(sim.store.calls.values())
    tasks = [(i, i + BATCH, first_pk + i, now) for i in range(0, len(_FORKED_CALLS), BATCH)]
    call_sql = f"COPY calls_call ({', '.join(CALL_COLUMNS)}) FROM STDIN"
    event_sql = f"COPY calls_callevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    with connection.cursor() as cursor:
        indexes = _secondary_indexes(cursor, "calls_call") + _secondary_indexes(
            cursor, "calls_callevent"
        )
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        try:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            results = pool.imap(_copy_batch, tasks) if pool else map(_copy_batch, tasks)
            for calls, events, call_text, event_text in results:
                with transaction.atomic():
                    with raw.copy(call_sql) as copy:
                        copy.write(call_text)
                    with raw.copy(event_sql) as copy:
                        copy.write(event_text)
                n_calls += calls
                n_events += events
                if progress:
                    progress(n_calls, n_events)
        finally:
            if pool:
                pool.terminate()
            _FORKED_SIM, _FORKED_CALLS = None, []
            cursor.execute("SET maintenance_work_mem = '1GB'")
            for _, definition in indexes:
                cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            cursor.execute("RESET maintenance_work_mem")
        for table in ("calls_call", "calls_callevent"):
            query = (
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
            cursor.execute(query)
            # VACUUM too, not only ANALYZE: it sets the visibility map (index-only scans)
            # and leaves autovacuum nothing to do on millions of new rows in the next
            # minutes, when the data set is being used (and measured).
            if connection.get_autocommit() and not connection.in_atomic_block:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
            else:
                cursor.execute(f"ANALYZE {table}")
    return n_calls, n_events


def record_watermark() -> None:
    """A successful SyncRun at the newest stored call: the next cycle starts from here."""
    newest = Call.objects.order_by("-start_time").values_list("start_time", flat=True).first()
    now = timezone.now()
    SyncRun.objects.create(
        started_at=now,
        finished_at=now,
        outcome=SyncRun.Outcome.SUCCESS,
        newest_start_time=newest,
    )


def seed_from_simulator(sim, *, jobs: int = 1, progress=None) -> tuple[int, int]:
    """Store every call of `sim` (and its events), then record the sync watermark."""
    if connection.vendor == "postgresql":
        counts = _write_postgresql(sim, jobs, progress)
    else:
        counts = _write_bulk(simulator_rows(sim, jobs=jobs), _next_pk(), progress)
    record_watermark()
    return counts


class Command(BaseCommand):
    help = "Fill the database with simulated calls and events (bulk inserts; for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=100_000, help="finished calls")
        parser.add_argument(
            "--events-per-call",
            type=int,
            default=10,
            help="events of an answered call; unanswered ones have 2-3 (10: 8.2 on average)",
        )
        parser.add_argument("--live", type=int, default=0, help="calls still in progress")
        parser.add_argument("--seed", default="1", help="simulator seed (same seed, same data)")
        parser.add_argument(
            "--outside-numbers",
            type=int,
            default=1000,
            help="size of the pool of outside parties (Zipf-weighted, so numbers recur)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            help="processes building rows while this one writes",
        )
        parser.add_argument("--append", action="store_true", help="add to the calls already stored")

    def handle(self, *args, **options):
        if options["calls"] < 0 or options["live"] < 0 or options["events_per_call"] < 1:
            raise CommandError("--calls and --live must be >= 0, --events-per-call >= 1")
        if not options["append"] and Call.objects.exists():
            raise CommandError("Calls are already stored: use --append, or an empty database")
        started = time.perf_counter()
        sim = build_simulator(
            options["seed"],
            options["calls"],
            options["events_per_call"],
            options["live"],
            options["outside_numbers"],
        )
        generated = time.perf_counter() - started
        self.stdout.write(f"Simulated {len(sim.store):,} calls in {generated:.1f} s")
        step = max(BATCH, (options["calls"] // 10) // BATCH * BATCH)

        def progress(calls: int, events: int) -> None:
            if calls % step == 0:
                elapsed = time.perf_counter() - started
                self.stdout.write(f"  {calls:,} calls, {events:,} events ({elapsed:.0f} s)")

        calls, events = seed_from_simulator(sim, jobs=options["jobs"], progress=progress)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Seeded {calls:,} calls and {events:,} events in {elapsed:.1f} s "
            f"({(calls + events) / max(elapsed, 1e-9):,.0f} rows/s)"
        )
