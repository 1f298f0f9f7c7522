"""The call filters: a form bound to the query string, applied to a queryset."""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from calls import numbers, pagination
from calls.models import Call

PERIODS = [
    ("", "Any time"),
    ("hour", "Last hour"),
    ("today", "Today"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
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
MAX_SECONDS = 10**7


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
        ],
    )
    direction = forms.ChoiceField(
        required=False, choices=[("", "Both directions"), ("in", "Inbound"), ("out", "Outbound")]
    )
    state = forms.ChoiceField(required=False, choices=STATES)
    cause = forms.CharField(label="Hangup cause", required=False, max_length=64)
    period = forms.ChoiceField(label="Started", required=False, choices=PERIODS)
    start_from = forms.DateTimeField(
        label="From", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    start_to = forms.DateTimeField(
        label="To", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
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
        if data.get("cause"):
            qs = qs.filter(hangup_cause__iexact=data["cause"])
        start, end = self._period(now)
        if start:
            qs = qs.filter(start_time__gte=start)
        if end:
            qs = qs.filter(start_time__lte=end)
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
        # "custom", or dates given without choosing a preset: the dates are the range
        return data.get("start_from"), data.get("start_to")

    def is_filtered(self) -> bool:
        data = self.cleaned_data
        return any(
            data.get(k) not in (None, "", "auto") for k in data if k not in ("before", "after")
        )


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
