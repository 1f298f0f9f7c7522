"""The call filters: a form bound to the query string, applied to a queryset."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from calls import numbers, pagination
from calls.models import Call

PERIODS = [
    ("", "Any time"),
    ("hour", "Last hour"),
    ("today", "Today"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom range"),
]
STATES = [("", "Any state"), ("live", "Live (ringing, active, transferring)")] + [
    (value, label) for value, label in Call.State.choices
]
KNOWN_CAUSES = [
    "NORMAL_CLEARING",
    "ORIGINATOR_CANCEL",
    "USER_BUSY",
    "NO_ANSWER",
    "CALL_REJECTED",
    "UNALLOCATED_NUMBER",
    "NORMAL_TEMPORARY_FAILURE",
]
# What a call came to, as the overview's charts stack them (and drill into the list).
OUTCOMES = [
    ("answered", "Answered"),
    ("unanswered", "Not answered"),
    ("rejected", "Rejected"),
    ("failed", "Failed"),
    ("live", "Live"),
    ("other", "Other state"),
]
MAX_SECONDS = 10**7
# Filters the rollups can apply (a range and a direction): any other one set means the
# overview counts from the calls themselves.
ROLLUP_FILTERS = {"direction", "period", "start_from", "start_to", "match", "before", "after"}


def _plausible(moment: datetime) -> bool:
    """Between 1970 and 9000: the year 1 or 9999 in a zone east or west of UTC has no UTC
    form at all, and every database query would fail on it."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return 1970 <= utc.year <= 9000


def _clean_text(value: str) -> str:
    """Control characters never belong in a filter; drop them rather than fail."""
    return "".join(ch for ch in value if ch.isprintable()).strip()


