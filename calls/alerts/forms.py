"""Forms of the alerts pages, and the built-in rule templates that fill the rule form."""

from __future__ import annotations

import math
import zoneinfo
from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.validators import validate_email

from calls import numbers
from calls.alerts import metrics, notify
from calls.alerts.models import Rule, SavedView

# One click fills the rule form with one of these (admins adjust and save).
TEMPLATES = {
    "asr_low": {
        "label": "ASR below 50 %",
        "name": "Answer rate low",
        "metric": "asr",
        "param": 20,
        "window_minutes": 60,
        "op": "below",
        "threshold": 50,
        "hold_minutes": 5,
    },
    "failed_high": {
        "label": "Failed or rejected above 20 %",
        "name": "Many failed or rejected calls",
        "metric": "failed_share",
        "param": 10,
        "window_minutes": 15,
        "op": "above",
        "threshold": 20,
        "hold_minutes": 5,
    },
    "short_spike": {
        "label": "Spike of very short calls",
        "name": "Very short calls spike",
        "metric": "short_calls",
        "param": 10,
        "window_minutes": 60,
        "compare": "last_week",
        "op": "above",
        "threshold": 100,
        "hold_minutes": 0,
    },
    "stuck": {
        "label": "A call live longer than 4 h",
        "name": "Stuck call",
        "metric": "stuck_calls",
        "param": 4,
        "op": "above",
        "threshold": 0,
    },
    "no_calls": {
        "label": "No calls for 30 min in office hours",
        "name": "No calls during office hours",
        "metric": "call_count",
        "window_minutes": 30,
        "op": "below",
        "threshold": 1,
        "active_from": "08:00",
        "active_to": "18:00",
    },
    "sync_behind": {
        "label": "Sync behind by more than 5 min",
        "name": "Sync behind",
        "metric": "sync_lag",
        "op": "above",
        "threshold": 5,
    },
    "backfill_stalled": {
        "label": "History backfill stalled",
        "name": "Backfill stalled",
        "metric": "backfill_pages",
        "window_minutes": 30,
        "op": "below",
        "threshold": 1,
    },
    "api_errors": {
        "label": "API errors above 10 %",
        "name": "API requests failing",
        "metric": "api_error_rate",
        "window_minutes": 15,
        "op": "above",
        "threshold": 10,
        "hold_minutes": 2,
    },
    "rate_limited": {
        "label": "429s from the API",
        "name": "API rate limiting",
        "metric": "rate_limited",
        "window_minutes": 15,
        "op": "above",
        "threshold": 5,
    },
    "api_down": {
        "label": "API down for 2 min",
        "name": "API down",
        "metric": "api_down",
        "op": "above",
        "threshold": 2,
    },
    "callbacks_silent": {
        "label": "Callbacks silent for 10 min while calls are live",
        "name": "Callbacks silent",
        "metric": "callbacks_silent",
        "op": "above",
        "threshold": 10,
    },
    "recording_errors": {
        "label": "Recordings in error",
        "name": "Recordings in error",
        "metric": "recording_errors",
        "window_minutes": 60,
        "op": "above",
        "threshold": 0,
    },
}


def template_initial(key: str) -> dict:
    return {k: v for k, v in TEMPLATES.get(key, {}).items() if k != "label"}


