"""The overview's figures: plain functions from filters and a range to numbers.

Everything is counted in quarter hours (UTC) and then grouped into the viewer's local
hours, days and hours of the week, so a time zone's DST change moves nothing between
groups that should not move.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property, reduce
from operator import or_

from django.db import connection
from django.db.models import Count, Q, QuerySet

from calls.analytics import concurrency, keyed, rollups
from calls.analytics.rollups import QUARTER, Row
from calls.filters import CallFilterForm, outcome_of
from calls.models import Call

# A range up to this long is charted per hour; longer ones per day.
HOURLY_UP_TO = timedelta(hours=48)
DEFAULT_PERIOD = "7d"
MAX_RANGE = timedelta(days=400)
# Top callers and callees are counted over at most this many calls of the range (the
# newest): an account's whole month is millions of rows to group for a top ten.
TOP_WINDOW = 10_000
TOP_SHOWN = 10


@dataclass
class Totals:
    calls: int = 0
    answered: int = 0
    timed: int = 0
    talk: int = 0
    charge: int = 0
    failed: int = 0
    rejected: int = 0
    by_outcome: Counter = field(default_factory=Counter)
    by_cause: Counter = field(default_factory=Counter)
    by_direction: Counter = field(default_factory=Counter)

    def add(self, row: Row) -> None:
        self.calls += row.calls
        self.answered += row.answered
        self.timed += row.timed
        self.talk += row.talk
        self.charge += row.charge
        if row.state == "error":
            self.failed += row.calls
        elif row.state == "rejected":
            self.rejected += row.calls
        for outcome, n in split_outcomes(row):
            self.by_outcome[outcome] += n
        if row.cause:
            self.by_cause[row.cause] += row.calls
        self.by_direction[row.direction or "unknown"] += row.calls

    @property
    def asr(self) -> float | None:
        """Answer-seizure ratio: answered / attempted, in percent."""
        return 100 * self.answered / self.calls if self.calls else None

    @property
    def acd(self) -> float | None:
        """Average call duration: talk time per answered call that has ended, seconds."""
        return self.talk / self.timed if self.timed else None

    @property
    def failed_share(self) -> float | None:
        return 100 * self.failed / self.calls if self.calls else None

    @property
    def rejected_share(self) -> float | None:
        return 100 * self.rejected / self.calls if self.calls else None

    @property
    def talk_minutes(self) -> float:
        return self.talk / 60

    @property
    def chargeable_minutes(self) -> float:
        return self.charge / 60


def split_outcomes(row: Row) -> list[tuple[str, int]]:
    """A row's calls by outcome: only completed calls split, by whether they were answered."""
    if row.state == "completed":
        return [("answered", row.answered), ("unanswered", row.calls - row.answered)]
    return [(outcome_of(row.state, False), row.calls)]


def totals(rows: list[Row]) -> Totals:
    result = Totals()
    for row in rows:
        result.add(row)
    return result


@dataclass(frozen=True)
class Interval:
    start: datetime  # UTC
    end: datetime
    label: str


