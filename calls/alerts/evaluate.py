"""One evaluation of every rule: measure, move each rule through its lifecycle, notify.

    ok/no data/off hours --(condition met)--> pending --(held long enough)--> firing
    firing --(condition clears)--> resolved (back to ok)

A notification goes out once per change of state (firing, resolved), and while a rule
stays firing and nobody has acknowledged it, reminders follow further apart each time:
ALERT_RENOTIFY_MINUTES, then twice that, and so on up to ALERT_RENOTIFY_MAX_MINUTES.
A silenced rule goes through the same states but sends nothing until the silence ends.

Beat runs this every ALERT_EVALUATE_SECONDS (calls/alerts/tasks.py). `now` is a parameter
so tests can move time without sleeping.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from calls import locks
from calls.alerts import metrics, notify
from calls.alerts.models import Alert, Delivery, Rule

log = logging.getLogger(__name__)

LOCK_NAME = "alerts:evaluate"


@dataclass
class Summary:
    rules: int = 0
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: bool = False

    def line(self) -> str:
        if self.skipped:
            return "Alert evaluation skipped: another one is running"
        text = (
            f"Alert evaluation: {self.rules} rules, {len(self.fired)} fired, "
            f"{len(self.resolved)} resolved, {len(self.reminded)} reminders"
        )
        if self.errors:
            text += f", {len(self.errors)} could not be measured ({self.errors[0]})"
        return text


def run(now: datetime | None = None) -> Summary:
    """Evaluate every enabled rule (and disabled ones still firing, to resolve them)."""
    now = now or timezone.now()
    lock = _lock()
    if lock is False:
        summary = Summary(skipped=True)
        log.info(summary.line())
        return summary
    try:
        summary = _evaluate(now)
        notify.sweep(now)
    finally:
        if lock:
            locks.release(lock)
    log.info(summary.line())
    return summary


def _lock():
    """The evaluation lock; False when another evaluation holds it, None when Redis is
    unreachable (evaluating anyway is safe: each rule's step re-reads it under a row
    lock, so two evaluations never fire one rule twice)."""
    try:
        return (
            locks.try_acquire(LOCK_NAME, timeout=max(60, settings.ALERT_EVALUATE_SECONDS)) or False
        )
    except redis.RedisError:
        return None


def _evaluate(now: datetime) -> Summary:
    summary = Summary()
    reader = metrics.Reader(now)
    rules = list(Rule.objects.filter(Q(enabled=True) | Q(alert__isnull=False)))
    summary.rules = len(rules)
    for rule in rules:
        value, error = None, ""
        if rule.enabled:
            try:
                value = metrics.measure(reader, rule)
            except (DatabaseError, ValueError) as exc:
                error = f"{rule.name}: {exc}"
                log.warning("Alert rule %s could not be measured: %s", rule.pk, exc)
            except Exception as exc:
                # A bug in one metric must not stop the other rules from being evaluated.
                error = f"{rule.name}: unexpected {type(exc).__name__}"
                log.exception("Alert rule %s could not be measured", rule.pk)
            if error:
                summary.errors.append(error)
        outcome = step(rule.pk, value, now, error=bool(error))
        if outcome:
            getattr(summary, outcome).append(rule.pk)
    return summary


def condition_met(op: str, value: float, threshold: float) -> bool:
    return value > threshold if op == Rule.Op.ABOVE else value < threshold


def in_active_hours(rule: Rule, now: datetime) -> bool:
    if rule.active_from is None or rule.active_to is None:
        return True
    try:
        zone = zoneinfo.ZoneInfo(rule.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(zone).time()
    start, end = rule.active_from, rule.active_to
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # overnight, e.g. 22:00-06:00


def reminder_delay(reminders_sent: int) -> timedelta:
    """The wait before the next reminder: 15 min, 30, 60, ... capped."""
    minutes = settings.ALERT_RENOTIFY_MINUTES * (2**reminders_sent)
    return timedelta(minutes=min(minutes, settings.ALERT_RENOTIFY_MAX_MINUTES))


def step(rule_id: int, value: float | None, now: datetime, *, error: bool = False) -> str:
    """Move one rule on given its measured value; returns "fired", "resolved",
    "reminded" or "". The rule is re-read under a row lock, in one transaction with the
    alert and its deliveries: a state change and its notification are stored together."""
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return ""
        alert = Alert.objects.filter(pk=rule.alert_id).first() if rule.alert_id else None
        if alert is not None and alert.resolved_at is not None:
            alert = None
        if not rule.enabled:
            clear_state, met = Rule.State.OK, False
        elif not in_active_hours(rule, now):
            clear_state, met = Rule.State.OFF_HOURS, False
        elif value is None:
            clear_state, met = Rule.State.NO_DATA, False
        else:
            clear_state, met = Rule.State.OK, condition_met(rule.op, value, rule.threshold)
        outcome = ""
        if error and alert is not None:
            # A failed measurement says nothing: a firing rule stays firing.
            met, value = True, alert.last_value
        if met:
            rule.pending_since = rule.pending_since or now
            if alert is not None:
                rule.state = Rule.State.FIRING
                alert.last_value = value
                if alert.acked_at is None and alert.next_reminder_at <= now:
                    alert.reminders += 1
                    alert.next_reminder_at = now + reminder_delay(alert.reminders)
                    notify.queue(rule, alert, Delivery.Kind.REMINDER, now)
                    outcome = "reminded"
                alert.save(update_fields=["last_value", "reminders", "next_reminder_at"])
            elif now - rule.pending_since >= timedelta(minutes=rule.hold_minutes):
                alert = Alert.objects.create(
                    rule=rule,
                    rule_name=rule.name,
                    condition=rule.describe()[:300],
                    started_at=now,
                    value=value,
                    last_value=value,
                    next_reminder_at=now + reminder_delay(0),
                )
                rule.alert, rule.state = alert, Rule.State.FIRING
                notify.queue(rule, alert, Delivery.Kind.FIRING, now)
                outcome = "fired"
            else:
                rule.state = Rule.State.PENDING
        else:
            rule.pending_since = None
            rule.state = clear_state
            if alert is not None:
                alert.resolved_at = now
                alert.save(update_fields=["resolved_at"])
                rule.alert = None
                # Only someone who was told it fired needs to hear that it resolved.
                if alert.deliveries.exists():
                    notify.queue(rule, alert, Delivery.Kind.RESOLVED, now)
                outcome = "resolved"
        if not error:
            rule.value = value
        rule.evaluated_at = now
        rule.save(update_fields=["state", "value", "evaluated_at", "pending_since", "alert"])
    return outcome


def delete_rule(rule_id: int, now: datetime | None = None) -> bool:
    """Delete a rule; its open alert resolves first, with the resolved notification (sent
    only if the firing one was, as in step), so receivers hear it ended. Its alerts stay
    in the history under its name. Returns whether there was a rule."""
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return False
        alert = Alert.objects.filter(pk=rule.alert_id, resolved_at__isnull=True).first()
        if alert is not None:
            alert.resolved_at = now
            alert.save(update_fields=["resolved_at"])
            if alert.deliveries.exists():
                notify.queue(rule, alert, Delivery.Kind.RESOLVED, now)
        rule.delete()
    return True


def acknowledge(rule: Rule, username: str, now: datetime | None = None) -> Alert | None:
    """Stop the reminders of the rule's open alert (it still notifies when it resolves)."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=rule.alert_id).first()
        if alert is None or alert.resolved_at is not None or alert.acked_at is not None:
            return alert
        alert.acked_by, alert.acked_at = username, now
        alert.save(update_fields=["acked_by", "acked_at"])
    return alert


def silence(rule: Rule, username: str, until: datetime | None, now: datetime | None = None):
    """Send nothing for the rule until `until` (None lifts the silence)."""
    now = now or timezone.now()
    rule.silenced_until = until
    rule.silenced_by = username if until else ""
    rule.silenced_at = now if until else None
    rule.save(update_fields=["silenced_until", "silenced_by", "silenced_at"])
