"""Counts of calls per quarter hour, from the rollups where they answer exactly, from the
calls themselves where they do not.

The rollups hold calls per (quarter hour of start, direction, state, hangup cause). A
range and a direction are all they can filter by; a number, a tag or any other filter of
the calls list is counted from the calls (through the same indexes the list uses). A range
that does not start or end on a quarter hour ("last 24 hours") takes its whole quarter
hours from the rollups and its two partial edges from the calls: exact, and cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Count, DateTimeField, Func, QuerySet, Sum
from django.db.models.functions import Coalesce

from calls.models import CallRollup, KeyedRollup

QUARTER = timedelta(minutes=15)
_EPOCH = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # date_bin's origin: any quarter hour


@dataclass(frozen=True)
class Row:
    """Calls of one quarter hour, direction, state and cause."""

    bucket: datetime
    direction: str
    state: str
    cause: str
    calls: int
    answered: int
    timed: int
    talk: int
    charge: int


class QuarterHour(Func):
    """A time rounded down to its quarter hour in UTC, as the rollup triggers do."""

    output_field = DateTimeField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template=f"date_bin('15 minutes', %(expressions)s, {_EPOCH})",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        text = (
            f"(substr({sql}, 1, 14) || printf('%%02d', (CAST(substr({sql}, 15, 2) AS INTEGER)"
            " / 15) * 15) || ':00')"
        )
        return text, params * 2


def floor_quarter(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def ceil_quarter(moment: datetime) -> datetime:
    low = floor_quarter(moment)
    return low if low == moment else low + QUARTER


def from_calls(qs: QuerySet) -> list[Row]:
    """Rows counted from a queryset of calls (any filters), grouped by quarter hour."""
    return [Row(*values) for values in _by_quarter(qs)]


# A condition on calls_call, compiled once: SQL and its parameters.
Where = tuple[str, list]


def where_of(calls: QuerySet) -> Where:
    """The filters of a queryset of calls as one SQL condition, for the plain queries
    below: compiled once per page, however many ranges it is then cut to (the ORM spent
    longer building a union per range than the database took to run it)."""
    query = calls.query
    compiler = query.get_compiler(connection=connection)
    try:
        sql, params = compiler.compile(query.where)
    except EmptyResultSet:  # e.g. a tag filter that matches no tag
        return "1 = 0", []
    except FullResultSet:
        return "1 = 1", []
    return sql or "1 = 1", list(params)


def plain_from_calls(
    ranges: list[tuple[datetime, datetime]] | list[tuple[datetime, datetime, Where | None]],
    direction: str = "",
) -> list[Row]:
    """Rows of the calls in each range of one direction (or both), grouped by quarter
    hour, in one query (UNION ALL): a range's two partial edges are two narrow index
    ranges, and one round trip. A range may carry its own condition (`where_of`), which
    then stands for the direction too."""
    if not ranges:
        return []
    from calls.analytics.triggers import quarter_hour_sql

    # The SQL goes through the driver's parameter formatting: a literal % doubles.
    bucket = quarter_hour_sql(connection.vendor, "start_time").replace("%", "%%")
    rows = _count_calls(
        [
            (bucket, start, end, condition[0] if condition else None)
            for start, end, *condition in ranges
        ],
        direction,
    )
    if connection.vendor == "sqlite":  # SQLite gives the bucket back as text
        convert, field = connection.ops.convert_datetimefield_value, DateTimeField()
        rows = [(convert(row[0], None, field), *row[1:]) for row in rows]
    return [Row(*row) for row in rows]


def _count_calls(
    parts: list[tuple[str, datetime, datetime, Where | None]], direction: str
) -> list[tuple]:
    """Calls counted by (label, direction, state, cause), in one query: each part is a
    label (SQL: a quarter hour, a window's number), a range of start times, and a
    condition (which holds the direction) or None (the calls of `direction`)."""
    adapt = connection.ops.adapt_datetimefield_value
    selects, params = [], []
    for label, start, end, condition in parts:
        where = "start_time >= %s AND start_time < %s"
        params += [adapt(start), adapt(end)]
        if condition is not None:
            where += f" AND ({condition[0]})"
            params += condition[1]
        elif direction:
            where += " AND direction = %s"
            params.append(direction)
        selects.append(
            f"SELECT {label} AS k, direction, state, hangup_cause, active_time, duration, "  # noqa: S608
            f"chargeable_duration FROM calls_call WHERE {where}"
        )
    sql = (
        "SELECT k, direction, state, hangup_cause, COUNT(*), COUNT(active_time), "  # noqa: S608
        "COUNT(duration), COALESCE(SUM(duration), 0), COALESCE(SUM(chargeable_duration), 0) "
        "FROM (" + " UNION ALL ".join(selects) + ") AS c GROUP BY k, direction, state, hangup_cause"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _by_quarter(qs: QuerySet) -> QuerySet:
    return (
        qs.order_by()
        .annotate(b=QuarterHour("start_time"))
        .values_list("b", "direction", "state", "hangup_cause")
        .annotate(
            n=Count("id"),
            a=Count("active_time"),
            t=Count("duration"),
            talk=Coalesce(Sum("duration"), 0),
            charge=Coalesce(Sum("chargeable_duration"), 0),
        )
    )


# The UTC instant the viewer's local hour starts, for a rollup row (PostgreSQL): the
# repeated hour of a DST change stays two hours. Every bar and heatmap cell is a set of
# whole local hours, so rows keyed this way land where their quarter hours would.
_PG_LOCAL_HOUR = "bucket - make_interval(mins => EXTRACT(MINUTE FROM bucket AT TIME ZONE %s)::int)"


# Which rollups to read: None for CallRollup (every call), or (kind, keys) for the
# KeyedRollup rows of those keys (calls/analytics/keyed.py).
Keyed = tuple[str, list[str]] | None


def _source(keyed: Keyed) -> QuerySet:
    if keyed is None:
        return CallRollup.objects.all()
    kind, keys = keyed
    return KeyedRollup.objects.filter(kind=kind, key__in=keys)


def from_rollups(
    start: datetime,
    end: datetime,
    direction: str = "",
    *,
    group: str = "",
    keyed: Keyed = None,
) -> list[Row]:
    """Rows of whole quarter hours in [start, end) (both on a quarter hour); with
    group="total", summed in the database by direction, state and cause (a window's
    totals, keyed by its first quarter hour)."""
    qs = _source(keyed).filter(bucket__gte=start, bucket__lt=end).exclude(calls=0)
    if direction:
        qs = qs.filter(direction=direction)
    if group == "total":
        totals = qs.values("direction", "state", "hangup_cause").annotate(
            n=Sum("calls"),
            a=Sum("answered"),
            t=Sum("timed"),
            talk=Sum("talk_seconds"),
            charge=Sum("chargeable_seconds"),
        )
        return [
            Row(
                start,
                i["direction"],
                i["state"],
                i["hangup_cause"],
                i["n"],
                i["a"],
                i["t"],
                i["talk"],
                i["charge"],
            )
            for i in totals.order_by()
        ]
    fields = ("bucket", "direction", "state", "hangup_cause", "calls", "answered", "timed")
    return [
        Row(*values) for values in qs.values_list(*fields, "talk_seconds", "chargeable_seconds")
    ]


# Summed as float8: PostgreSQL sums a bigint in numeric, at several times the cost, and
# a double holds every integer up to 2^53 exactly. Back as bigint: plain ints in Python.
_SUMS = ", ".join(
    f"SUM({c}::float8)::bigint"
    for c in ("calls", "answered", "timed", "talk_seconds", "chargeable_seconds")
)


def hour_minute(zone: str, start: datetime, end: datetime) -> int | None:
    """The minute past a UTC hour at which the zone's local hours start, if it is the
    same all through [start, end] (0 for most zones, 30 for India's, 45 for Nepal's);
    None if it changes (Lord Howe Island moves its clocks by half an hour). The offset is
    read at each local day's start: no zone keeps an offset for less than a day."""
    tz = ZoneInfo(zone)
    minutes = set()
    moment = start
    while True:
        offset = moment.astimezone(tz).utcoffset() or timedelta(0)
        minutes.add(int(offset.total_seconds() // 60) % 60)
        if moment >= end or len(minutes) > 1:
            break
        moment = min(moment + timedelta(days=1), end)
    return minutes.pop() if len(minutes) == 1 else None


def from_rollups_split(
    start: datetime, end: datetime, direction: str = "", *, zone: str = "UTC", keyed: Keyed = None
) -> tuple[list[Row], list[Row]]:
    """Whole quarter hours of [start, end) for the overview's range, as two lists:

    - by direction, state and cause (the range's totals, causes and directions);
    - by the viewer's local hour and state (the bars and the heatmap: an hour is the
      finest either groups by, and its key lands in the right bar or cell).

    PostgreSQL answers both in one pass over the rollups (GROUPING SETS); elsewhere the
    quarter-hour rows serve both as they are.
    """
    if keyed is not None and not keyed[1]:
        return [], []  # no key matches: nothing to read
    if connection.vendor != "postgresql":
        rows = from_rollups(start, end, direction, keyed=keyed)
        return rows, rows
    table = "calls_callrollup" if keyed is None else "calls_keyedrollup"
    where = "bucket >= %s AND bucket < %s AND calls <> 0"
    minute = hour_minute(zone, start, end)
    if minute is None:  # the zone's hours start at different minutes in the range
        key_sql, params = _PG_LOCAL_HOUR, [zone, start, end]
    else:
        # Every local hour of the range starts `minute` past a UTC hour: plain arithmetic
        # instead of a time zone conversion per row (a month is 19,000 rows).
        key_sql = "date_bin('1 hour', bucket, %s)"
        params = [datetime(2000, 1, 1, 0, minute, tzinfo=UTC), start, end]
    if keyed is not None:
        where += " AND kind = %s AND key = ANY(%s)"
        params += [keyed[0], list(keyed[1])]
    if direction:
        where += " AND direction = %s"
        params.append(direction)
    sql = (
        f"SELECT GROUPING(k), k, direction, state, hangup_cause, {_SUMS} FROM ("  # noqa: S608
        f"SELECT {key_sql} AS k, * FROM {table} WHERE {where}) AS r "
        "GROUP BY GROUPING SETS ((k, state), (direction, state, hangup_cause))"
    )
    totals: list[Row] = []
    hours: list[Row] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for by_total, key, way, state, cause, n, a, t, talk, charge in cursor.fetchall():
            if by_total:  # k not grouped: a (direction, state, cause) row
                totals.append(Row(start, way, state, cause, n, a, t, talk, charge))
            else:
                hours.append(Row(key, "", state, "", n, a, t, talk, charge))
    return totals, hours


def windows_totals(
    windows: list[tuple[datetime, datetime]],
    direction: str,
    *,
    calls: Where | None = None,
    exact: bool = False,
    keyed: Keyed = None,
    also: Where | None = None,
) -> list[list[Row]]:
    """Rows by direction, state and cause of each window (the overview's comparisons):
    whole quarter hours from the rollups (unless `exact`: a filter only the calls can
    apply), the rest from the calls: those `calls` selects (a condition from `where_of`,
    not cut to a window), or without it the calls of `direction`. With `keyed`, the
    whole quarter hours come from those KeyedRollup rows, plus the calls of `also`
    (those the keys do not count).

    One query for the rollups and one for the calls, however many windows."""
    rolled: list[tuple[int, datetime, datetime]] = []
    counted: list[tuple[int, Where | None, datetime, datetime]] = []
    for i, (start, end) in enumerate(windows):
        inner = None if exact else split(start, end)
        if inner is None:
            counted.append((i, calls, start, end))
            continue
        if keyed is None or keyed[1]:
            rolled.append((i, *inner))
        if start < inner[0]:
            counted.append((i, calls, start, inner[0]))
        if inner[1] < end:
            counted.append((i, calls, inner[1], end))
        if also is not None:
            counted.append((i, also, *inner))
    result: list[list[Row]] = [[] for _ in windows]
    found = _rollup_windows(rolled, direction, keyed) + _calls_windows(counted, direction)
    for w, way, state, cause, n, a, t, talk, charge in found:
        result[w].append(Row(windows[w][0], way, state, cause, n, a, t, talk, charge))
    return result


def _rollup_windows(
    windows: list[tuple[int, datetime, datetime]], direction: str, keyed: Keyed
) -> list[tuple]:
    if not windows:
        return []
    adapt = connection.ops.adapt_datetimefield_value
    table = "calls_callrollup" if keyed is None else "calls_keyedrollup"
    parts, params = [], []
    for w, start, end in windows:
        where = "bucket >= %s AND bucket < %s AND calls <> 0"
        params += [adapt(start), adapt(end)]
        if direction:
            where += " AND direction = %s"
            params.append(direction)
        if keyed is not None:
            where += f" AND kind = %s AND key IN ({', '.join(['%s'] * len(keyed[1]))})"
            params += [keyed[0], *keyed[1]]
        parts.append(
            f"SELECT {int(w)} AS w, direction, state, hangup_cause, calls, answered, timed, "  # noqa: S608
            f"talk_seconds, chargeable_seconds FROM {table} WHERE {where}"
        )
    sums = ", ".join(
        f"CAST(SUM({c}) AS BIGINT)"
        for c in ("calls", "answered", "timed", "talk_seconds", "chargeable_seconds")
    )
    sql = (
        f"SELECT w, direction, state, hangup_cause, {sums} FROM ("  # noqa: S608
        + " UNION ALL ".join(parts)
        + ") AS r GROUP BY w, direction, state, hangup_cause"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _calls_windows(
    parts: list[tuple[int, Where | None, datetime, datetime]], direction: str
) -> list[tuple]:
    if not parts:
        return []
    return _count_calls(
        [(str(int(w)), start, end, where) for w, where, start, end in parts], direction
    )


def split(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole quarter hours inside [start, end), or None when there are none."""
    inner_start, inner_end = ceil_quarter(start), floor_quarter(end)
    return (inner_start, inner_end) if inner_start < inner_end else None


def edges(calls: QuerySet, start: datetime, end: datetime) -> list[QuerySet]:
    """The calls of [start, end) outside its whole quarter hours (its partial edges), as
    one narrow range per edge: an OR of the two would scan the whole range."""
    inner = split(start, end)
    if inner is None:
        return [calls]
    parts = []
    if start < inner[0]:
        parts.append(calls.filter(start_time__lt=inner[0]))
    if inner[1] < end:
        parts.append(calls.filter(start_time__gte=inner[1]))
    return parts


def window(
    calls: QuerySet, start: datetime, end: datetime, direction: str = "", group: str = ""
) -> list[Row]:
    """Rows of `calls` (already cut to [start, end) and to `direction`, nothing else): the
    whole quarter hours from the rollups, the partial edges from the calls."""
    inner = split(start, end)
    if inner is None:
        return from_calls(calls)
    found = from_rollups(*inner, direction, group=group)
    for part in edges(calls, start, end):
        found += from_calls(part)
    return found


def earliest() -> datetime | None:
    """The quarter hour of the oldest call counted (an "any time" range starts there)."""
    row = CallRollup.objects.exclude(calls=0).order_by("bucket").values_list("bucket").first()
    return row[0] if row else None