@dataclass
class Selection:
    """What the overview shows: the calls list's filters, over a bounded range."""

    form: CallFilterForm
    start: datetime
    end: datetime
    zone: tzinfo
    now: datetime
    _counted: dict = field(default_factory=dict)  # rows counted from the calls, per range

    @property
    def calls(self) -> QuerySet:
        return self.form.filter(Call.objects.all(), now=self.now)

    @cached_property
    def plan(self) -> tuple[bool, keyed.Plan | None]:
        """Where the counts come from: (exact, plan). `exact`: everything from the calls
        (a filter no rollup applies); a plan: KeyedRollup (a number or a tag, see
        calls/analytics/keyed.py); neither: CallRollup."""
        if not self.form.needs_calls():
            return False, None
        found = keyed.plan(self.form)
        return found is None, found

    def rows(self, start: datetime | None = None, end: datetime | None = None) -> list[Row]:
        """Rows of the selected calls by quarter hour, or of the same filters over another
        range."""
        start, end = start or self.start, end or self.end
        exact, plan = self.plan
        inner = None if exact else rollups.split(start, end)
        counted = self._from_calls(start, end, inner)
        if inner is None:
            return counted
        direction = self.form.cleaned_data.get("direction") or ""
        found = rollups.from_rollups(*inner, direction, keyed=plan and plan.keyed)
        return found + counted

    def split_rows(self) -> tuple[list[Row], list[Row]]:
        """The range's rows twice, as the page draws them: (by direction, state and
        cause; by local hour and state). See rollups.from_rollups_split."""
        exact, plan = self.plan
        inner = None if exact else rollups.split(self.start, self.end)
        counted = self._from_calls(self.start, self.end, inner)
        if inner is None:
            return counted, counted
        direction = self.form.cleaned_data.get("direction") or ""
        zone = getattr(self.zone, "key", "UTC")
        totals_rows, hour_rows = rollups.from_rollups_split(
            *inner, direction, zone=zone, keyed=plan and plan.keyed
        )
        return totals_rows + counted, hour_rows + counted

    def _from_calls(self, start: datetime, end: datetime, inner) -> list[Row]:
        """What the rollups do not count, counted from the calls once per range: the
        partial edges (or everything without `inner`), and a plan's other calls."""
        key = (start, end)
        if key in self._counted:
            return self._counted[key]
        ranges = [(start, end)] if inner is None else [(start, inner[0]), (inner[1], end)]
        ranges = [(low, high) for low, high in ranges if low < high]
        exact, plan = self.plan
        if not exact and plan is None:  # only a range and a direction
            direction = self.form.cleaned_data.get("direction") or ""
            self._counted[key] = rollups.plain_from_calls(ranges, direction)
            return self._counted[key]
        pieces = [(low, high, self.where) for low, high in ranges]
        if inner is not None and self.also_where is not None:
            pieces.append((*inner, self.also_where))
        self._counted[key] = rollups.plain_from_calls(pieces)
        return self._counted[key]

    @cached_property
    def where(self) -> rollups.Where:
        """The selected calls over any range, as one SQL condition (compiled once)."""
        return rollups.where_of(self.calls_over_any_range())

    @cached_property
    def also_where(self) -> rollups.Where | None:
        """A number plan's other calls (those its rollup rows do not count), compiled."""
        plan = self.plan[1]
        if plan is None or plan.also is None:
            return None
        return rollups.where_of(self.direction_only().filter(plan.also))

    def calls_over_any_range(self) -> QuerySet:
        """The selected calls, to be cut to a range. On PostgreSQL a number's or a tag's
        are said the way their indexes answer (keyed.newest_members): a number's "ends
        with" on both sides matches all of the number's calls, and PostgreSQL would
        rather intersect those with a range than walk the range. Else the form's filters."""
        members = keyed.newest_members(self.plan[1]) if connection.vendor == "postgresql" else None
        if members is not None:
            return self.direction_only().filter(reduce(or_, members, Q(pk__in=[])))
        return self.form_without_range().filter(Call.objects.all(), now=self.now)

    def direction_only(self) -> QuerySet:
        """The calls of the selection's direction (what a plan's other calls are cut to)."""
        direction = self.form.cleaned_data.get("direction")
        return Call.objects.filter(direction=direction) if direction else Call.objects.all()

    def form_without_range(self) -> CallFilterForm:
        data = {
            k: v for k, v in self.form.data.items() if k not in ("period", "start_from", "start_to")
        }
        form = CallFilterForm(data)
        form.is_valid()
        return form

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= HOURLY_UP_TO


class RangeTooLong(ValueError):
    pass


def select(form: CallFilterForm, now: datetime, zone: tzinfo) -> Selection:
    """The range the filters give, bounded: an open start is the oldest call (or
    MAX_RANGE back), an open end is now, a start before the oldest call is moved up to
    it. A range still longer than MAX_RANGE is refused (RangeTooLong)."""
    start, end = form.window(now)
    end = min(end, now) if end else now
    first = rollups.earliest()
    if start is None:
        start = max(first or end, end - MAX_RANGE)
    elif first and start < first:
        start = first  # nothing before the oldest call: no empty years of bars
    start = min(start, end)
    if end - start > MAX_RANGE:
        raise RangeTooLong(
            f"The overview covers at most {MAX_RANGE.days} days at a time: choose a shorter range."
        )
    return Selection(form=form, start=start, end=end, zone=zone, now=now)


# --- grouping into the viewer's intervals --------------------------------------------------


