from django.conf import settings
from django.db import models
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse

from calls.alerts import metrics


class SavedView(models.Model):
    """A named set of calls-list filters: the list's query string, as CallFilterForm
    validated it. Personal (only its owner sees it) or shared (everyone does)."""

    name = models.CharField(max_length=80)
    query = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_unique_name"),
        ]
        indexes = [
            # The navigation, on every page: everything shared, plus the viewer's own
            # (served by the unique constraint's (owner, name) index).
            models.Index(fields=["name"], condition=Q(shared=True), name="savedview_shared_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        base = reverse("calls:list")
        return f"{base}?{self.query}" if self.query else base

    def filters(self) -> QueryDict:
        return QueryDict(self.query)


class Rule(models.Model):
    """A condition on one metric that an admin wants to hear about."""

    class Compare(models.TextChoices):
        VALUE = "value", "its value"
        PREVIOUS = "previous", "its % change on the window before"
        LAST_WEEK = "last_week", "its % change on the same window a week ago"

    class Op(models.TextChoices):
        ABOVE = "above", "above"
        BELOW = "below", "below"

    class State(models.TextChoices):
        OK = "ok", "OK"
        PENDING = "pending", "Pending (condition met, waiting for the hold time)"
        FIRING = "firing", "Firing"
        NO_DATA = "no_data", "Not enough data"
        OFF_HOURS = "off_hours", "Outside its hours"

    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    metric = models.CharField(max_length=32, choices=metrics.CHOICES)
    # The metric's own number (minimum attempts, seconds, hours); see metrics.METRICS.
    param = models.PositiveIntegerField(null=True, blank=True)
    window_minutes = models.PositiveIntegerField(default=15)
    compare = models.CharField(max_length=16, choices=Compare.choices, default=Compare.VALUE)
    op = models.CharField(max_length=8, choices=Op.choices, default=Op.ABOVE)
    threshold = models.FloatField()
    hold_minutes = models.PositiveIntegerField(default=0)
    # Scope (calls metrics only). The view's filters are copied, not linked: a rule
    # keeps meaning the same when the view is edited or deleted.
    number = models.CharField(max_length=64, blank=True)
    direction = models.CharField(max_length=3, blank=True)
    tag = models.CharField(max_length=200, blank=True)
    view_name = models.CharField(max_length=80, blank=True)
    view_query = models.TextField(blank=True)
    # Only checked between these local times (e.g. "no calls at all" during office hours).
    active_from = models.TimeField(null=True, blank=True)
    active_to = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    # Where notifications go. Webhook signing secrets are never stored: the rule names
    # the environment variable that holds one (see README: Alerts).
    emails = models.TextField(blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret_env = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    # What the last evaluation found.
    state = models.CharField(max_length=16, choices=State.choices, default=State.OK)
    value = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # When the condition started to hold (the hold time counts from here).
    pending_since = models.DateTimeField(null=True, blank=True)
    # The open alert while firing.
    alert = models.ForeignKey(
        "Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    silenced_until = models.DateTimeField(null=True, blank=True)
    silenced_by = models.CharField(max_length=150, blank=True)
    silenced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self) -> metrics.Metric:
        return metrics.METRICS[self.metric]

    def silenced(self, now) -> bool:
        return self.silenced_until is not None and self.silenced_until > now

    @property
    def firing(self) -> bool:
        return self.state == self.State.FIRING

    @property
    def is_silenced(self) -> bool:
        from django.utils import timezone

        return self.silenced(timezone.now())

    @property
    def shown_value(self) -> str:
        from calls.alerts.notify import format_value

        if self.evaluated_at is None:
            return "not evaluated yet"
        unit = "%" if self.compare != self.Compare.VALUE else self.spec.unit
        return format_value(self.value, unit)

    @property
    def webhook_host(self) -> str:
        from calls.alerts.notify import url_host

        return url_host(self.webhook_url) if self.webhook_url else ""

    def describe(self) -> str:
        """The condition in words, e.g. "ASR (%) over 60 min below 50, held 5 min"."""
        spec = self.spec
        text = spec.label
        if spec.param_label and self.param is not None:
            text += f" ({spec.param_label.lower()} {self.param})"
        if spec.windowed:
            text += f" over {self.window_minutes} min"
        if self.compare != self.Compare.VALUE:
            text += f", {self.get_compare_display()},"
        text += f" {self.op} {self.threshold:g}"
        if self.compare != self.Compare.VALUE:
            text += " %"
        elif spec.unit:
            text += f" {spec.unit}"
        if self.hold_minutes:
            text += f" for {self.hold_minutes} min"
        return text

    def scope_words(self) -> str:
        parts = []
        if self.view_name:
            parts.append(f"view “{self.view_name}”")
        if self.number:
            parts.append(f"number {self.number}")
        if self.direction:
            parts.append({"in": "inbound", "out": "outbound"}.get(self.direction, self.direction))
        if self.tag:
            parts.append(f"tag contains “{self.tag}”")
        if self.active_from is not None and self.active_to is not None:
            parts.append(f"{self.active_from:%H:%M}–{self.active_to:%H:%M} {self.time_zone}")
        return ", ".join(parts)


class Alert(models.Model):
    """One firing of a rule, from the moment it fired to the moment it resolved."""

    rule = models.ForeignKey(Rule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    rule_name = models.CharField(max_length=120)  # kept when the rule is deleted
    condition = models.CharField(max_length=300)  # the rule's condition in words, then
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)  # when it fired
    last_value = models.FloatField(null=True, blank=True)
    acked_by = models.CharField(max_length=150, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    # Reminders while it stays firing, further apart each time (see evaluate.py).
    reminders = models.PositiveIntegerField(default=0)
    next_reminder_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # History page, newest first: keyset on (started_at, id).
            models.Index(fields=["-started_at", "-id"], name="alert_newest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def open(self) -> bool:
        return self.resolved_at is None


class Delivery(models.Model):
    """One notification of one alert state change to one destination (an email to the
    rule's addresses, or its webhook), with every attempt recorded."""

    class Kind(models.TextChoices):
        FIRING = "firing", "Firing"
        REMINDER = "reminder", "Still firing"
        RESOLVED = "resolved", "Resolved"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"
        SENT = "sent", "Delivered"
        FAILED = "failed", "Failed (no more retries)"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.TextField()  # addresses, or the webhook URL
    secret_env = models.CharField(max_length=64, blank=True)  # the name only, never a value
    # The message, built once: every retry sends the same body.
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    # A worker that takes an attempt holds it until then: two workers (a retry and the
    # sweep for lost tasks) never send the same attempt twice.
    claimed_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The evaluation's sweep for deliveries whose task was lost.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_pending_idx",
            ),
            models.Index(fields=["alert", "created_at"], name="delivery_alert_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel}: {self.status}"

    @property
    def shown_target(self) -> str:
        """Webhook URLs often carry a token in their path: pages show the host only."""
        if self.channel == self.Channel.WEBHOOK:
            from calls.alerts.notify import url_host

            return url_host(self.target)
        return self.target


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["delivery", "at"], name="attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {'ok' if self.ok else 'failed'}"