class CallFilterForm(forms.Form):
    q = forms.CharField(label="Number", required=False, max_length=100)
    match = forms.ChoiceField(
        label="Match",
        required=False,
        choices=[
            ("auto", "Best guess"),
            ("contains", "Contains"),
            ("prefix", "Starts with"),
            ("suffix", "Ends with"),
            ("exact", "Exactly"),
        ],
    )
    direction = forms.ChoiceField(
        required=False, choices=[("", "Both directions"), ("in", "Inbound"), ("out", "Outbound")]
    )
    state = forms.ChoiceField(required=False, choices=STATES)
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *OUTCOMES])
    cause = forms.CharField(label="Hangup cause", required=False, max_length=64)
    period = forms.ChoiceField(label="Started", required=False, choices=PERIODS)
    start_from = forms.DateTimeField(
        label="From", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    # Not included: a slice "from 10:00 to 11:00" and the next "from 11:00" share no call.
    start_to = forms.DateTimeField(
        label="Before", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    min_duration = forms.IntegerField(
        label="Min duration (s)", required=False, min_value=0, max_value=MAX_SECONDS
    )
    max_duration = forms.IntegerField(
        label="Max duration (s)", required=False, min_value=0, max_value=MAX_SECONDS
    )
    recording = forms.ChoiceField(
        required=False,
        choices=[("", "Recorded or not"), ("yes", "Has a recording"), ("no", "No recording")],
    )
    tag = forms.CharField(required=False, max_length=200)
    # The overview's hour-of-week cells drill down with these (the viewer's zone).
    weekday = forms.TypedChoiceField(
        label="Weekday",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any day")]
        + [(str(i), d) for i, d in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], 1)],
    )
    hour = forms.IntegerField(label="Hour of day", required=False, min_value=0, max_value=23)
    bridge = forms.CharField(label="Bridge id", required=False, max_length=64)
    conference = forms.CharField(label="Conference id", required=False, max_length=64)
    before = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    after = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        for name in ("q", "cause", "tag", "bridge", "conference"):
            if isinstance(data.get(name), str):
                data[name] = _clean_text(data[name])
        for name in ("before", "after"):
            if data.get(name):
                try:
                    pagination.decode(data[name])
                except pagination.BadCursor:
                    self.add_error(name, "This page position is not valid; start from the newest.")
        for name in ("start_from", "start_to"):
            if data.get(name) and not _plausible(data[name]):
                self.add_error(name, "Choose a date between 1970 and 9000.")
                data[name] = None
        start, end = data.get("start_from"), data.get("start_to")
        if start and end and start > end:
            self.add_error("start_to", "The end of the range is before its start.")
        low, high = data.get("min_duration"), data.get("max_duration")
        if low is not None and high is not None and low > high:
            self.add_error("max_duration", "The maximum is below the minimum.")
        return data

    def number_query(self) -> numbers.NumberQuery | None:
        data = self.cleaned_data
        return numbers.parse_query(data.get("q") or "", data.get("match") or "auto")

    def filter(self, qs: QuerySet, now: datetime | None = None) -> QuerySet:
        data = self.cleaned_data
        now = now or timezone.now()
        query = self.number_query()
        if query:
            qs = qs.filter(query.q())
        if data.get("direction"):
            qs = qs.filter(direction=data["direction"])
        if data.get("state") == "live":
            qs = qs.filter(state__in=Call.LIVE_STATES)
        elif data.get("state"):
            qs = qs.filter(state=data["state"])
        if data.get("outcome"):
            qs = qs.filter(outcome_q(data["outcome"]))
        if data.get("cause"):
            qs = qs.filter(hangup_cause__iexact=data["cause"])
        start, end = self._period(now)
        if start:
            qs = qs.filter(start_time__gte=start)
        if end:
            qs = qs.filter(start_time__lt=end)
        if data.get("min_duration") is not None:
            qs = qs.filter(duration__gte=data["min_duration"])
        if data.get("max_duration") is not None:
            qs = qs.filter(duration__lte=data["max_duration"])
        if data.get("recording") == "yes":
            qs = qs.filter(has_recording=True)
        elif data.get("recording") == "no":
            qs = qs.filter(has_recording=False)
        if data.get("tag"):
            qs = qs.filter(tag__icontains=data["tag"])
        if data.get("weekday") is not None:
            qs = qs.filter(start_time__iso_week_day=data["weekday"])
        if data.get("hour") is not None:
            qs = qs.filter(start_time__hour=data["hour"])
        if data.get("bridge"):
            qs = qs.filter(bridge_id=data["bridge"])
        if data.get("conference"):
            qs = qs.filter(conference_id=data["conference"])
        return qs

    def _period(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        data = self.cleaned_data
        period = data.get("period")
        if period == "hour":
            return now - timedelta(hours=1), None
        if period == "today":
            local = timezone.localtime(now)
            return local.replace(hour=0, minute=0, second=0, microsecond=0), None
        if period == "24h":
            return now - timedelta(hours=24), None
        if period == "7d":
            return now - timedelta(days=7), None
        if period == "30d":
            return now - timedelta(days=30), None
        # "custom", or dates given without choosing a preset: the dates are the range
        return data.get("start_from"), data.get("start_to")

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The range of start times the filters select (None: open on that side)."""
        return self._period(now)

    def needs_calls(self) -> bool:
        """True when a filter is set that the rollups cannot apply."""
        data = self.cleaned_data
        return any(data.get(k) not in (None, "", "auto") for k in data if k not in ROLLUP_FILTERS)

    def is_filtered(self) -> bool:
        data = self.cleaned_data
        return any(
            data.get(k) not in (None, "", "auto") for k in data if k not in ("before", "after")
        )


def outcome_q(outcome: str) -> Q:
    """Calls of one outcome (OUTCOMES), as the overview's rollups count them."""
    known = [*Call.LIVE_STATES, "completed", "rejected", "error"]
    return {
        "answered": Q(state="completed", active_time__isnull=False),
        "unanswered": Q(state="completed", active_time__isnull=True),
        "rejected": Q(state="rejected"),
        "failed": Q(state="error"),
        "live": Q(state__in=Call.LIVE_STATES),
        "other": ~Q(state__in=known),
    }[outcome]


def outcome_of(state: str, answered: bool) -> str:
    """The outcome (OUTCOMES) of a call in `state`; the same split as outcome_q."""
    if state == "completed":
        return "answered" if answered else "unanswered"
    if state in Call.LIVE_STATES:
        return "live"
    return {"rejected": "rejected", "error": "failed"}.get(state, "other")


# The filters behind "More filters": the row above it holds the ones used most.
MORE_FILTERS = (
    "outcome",
    "cause",
    "start_from",
    "start_to",
    "min_duration",
    "max_duration",
    "recording",
    "tag",
    "bridge",
    "conference",
    "weekday",
    "hour",
)
# Never part of what a list is filtered by: page positions and the poll's version.
NOT_FILTERS = ("before", "after", "v")


def more_filters_open(params: QueryDict) -> bool:
    """Open "More filters" when one of its fields is set (or a custom range is chosen,
    whose dates are in there), so nothing that filters the list is out of sight."""
    return params.get("period") == "custom" or any(params.get(name) for name in MORE_FILTERS)


@dataclass(frozen=True)
class ActiveFilter:
    label: str  # the field's label, "State"
    value: str  # what it is set to, as the form words it, "Live"
    query: str  # the list's query string without this filter (nor a page position)


def active_filters(form: CallFilterForm, params: QueryDict) -> list[ActiveFilter]:
    """What a valid form filters the list by, each with the query string that drops it:
    the "Filtered by" summary above the table. Only filters that apply are listed (dates
    beside a preset period are ignored by the filter, so they are not shown either)."""
    data = form.cleaned_data
    found = []

    def add(name: str, value, *also: str) -> None:
        query = params.copy()
        for dropped in (name, *also, *NOT_FILTERS):
            query.pop(dropped, None)
        found.append(ActiveFilter(str(form[name].label), str(value), query.urlencode()))

    def choice(name: str) -> str:
        label = str(dict(form.fields[name].choices).get(data[name], data[name]))
        # "Live (ringing, active, transferring)" explains itself in the menu; a chip says "Live".
        return label.split(" (")[0]

    if data.get("q"):
        add("q", data["q"], "match")  # the match mode means nothing without a number
        if data.get("match") not in (None, "", "auto"):
            add("match", choice("match"))
    for name in ("direction", "state", "outcome"):
        if data.get(name):
            add(name, choice(name))
    if data.get("period") and data["period"] != "custom":
        add("period", choice("period"))
    else:
        for name in ("start_from", "start_to"):
            if data.get(name):
                add(name, timezone.localtime(data[name]).strftime("%Y-%m-%d %H:%M"))
    if data.get("cause"):
        add("cause", data["cause"])
    for name in ("min_duration", "max_duration"):
        if data.get(name) is not None:
            add(name, data[name])
    if data.get("recording"):
        add("recording", choice("recording"))
    for name in ("tag", "bridge", "conference"):
        if data.get(name):
            add(name, data[name])
    if data.get("weekday") is not None:  # the overview's hour-of-week cells
        add("weekday", dict(form.fields["weekday"].choices).get(str(data["weekday"]), ""))
    if data.get("hour") is not None:
        add("hour", f"{data['hour']:02d}:00 to {data['hour']:02d}:59")
    return found


class AuditFilterForm(forms.Form):
    operator = forms.CharField(required=False, max_length=150)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        data["operator"] = _clean_text(data.get("operator") or "")
        if data.get("before"):
            try:
                pagination.decode(data["before"])
            except pagination.BadCursor:
                self.add_error("before", "This page position is not valid; start from the newest.")
        for name in ("since", "until"):
            if data.get(name) and not 1970 <= data[name].year <= 9000:
                self.add_error(name, "Choose a date between 1970 and 9000.")
                data[name] = None
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end of the range is before its start.")
        return data

    def filter(self, qs: QuerySet) -> QuerySet:
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        if data.get("operator"):
            qs = qs.filter(username=data["operator"])
        if data.get("since"):
            qs = qs.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=zone))
        if data.get("until"):
            qs = qs.filter(
                at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=zone)
            )
        return qs