def intervals(selection: Selection) -> list[Interval]:
    """The chart's bars: local hours (DST's repeated hour is two bars) or local days.

    Bounds are kept in UTC: two aware times of one zone compare by their wall clock, which
    would make the two 01:00s of a night the clocks go back one bar.
    """
    zone = selection.zone
    starts: list[tuple[datetime, str]] = []
    if selection.hourly:
        # Walk quarter hours; a new bar starts where the local time is on the hour.
        moment = rollups.floor_quarter(selection.start)
        while moment < selection.end:
            local = moment.astimezone(zone)
            top = moment - timedelta(minutes=local.minute)
            if not starts or starts[-1][0] != top:
                label = top.astimezone(zone).strftime("%a %H:%M")
                if starts and starts[-1][1] == label:
                    label += f" ({top.astimezone(zone):%Z})"  # the repeated hour
                starts.append((top, label))
            moment += QUARTER
        step = timedelta(hours=1)
    else:
        day = selection.start.astimezone(zone).date()
        last = selection.end.astimezone(zone).date()
        while day <= last:
            starts.append((local_midnight(day, zone), f"{day:%a %d %b}"))
            day += timedelta(days=1)
        step = timedelta(days=1)
    if not starts:
        return []
    ends = [start for start, _ in starts[1:]]
    last_start = starts[-1][0]
    if selection.hourly:
        ends.append(last_start + step)
    else:
        ends.append(local_midnight(last_start.astimezone(zone).date() + step, zone))
    return [Interval(start, end, label) for (start, label), end in zip(starts, ends, strict=True)]


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant (UTC) the day starts in the zone (zoneinfo gives the offset in force)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def by_interval(rows: list[Row], bars: list[Interval]) -> list[Counter]:
    """Calls per bar and outcome."""
    starts = [bar.start for bar in bars]
    counts = [Counter() for _ in bars]
    for row in rows:
        index = _bar_of(starts, row.bucket)
        if index is not None:
            for outcome, n in split_outcomes(row):
                counts[index][outcome] += n
    return counts


def _bar_of(starts: list[datetime], moment: datetime) -> int | None:
    # Bars are contiguous and sorted: a binary search for the last start <= moment.
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= moment:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1 if lo else None


def peak_per_interval(selection: Selection, bars: list[Interval]) -> list[int | None]:
    """The most calls live at once during each bar (all calls: a peak is the account's,
    whatever the filters); None where a quarter hour's peak is not computed yet."""
    first, values = concurrency.peak_list(selection.start, selection.end, selection.now)
    # Each bar's first quarter hour, numbered from `first` (bars start on quarter hours).
    starts = [int((bar.start - first) / QUARTER) for bar in bars]
    result: list[int | None] = [0] * len(bars)
    index = -1  # before the first bar
    for k, peak in enumerate(values):
        # Bars and quarter hours are both in order: the last bar started by now.
        while index + 1 < len(starts) and starts[index + 1] <= k:
            index += 1
        if index < 0:
            continue
        if peak is None or result[index] is None:
            result[index] = None
        else:
            result[index] = max(result[index], peak)
    return result


def heatmap(rows: list[Row], zone: tzinfo) -> list[list[int]]:
    """Calls per local weekday (Monday first) and hour."""
    grid = [[0] * 24 for _ in range(7)]
    local_of: dict[datetime, datetime] = {}
    for row in rows:
        local = local_of.get(row.bucket)
        if local is None:
            local = local_of[row.bucket] = row.bucket.astimezone(zone)
        grid[local.weekday()][local.hour] += row.calls
    return grid


# --- panels that need the calls themselves -------------------------------------------------


def live_now() -> dict:
    """Active and ringing calls now, and the one live longest (the live-states index)."""
    live = Call.objects.filter(state__in=Call.LIVE_STATES)
    counts = dict(live.order_by().values_list("state").annotate(n=Count("id")))
    longest = (
        live.filter(state="active", active_time__isnull=False)
        .order_by("active_time")
        .only("catapult_id", "from_number", "to_number", "start_time", "active_time", "state")
        .first()
    )
    return {
        "active": counts.get("active", 0),
        "transferring": counts.get("transferring", 0),
        "ringing": counts.get("started", 0),
        "longest": longest,
    }


def top_parties(selection: Selection) -> dict:
    """The numbers with the most calls in the selection, over the newest TOP_WINDOW calls
    of the range: one query takes their two numbers from an index (see _newest_window),
    and they are counted here. Counting 10,000 pairs in Python takes a fraction of what
    grouping them in the database and ranking the groups did (most callers are distinct
    numbers)."""
    found = _newest_window(selection)
    pairs = []
    if found is not None:
        with connection.cursor() as cursor:
            cursor.execute(*found)
            pairs = cursor.fetchall()
    callers = Counter(caller for caller, _ in pairs if caller)
    callees = Counter(callee for _, callee in pairs if callee)

    def top(counts: Counter) -> list[tuple[str, int]]:
        # Most calls first; a tie in number order, so the list does not shuffle.
        return heapq.nsmallest(TOP_SHOWN, counts.items(), key=lambda item: (-item[1], item[0]))

    return {
        "callers": top(callers),
        "callees": top(callees),
        # A full window: the range may hold more calls than were counted.
        "capped": len(pairs) >= TOP_WINDOW,
        "window": TOP_WINDOW,
    }


