"""Peak concurrent calls per quarter hour: exact, computed once per closed quarter hour.

A peak does not add up the way counts do (the peak of an hour is not the sum of anything),
so it is computed from the calls themselves: a sweep over the start and end of every call
live during the span. A closed quarter hour's peak is cached in ConcurrencyPeak; the
rollup triggers delete the cached slots a changed call covers, so a figure read from the
cache is the figure a sweep would give now. The quarter hour in progress is always swept.

A call is live from its start time to its end time (to now while its state is live); a
final call without an end time was never live. Calls are looked for up to LOOKBACK
before a span, plus every call still live however old (a stuck call counts all along).
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

import redis
from django.db import connection
from django.db.models import Q

from calls.analytics.rollups import QUARTER, ceil_quarter, floor_quarter
from calls.locks import redis_client
from calls.models import Call, ConcurrencyPeak

# How far before a span calls are looked for (through the start-time index). A call that
# lasted longer and has ended counts in the quarter hours of its last LOOKBACK only; one
# still live counts all along (the live-states index finds it however old).
LOOKBACK = timedelta(hours=6)
# The quarter hour in progress is swept again at most this often (one sweep per viewer
# request would read LOOKBACK of calls each time): its peak may lag by this much.
OPEN_SLOT_TTL = 30


# A request sweeps at most this much of the calls for peaks not cached yet (newest first):
# a cold 30-day range at 10M calls is millions of rows. The rest is filled by the warm-up
# task (every few minutes, WARM_DAYS back) and shown as "not computed yet" meanwhile.
REQUEST_SWEEP = timedelta(days=2)
CHUNK = timedelta(days=1)  # one sweep's span: bounds the rows held at once
WARM_DAYS = 31


def peaks(
    start: datetime, end: datetime, now: datetime, *, budget: timedelta = REQUEST_SWEEP
) -> dict[datetime, int]:
    """The peak of the quarter hours that meet [start, end), keyed by their start (UTC):
    cached ones, plus up to `budget` of missing ones swept now (the newest). Slots left
    out are not computed yet."""
    first, values = peak_list(start, end, now, budget=budget)
    return {first + QUARTER * k: peak for k, peak in enumerate(values) if peak is not None}


def peak_list(
    start: datetime, end: datetime, now: datetime, *, budget: timedelta = REQUEST_SWEEP
) -> tuple[datetime, list[int | None]]:
    """peaks() as (the first quarter hour, the peak of each quarter hour from there on,
    None where not computed yet): a month is 2,880 of them, and numbered slots cost a
    fraction of aware datetimes as dict keys."""
    first, stop = floor_quarter(start), ceil_quarter(min(end, now))
    count = max(0, int((stop - first) / QUARTER))
    values: list[int | None] = [None] * count
    for k, peak in _cached(first, stop):
        values[k] = peak
    allowed = int(budget / QUARTER)
    missing = [k for k in range(count) if values[k] is None]
    todo = missing[-allowed:] if allowed else []
    closed_before = floor_quarter(now)
    open_k = int((closed_before - first) / QUARTER)
    if todo and todo[-1] == open_k:  # the quarter hour in progress
        cached = _open_peak(closed_before)
        if cached is not None:
            todo.pop()
            values[open_k] = cached
    while todo:
        # Contiguous runs of at most CHUNK, so one sweep holds a day of calls at most.
        run = [todo.pop(0)]
        while todo and todo[0] == run[-1] + 1 and (run[-1] + 1 - run[0]) * QUARTER < CHUNK:
            run.append(todo.pop(0))
        run_start = first + QUARTER * run[0]
        swept = sweep(run_start, first + QUARTER * (run[-1] + 1), now)
        stored = []
        for k in run:
            slot = first + QUARTER * k
            values[k] = swept[slot]
            if k < open_k:
                stored.append(ConcurrencyPeak(slot=slot, peak=swept[slot]))
        # ignore_conflicts: another viewer cached the same slots meanwhile.
        ConcurrencyPeak.objects.bulk_create(stored, ignore_conflicts=True)
        if run[-1] == open_k:
            _open_peak(closed_before, values[open_k])
    return first, values


def _cached(first: datetime, stop: datetime) -> list[tuple[int, int]]:
    """The cached peaks of [first, stop) as (quarter hours after `first`, peak): on
    PostgreSQL numbered by the database, so no timestamp reaches Python."""
    if connection.vendor != "postgresql":
        cached = ConcurrencyPeak.objects.filter(slot__gte=first, slot__lt=stop)
        return [
            (int((slot - first) / QUARTER), peak)
            for slot, peak in cached.values_list("slot", "peak")
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (EXTRACT(EPOCH FROM slot - %s) / 900)::int, peak "
            "FROM calls_concurrencypeak WHERE slot >= %s AND slot < %s",
            [first, first, stop],
        )
        return cursor.fetchall()


def _open_peak(slot: datetime, value: int | None = None) -> int | None:
    """The in-progress quarter hour's peak, shared by every process for OPEN_SLOT_TTL s
    (Redis). Without Redis each request sweeps it."""
    key = f"overview:open-peak:{slot:%Y%m%d%H%M}"
    try:
        client = redis_client()
        if value is None:
            cached = client.get(key)
            return int(cached) if cached is not None else None
        client.set(key, value, ex=OPEN_SLOT_TTL)
    except (redis.RedisError, ValueError):
        return None
    return value


def warm(now: datetime, days: int = WARM_DAYS, budget: timedelta = timedelta(days=7)) -> int:
    """Compute missing peaks of the last `days`, up to `budget` of them per run (newest
    first). Returns the quarter hours computed."""
    start = now - timedelta(days=days)
    before = ConcurrencyPeak.objects.filter(slot__gte=start).count()
    peaks(start, now, now, budget=budget)
    return ConcurrencyPeak.objects.filter(slot__gte=start).count() - before


def sweep(start: datetime, end: datetime, now: datetime) -> dict[datetime, int]:
    """Peak concurrency of each quarter hour in [start, end) (quarter-hour aligned)."""
    live = Q(state__in=Call.LIVE_STATES)
    overlapping = Call.objects.filter(
        Q(start_time__gte=start - LOOKBACK, start_time__lt=end)
        & (Q(end_time__gt=start) | (Q(end_time__isnull=True) & live))
    ) | Call.objects.filter(live, start_time__lt=start - LOOKBACK)
    intervals = []
    for begin, finish, state in overlapping.values_list("start_time", "end_time", "state"):
        if finish is None:
            finish = now if state in Call.LIVE_STATES else begin
        if finish > begin:
            intervals.append((begin, finish))
    intervals.sort()
    result = {}
    ends: list[datetime] = []  # end times of the calls live at the sweep's position
    index = 0
    slot = start
    while slot < end:
        slot_end = slot + QUARTER
        # Calls that started before the slot: those still live at its start count.
        while index < len(intervals) and intervals[index][0] < slot:
            heapq.heappush(ends, intervals[index][1])
            index += 1
        while ends and ends[0] <= slot:
            heapq.heappop(ends)
        best = len(ends)
        while index < len(intervals) and intervals[index][0] < slot_end:
            begin, finish = intervals[index]
            heapq.heappush(ends, finish)
            index += 1
            while ends and ends[0] <= begin:  # ended before this one began
                heapq.heappop(ends)
            best = max(best, len(ends))
        result[slot] = best
        slot = slot_end
    return result
