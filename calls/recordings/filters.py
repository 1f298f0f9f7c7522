"""The Recordings page's filters: a form bound to the query string, applied to a queryset."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.utils import timezone

from calls import numbers, pagination
from calls.filters import _clean_text
from calls.recordings.models import Recording

STATES = [("", "Any state"), *Recording.State.choices]

# The calls list's bounds (calls/filters.py): the first or last days the calendar holds
# have no UTC form in zones east or west of UTC (and 9999-12-31 has no day after it), so
# every query on them would fail.
_DATE_BOUNDS = [
    MinValueValidator(date(1970, 1, 1), "Choose a date between 1970 and 9000."),
    MaxValueValidator(date(9000, 12, 31), "Choose a date between 1970 and 9000."),
]


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        validators=_DATE_BOUNDS,
        widget=forms.DateInput(attrs={"type": "date", "min": "1970-01-01", "max": "9000-12-31"}),
    )


class RecordingFilterForm(forms.Form):
    q = forms.CharField(label="Number", required=False, max_length=100)
    state = forms.ChoiceField(required=False, choices=STATES)
    since = _date_field("From")
    until = _date_field("To")
    before = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    after = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        data["q"] = _clean_text(data.get("q") or "")
        for name in ("before", "after"):
            if data.get(name):
                try:
                    pagination.decode(data[name])
                except pagination.BadCursor:
                    self.add_error(name, "This page position is not valid; start from the newest.")
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end of the range is before its start.")
        return data

    def number_query(self) -> numbers.NumberQuery | None:
        return numbers.parse_query(self.cleaned_data.get("q") or "")

    def filter(self, qs: QuerySet) -> QuerySet:
        data = self.cleaned_data
        query = self.number_query()
        if query:
            # Numbers are the call's: recordings not linked to a stored call never match.
            call_ids = _calls_matching(query)
            qs = qs.filter(call__in=call_ids)
        if data.get("state"):
            qs = qs.filter(state=data["state"])
        zone = timezone.get_current_timezone()  # dates are the viewer's days
        if data.get("since"):
            qs = qs.filter(start_time__gte=datetime.combine(data["since"], time.min, tzinfo=zone))
        if data.get("until"):
            end = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=zone)
            qs = qs.filter(start_time__lt=end)
        return qs


def _calls_matching(query: numbers.NumberQuery):
    from calls.models import Call

    # The calls page's own number search (same indexes), as a subquery.
    return Call.objects.filter(query.q()).values("pk")