def _newest_window(selection: Selection) -> tuple[str, tuple] | None:
    """SQL for the (from_number, to_number) of the newest TOP_WINDOW calls selected;
    None when no call can match.

    Along the start-time index, which holds both numbers (call_newest_idx). Filtered by
    one of the account's own numbers or a tag, that index would be walked past every
    other call of the range (most of them): instead each matching number's or tag's
    newest calls are taken along an index of its own, and the other party's matches
    beside them (calls/analytics/keyed.py; PostgreSQL, which orders and limits each
    member of a UNION)."""
    in_range = Q(start_time__gte=selection.start, start_time__lt=selection.end)
    exact, plan = selection.plan
    members = keyed.newest_members(plan) if connection.vendor == "postgresql" else None
    if members is None:
        newest = selection.calls.filter(in_range).order_by("-start_time")
        return newest.values_list("from_number", "to_number")[:TOP_WINDOW].query.sql_with_params()
    if not members:
        return None
    base = selection.direction_only().filter(in_range).order_by("-start_time")
    parts, params = [], []
    for member in members:
        query = base.filter(member).values_list("start_time", "from_number", "to_number")
        sql, args = query[:TOP_WINDOW].query.sql_with_params()
        parts.append(f"({sql})")
        params += args
    # UNION ALL: the members are disjoint (a call has one own number and one tag).
    union = " UNION ALL ".join(parts)
    sql = (
        f"SELECT from_number, to_number FROM ({union}) AS m "  # noqa: S608 - ORM SQL
        f"ORDER BY start_time DESC LIMIT {TOP_WINDOW}"
    )
    return sql, tuple(params)


def comparisons(selection: Selection) -> list[tuple[str, Totals]]:
    """Today so far against yesterday and the same day last week, up to the same time
    of day (the viewer's days, so 'today' starts at the viewer's midnight)."""
    zone, now = selection.zone, selection.now
    today = now.astimezone(zone).date()
    elapsed = now - local_midnight(today, zone)
    labels = (("Today", 0), ("Yesterday", 1), ("Same day last week", 7))
    windows = []
    for _, days in labels:
        start = local_midnight(today - timedelta(days=days), zone)
        windows.append((start, min(start + elapsed, now)))
    exact, plan = selection.plan
    direction = selection.form.cleaned_data.get("direction") or ""
    rows = rollups.windows_totals(
        windows,
        direction,
        # None in the plain case: a range and a direction, nothing the form must apply
        calls=selection.where if exact or plan is not None else None,
        exact=exact,
        keyed=plan and plan.keyed,
        also=selection.also_where,
    )
    return [(label, totals(found)) for (label, _), found in zip(labels, rows, strict=True)]


def per_day(rows: list[Row], zone: tzinfo) -> list[tuple[date, Counter]]:
    """Calls per local day and outcome (the number page's history), oldest first."""
    days: dict[date, Counter] = defaultdict(Counter)
    for row in rows:
        day = row.bucket.astimezone(zone).date()
        for outcome, n in split_outcomes(row):
            days[day][outcome] += n
    return sorted(days.items())


NUMBER_WINDOW = 20_000  # per side: an account's own number is on most of its calls


def number_history(sides: list, zone: tzinfo) -> dict:
    """Calls per local day and outcome of one number (either side), over its newest
    NUMBER_WINDOW calls per side: its whole history unless it has more."""
    capped = False
    selected = Q(pk__in=[])
    for side in sides:
        # The start time of the side's NUMBER_WINDOW-th newest call (its digits index).
        cutoff = (
            Call.objects.filter(side)
            .order_by("-start_time")
            .values_list("start_time", flat=True)[NUMBER_WINDOW - 1 : NUMBER_WINDOW + 1]
        )
        cutoff = list(cutoff)
        if len(cutoff) > 1:
            capped = True
            selected |= side & Q(start_time__gte=cutoff[0])
        else:
            selected |= side
    rows = rollups.from_calls(Call.objects.filter(selected))
    days = per_day(rows, zone)
    outcomes = totals(rows).by_outcome
    return {"days": days, "outcomes": outcomes, "capped": capped, "window": NUMBER_WINDOW}
