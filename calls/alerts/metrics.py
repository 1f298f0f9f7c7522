"""What alert rules measure: one function per metric, each described once in METRICS.

Every function takes the evaluation's Reader, the rule (for its scope and number) and the
window [start, end), and returns a number, or None when there is not enough data to say
(no attempts yet, no backfill running...): a rule never fires on "no data".

Calls metrics read the calls table through its start-time index (`call_newest_idx`) or
the live-states partial index (`call_live_idx`), so a 15-minute window reads only the
calls of those 15 minutes whatever the table holds. The Reader computes each distinct
(scope, window) aggregate once per evaluation: twenty rules over the same window cost one
query. A faster source (the 15-minute rollups) can replace a function here alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q, Sum
from django.http import QueryDict

from calls import numbers
from calls.analytics import rollups
from calls.catapult import health
from calls.locks import redis_client
from calls.models import Call, CallbackEvent, SyncRun, SyncState

# Filters of a saved view that a rule's window replaces: the window says when.
_TIME_FILTERS = ("period", "start_from", "start_to", "before", "after")
# Filters a rule cannot keep: the viewer's day of the week and hour are in the viewer's
# time zone, and the worker would judge them in its own. (A rule has its own hours.)
_VIEWER_CLOCK_FILTERS = ("weekday", "hour")
NOT_COPIED = _TIME_FILTERS + _VIEWER_CLOCK_FILTERS


class Unmeasurable(ValueError):
    """What a metric reads could not be read now (not "no data": the evaluation treats it
    as a failed measurement, so a firing rule stays firing)."""


_FAILED_STATES = ("rejected", "error")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    fn: Callable
    help: str
    scoped: bool = False  # calls metrics: number, direction, tag and view scopes apply
    windowed: bool = True  # measured over the rule's window
    comparable: bool = False  # "% change on the window before / last week" makes sense
    param_label: str = ""  # the metric's own number, if it has one
    param_default: int | None = None
    param_max: int = 100_000


METRICS: dict[str, Metric] = {}


def metric(key: str, label: str, unit: str, help: str, **options):
    def register(fn):
        METRICS[key] = Metric(key=key, label=label, unit=unit, fn=fn, help=help, **options)
        return fn

    return register


class Reader:
    """One evaluation's reads, memoized: rules sharing a scope and window share queries."""

    def __init__(self, now: datetime):
        self.now = now
        self._cache: dict = {}

    def once(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- calls -----------------------------------------------------------------------

    def calls(self, rule):
        """The rule's scope as a queryset of calls (no time condition yet)."""
        return self.once(("scope", _scope_key(rule)), lambda: _scoped_calls(rule))

    def call_counts(self, rule, start: datetime, end: datetime) -> dict:
        def compute():
            if not (rule.view_query or rule.number or rule.tag):
                return _counts_from_rollups(rule.direction, start, end)
            window = self.calls(rule).filter(start_time__gte=start, start_time__lt=end)
            return window.aggregate(
                total=Count("pk"),
                ringing=Count("pk", filter=Q(state="started")),
                answered=Count("pk", filter=Q(active_time__isnull=False)),
                failed=Count("pk", filter=Q(state__in=_FAILED_STATES)),
            )

        return self.once(("counts", _scope_key(rule), start, end), compute)

    # -- sync ------------------------------------------------------------------------

    def sync_totals(self, start: datetime, end: datetime) -> dict:
        def compute():
            return SyncRun.objects.filter(started_at__gte=start, started_at__lt=end).aggregate(
                runs=Count("pk"),
                requests=Sum("api_requests"),
                errors=Sum("api_errors"),
                limited=Sum("rate_limited"),
                backfill_pages=Sum("backfill_pages"),
            )

        return self.once(("sync", start, end), compute)

    def oldest_live_start(self) -> datetime | None:
        return self.once(
            "oldest_live",
            lambda: Call.objects.filter(state__in=Call.LIVE_STATES).aggregate(t=Min("start_time"))[
                "t"
            ],
        )

    def api_health(self) -> health.Health:
        return self.once("health", lambda: health.read(redis_client()))


def _scope_key(rule) -> tuple:
    return (rule.number, rule.direction, rule.tag, rule.view_query)


def rule_query(query: str) -> str:
    """A saved view's query string as a rule keeps it: without the filters a rule cannot
    mean (NOT_COPIED)."""
    data = QueryDict(query, mutable=True)
    for name in NOT_COPIED:
        data.pop(name, None)
    return data.urlencode()


def view_form(query: str):
    """A saved view's filters as a bound, validated CallFilterForm, without the filters a
    rule cannot mean (also for rules copied before they were dropped at copy time); None
    when they no longer validate."""
    from calls.filters import CallFilterForm

    form = CallFilterForm(QueryDict(rule_query(query)))
    return form if form.is_valid() else None


def _counts_from_rollups(direction: str, start: datetime, end: datetime) -> dict:
    """The window's counts from the Overview's rollups (whole quarter hours) and the calls
    of its two partial edges: a day's window is a few hundred rollup rows, not every call
    of the day. Only for rules the rollups can scope (all calls, or one direction)."""
    calls = Call.objects.filter(start_time__gte=start, start_time__lt=end)
    if direction:
        calls = calls.filter(direction=direction)
    found = rollups.window(calls, start, end, direction, group="total")
    return {
        "total": sum(r.calls for r in found),
        "ringing": sum(r.calls for r in found if r.state == "started"),
        "answered": sum(r.answered for r in found),
        "failed": sum(r.calls for r in found if r.state in _FAILED_STATES),
    }


def _scoped_calls(rule):
    qs = Call.objects.all()
    if rule.view_query:
        form = view_form(rule.view_query)
        if form is None:
            raise ValueError("The rule's view filters are no longer valid")
        qs = form.filter(qs)
    if rule.number:
        match = numbers.digits(rule.number)
        if match:
            qs = qs.filter(Q(from_digits=match) | Q(to_digits=match))
        else:
            qs = qs.filter(Q(from_number__iexact=rule.number) | Q(to_number__iexact=rule.number))
    if rule.direction:
        qs = qs.filter(direction=rule.direction)
    if rule.tag:
        qs = qs.filter(tag__icontains=rule.tag)
    return qs


def _minutes(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds() / 60)


# --- calls -------------------------------------------------------------------------------


@metric(
    "asr",
    "Answer-seizure ratio",
    "%",
    "Answered calls as a share of attempts (calls that started in the window, ringing "
    "ones left out until they end or are answered).",
    scoped=True,
    comparable=True,
    param_label="Minimum attempts",
    param_default=20,
)
def asr(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    counts = reader.call_counts(rule, start, end)
    attempts = counts["total"] - counts["ringing"]
    if attempts < max(1, rule.param or 0):
        return None
    return 100.0 * min(counts["answered"], attempts) / attempts


@metric(
    "failed_share",
    "Failed or rejected calls",
    "%",
    "Calls that ended rejected or in error, as a share of attempts.",
    scoped=True,
    comparable=True,
    param_label="Minimum attempts",
    param_default=10,
)
def failed_share(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    counts = reader.call_counts(rule, start, end)
    attempts = counts["total"] - counts["ringing"]
    if attempts < max(1, rule.param or 0):
        return None
    return 100.0 * counts["failed"] / attempts


@metric(
    "short_calls",
    "Very short answered calls",
    "calls",
    "Answered calls that started in the window and lasted less than the given seconds.",
    scoped=True,
    comparable=True,
    param_label="Shorter than (s)",
    param_default=10,
)
def short_calls(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    seconds = rule.param if rule.param is not None else 10

    def compute():
        return (
            reader.calls(rule)
            .filter(
                start_time__gte=start,
                start_time__lt=end,
                active_time__isnull=False,
                duration__lt=seconds,
            )
            .count()
        )

    return float(reader.once(("short", _scope_key(rule), seconds, start, end), compute))


@metric(
    "call_count",
    "Calls",
    "calls",
    "Calls that started in the window. “Below 1” means no calls at all.",
    scoped=True,
    comparable=True,
)
def call_count(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    return float(reader.call_counts(rule, start, end)["total"])


@metric(
    "stuck_calls",
    "Calls live too long",
    "calls",
    "Calls still ringing, active or transferring that started more than the given hours "
    "ago (a call the platform or our copy of it never ended).",
    scoped=True,
    windowed=False,
    param_label="Live longer than (h)",
    param_default=4,
    param_max=24 * 30,
)
def stuck_calls(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    hours = rule.param if rule.param is not None else 4
    cutoff = reader.now - timedelta(hours=hours)

    def compute():
        live = reader.calls(rule).filter(state__in=Call.LIVE_STATES, start_time__lt=cutoff)
        return live.count()

    return float(reader.once(("stuck", _scope_key(rule), cutoff), compute))


# --- sync and the API --------------------------------------------------------------------


@metric(
    "sync_lag",
    "Sync behind",
    "min",
    "Minutes since a sync cycle last read the call list (see the Sync page).",
    windowed=False,
)
def sync_lag(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    def compute():
        return (
            SyncRun.objects.filter(list_read=True, finished_at__isnull=False)
            .order_by("-started_at")
            .values_list("finished_at", flat=True)
            .first()
        )

    last = reader.once("last_list_read", compute)
    return None if last is None else _minutes(reader.now, last)


@metric(
    "backfill_pages",
    "History pages read",
    "pages",
    "History (backfill) pages read in the window while the backfill is unfinished; "
    "“below 1” means it stalled. No data once the backfill is done.",
)
def backfill_pages(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    state = reader.once("sync_state", lambda: SyncState.objects.filter(pk=1).first())
    if state is None or not state.backfill_next_url:
        return None
    return float(reader.sync_totals(start, end)["backfill_pages"] or 0)


@metric(
    "api_error_rate",
    "API requests failing",
    "%",
    "Failed Catapult API requests (after retries) as a share of the requests sync "
    "cycles made in the window.",
)
def api_error_rate(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    totals = reader.sync_totals(start, end)
    requests = totals["requests"] or 0
    errors = totals["errors"] or 0
    if requests == 0:
        return None if errors == 0 else 100.0
    return 100.0 * min(errors, requests) / requests


@metric(
    "rate_limited",
    "API 429 answers",
    "answers",
    "Requests the API answered 429 (rate limited) in the window, despite the budget.",
    comparable=True,
)
def rate_limited(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    return float(reader.sync_totals(start, end)["limited"] or 0)


@metric(
    "api_down",
    "API not answering",
    "min",
    "Minutes since the Catapult API last answered a request, counted once a request has "
    "failed since (0 while it answers).",
    windowed=False,
)
def api_down(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    seen = reader.api_health()
    if not seen.known:
        # Redis is unreachable: nothing is known of the API (not "it answers").
        raise Unmeasurable("the API's health could not be read (Redis unreachable)")
    if seen.last_failure is None:
        return 0.0
    if seen.last_ok is not None and seen.last_ok >= seen.last_failure:
        return 0.0
    # Never answered since we know: count from the first failure we can date.
    since = seen.last_ok if seen.last_ok is not None else seen.last_failure
    return max(0.0, (reader.now.timestamp() - since) / 60)


# --- callbacks ---------------------------------------------------------------------------


@metric(
    "callbacks_silent",
    "Callbacks silent",
    "min",
    "Minutes without a single callback while calls are live (counted from the later of "
    "the last callback and the oldest live call's start). No data when no call is live or "
    "no callback ever came.",
    windowed=False,
)
def callbacks_silent(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    oldest_live = reader.oldest_live_start()
    if oldest_live is None:
        return None
    last = reader.once(
        "last_callback", lambda: CallbackEvent.objects.aggregate(t=Max("received_at"))["t"]
    )
    if last is None:
        return None
    return _minutes(reader.now, max(last, oldest_live))


@metric(
    "recording_errors",
    "Recordings in error",
    "recordings",
    "Recording callbacks received in the window whose state or status is “error”.",
    comparable=True,
)
def recording_errors(reader: Reader, rule, start: datetime, end: datetime) -> float | None:
    def compute():
        return CallbackEvent.objects.filter(
            Q(payload__state="error") | Q(payload__status="error"),
            received_at__gte=start,
            received_at__lt=end,
            event_type="recording",
        ).count()

    return float(reader.once(("recording_errors", start, end), compute))


CHOICES = [(m.key, m.label) for m in METRICS.values()]


def measure(reader: Reader, rule) -> float | None:
    """The number the rule compares: the metric's value, or its % change on a baseline."""
    spec = METRICS[rule.metric]
    end = reader.now
    start = end - timedelta(minutes=rule.window_minutes)
    current = spec.fn(reader, rule, start, end)
    if rule.compare == "value" or not spec.comparable:
        return current
    shift = timedelta(minutes=rule.window_minutes) if rule.compare == "previous" else WEEK
    base = spec.fn(reader, rule, start - shift, end - shift)
    return percent_change(current, base)


WEEK = timedelta(days=7)


def percent_change(current: float | None, base: float | None) -> float | None:
    if current is None or base is None:
        return None
    if base == 0:
        # From nothing to something is an unbounded rise; from nothing to nothing, none.
        return 0.0 if current == 0 else float("inf")
    return 100.0 * (current - base) / base