class RuleForm(forms.ModelForm):
    window_minutes = forms.IntegerField(
        label="Window (minutes)",
        min_value=5,
        max_value=24 * 60,
        initial=15,
        help_text="5 minutes to 24 hours. Not used by metrics that are a state now.",
    )
    hold_minutes = forms.IntegerField(
        label="Hold for (minutes)",
        min_value=0,
        max_value=24 * 60,
        initial=0,
        required=False,
        help_text="The condition must hold this long before the rule fires.",
    )
    threshold = forms.FloatField(label="Threshold")
    param = forms.IntegerField(
        label="Metric's number",
        required=False,
        min_value=0,
        help_text="Minimum attempts (ASR, failed share), seconds (short calls), hours (stuck).",
    )
    active_from = forms.TimeField(
        label="Only from", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    active_to = forms.TimeField(
        label="Until", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    direction = forms.ChoiceField(
        required=False, choices=[("", "Both directions"), ("in", "Inbound"), ("out", "Outbound")]
    )
    view = forms.ModelChoiceField(
        label="Saved view",
        queryset=SavedView.objects.none(),
        required=False,
        help_text="Its filters are copied into the rule (not its time range, day of the "
        "week or hour: the rule's window and hours say when).",
    )

    class Meta:
        model = Rule
        fields = [
            "name",
            "enabled",
            "metric",
            "param",
            "window_minutes",
            "compare",
            "op",
            "threshold",
            "hold_minutes",
            "number",
            "direction",
            "tag",
            "active_from",
            "active_to",
            "time_zone",
            "emails",
            "webhook_url",
            "webhook_secret_env",
        ]
        labels = {
            "compare": "Compare",
            "op": "Fires when it is",
            "emails": "Email to",
            "webhook_url": "Webhook URL",
            "webhook_secret_env": "Signing secret (environment variable)",
            "time_zone": "Time zone of the hours",
        }
        help_texts = {
            "emails": "Addresses separated by commas.",
            "webhook_secret_env": "The name of the variable, e.g. ALERT_WEBHOOK_SECRET "
            "or ALERT_WEBHOOK_SECRET_OPS; the secret itself stays in the environment.",
        }
        widgets = {"emails": forms.TextInput()}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from django.db.models import Q

        if user is not None:
            self.fields["view"].queryset = SavedView.objects.filter(
                Q(shared=True) | Q(owner=user)
            ).order_by("name")
        self.fields["webhook_secret_env"].required = False

    def clean_threshold(self):
        value = self.cleaned_data["threshold"]
        if not math.isfinite(value) or abs(value) > 1e12:
            raise forms.ValidationError("Enter a finite number.")
        return value

    def clean_number(self):
        value = "".join(ch for ch in self.cleaned_data.get("number", "") if ch.isprintable())
        value = value.strip()
        if value and not (numbers.digits(value) or value.lower().startswith("sip:")):
            raise forms.ValidationError("Enter a phone number or a sip: address.")
        return value

    def clean_tag(self):
        return "".join(ch for ch in self.cleaned_data.get("tag", "") if ch.isprintable()).strip()

    def clean_time_zone(self):
        value = (self.cleaned_data.get("time_zone") or "UTC").strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError("Not a time zone name like Europe/Paris.") from None
        return value

    def clean_emails(self):
        found = notify.addresses(self.cleaned_data.get("emails", ""))
        for address in found:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"{address[:80]} is not an email address.") from None
        if len(found) > 20:
            raise forms.ValidationError("At most 20 addresses.")
        return ", ".join(found)

    def clean_webhook_url(self):
        url = (self.cleaned_data.get("webhook_url") or "").strip()
        if not url:
            return ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError("Only http:// and https:// URLs.")
        if parts.username or parts.password:
            raise forms.ValidationError(
                "No credentials in the URL: the signature authenticates the request."
            )
        local = notify.local_address_error(url)
        if local:
            raise forms.ValidationError(local)
        return url

    def clean_webhook_secret_env(self):
        return (self.cleaned_data.get("webhook_secret_env") or "").strip()

    def clean(self):
        data = super().clean()
        spec = metrics.METRICS.get(data.get("metric") or "")
        if spec is None:
            return data
        if data.get("hold_minutes") is None:
            data["hold_minutes"] = 0
        if data.get("compare") not in (None, "", Rule.Compare.VALUE) and not spec.comparable:
            self.add_error("compare", f"{spec.label} can only be compared by its value.")
        if spec.param_label:
            if data.get("param") is None:
                data["param"] = spec.param_default
            elif data["param"] > spec.param_max:
                self.add_error("param", f"At most {spec.param_max}.")
        else:
            data["param"] = None
        scoped = data.get("number") or data.get("direction") or data.get("tag") or data.get("view")
        if scoped and not spec.scoped:
            self.add_error("metric", f"{spec.label} is not about calls: it takes no scope.")
        if (data.get("active_from") is None) != (data.get("active_to") is None):
            self.add_error("active_to", "Give both ends of the hours, or neither.")
        elif data.get("active_from") is not None and data["active_from"] == data["active_to"]:
            self.add_error("active_to", "The hours are empty: the end is the start.")
        if data.get("webhook_url"):
            name = data.get("webhook_secret_env") or "ALERT_WEBHOOK_SECRET"
            data["webhook_secret_env"] = name
            if not notify.SECRET_NAME.match(name):
                self.add_error(
                    "webhook_secret_env",
                    "The name must be ALERT_WEBHOOK_SECRET or start with ALERT_WEBHOOK_SECRET_ "
                    "(capitals, digits and _).",
                )
            elif name not in settings.ALERT_WEBHOOK_SECRETS:
                self.add_error(
                    "webhook_secret_env",
                    f"{name} is not set in this server's environment; set it and restart.",
                )
        else:
            data["webhook_secret_env"] = ""
        return data

    def save(self, commit=True):
        rule = super().save(commit=False)
        view = self.cleaned_data.get("view")
        if view is not None:
            rule.view_name, rule.view_query = view.name, metrics.rule_query(view.query)
        if commit:
            rule.save()
        return rule


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    shared = forms.BooleanField(required=False, label="Share with everyone")

    def clean_name(self):
        name = "".join(ch for ch in self.cleaned_data["name"] if ch.isprintable()).strip()
        if not name:
            raise forms.ValidationError("Give the view a name.")
        return name

    def clean_query(self):
        """The calls list's filters, validated as the list validates them, and kept in a
        canonical form: only the filters' own names, no page position, no empty values."""
        from django.http import QueryDict

        from calls.filters import CallFilterForm

        raw = (self.cleaned_data.get("query") or "").lstrip("?")
        form = CallFilterForm(QueryDict(raw))
        if not form.is_valid():
            names = ", ".join(sorted(form.errors))
            raise forms.ValidationError(f"These filters are not valid: {names}.")
        kept = QueryDict(mutable=True)
        source = QueryDict(raw)
        for name in CallFilterForm.base_fields:
            if name in ("before", "after"):
                continue
            value = source.get(name, "")
            if value not in ("", None) and not (name == "match" and value == "auto"):
                kept[name] = value
        return kept.urlencode()


# The largest primary key (BigAutoField): a bigger number is no row, and no database
# takes it as a parameter.
MAX_ID = 2**63 - 1


class HistoryFilterForm(forms.Form):
    """The history page's query string: one rule's alerts, or everyone's."""

    rule = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            "invalid": "The rule is a number; showing every rule.",
            "min_value": "No such rule; showing every rule.",
            "max_value": "No such rule; showing every rule.",
        },
    )


class FromViewForm(forms.Form):
    """The rule form's `?view=`: the saved view to scope a new rule by (ignored if bad)."""

    view = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)


SILENCE_CHOICES = [
    ("15", "15 minutes"),
    ("60", "1 hour"),
    ("240", "4 hours"),
    ("1440", "24 hours"),
    ("10080", "7 days"),
]


class SilenceForm(forms.Form):
    minutes = forms.TypedChoiceField(choices=SILENCE_CHOICES, coerce=int)

    def duration(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["minutes"])
