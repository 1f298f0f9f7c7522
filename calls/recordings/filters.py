"""The Recordings page's filters: a form bound to the query string, applied to a queryset."""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from calls import numbers, pagination
from calls.filters import _clean_text
from calls.recordings.models import Recording

STATES = [("", "Any state"), *Recording.State.choices]


class RecordingFilterForm(forms.Form):
    q = forms.CharField(label="Number", required=False, max_length=100)
    state = forms.ChoiceField(required=False, choices=STATES)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
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
