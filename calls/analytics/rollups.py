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

from django.db.models import Count, DateTimeField, Func, QuerySet, Sum
from django.db.models.functions import Coalesce

from calls.models import CallRollup

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
    grouped = (
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
    return [Row(*values) for values in grouped]


def from_rollups(start: datetime, end: datetime, direction: str = "") -> list[Row]:
    """Rows of whole quarter hours in [start, end) (both on a quarter hour)."""
    qs = CallRollup.objects.filter(bucket__gte=start, bucket__lt=end).exclude(calls=0)
    if direction:
        qs = qs.filter(direction=direction)
    fields = ("bucket", "direction", "state", "hangup_cause", "calls", "answered", "timed")
    return [
        Row(*values) for values in qs.values_list(*fields, "talk_seconds", "chargeable_seconds")
    ]


def rows(
    calls: QuerySet, start: datetime, end: datetime, *, direction: str = "", exact_sql: bool
) -> list[Row]:
    """Rows of the calls started in [start, end).

    `calls` is the calls list's filtered queryset (range included); `exact_sql` says it
    holds filters the rollups cannot apply, so everything is counted from it.
    """
    if exact_sql:
        return from_calls(calls)
    inner_start, inner_end = ceil_quarter(start), floor_quarter(end)
    if inner_start >= inner_end:  # shorter than a whole quarter hour
        return from_calls(calls)
    edges = calls.filter(start_time__lt=inner_start) | calls.filter(start_time__gte=inner_end)
    return from_rollups(inner_start, inner_end, direction) + from_calls(edges)


def earliest() -> datetime | None:
    """The quarter hour of the oldest call counted (an "any time" range starts there)."""
    row = CallRollup.objects.exclude(calls=0).order_by("bucket").values_list("bucket").first()
    return row[0] if row else None
