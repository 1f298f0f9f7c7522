"""Pruning what is kept only for a while: sync runs, callback deliveries, resolved alerts
with their notifications (ALERT_RETENTION_DAYS), and optionally calls and their events
(CALL_RETENTION_DAYS).

Deletes go in small batches, each its own short transaction, so the sync and the
callbacks writing beside them never wait long for a lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls.alerts.models import Alert, Delivery, DeliveryAttempt
from calls.models import Call, CallbackEvent, CallEvent, SyncRun

log = logging.getLogger(__name__)

BATCH = 1000


def prune(now=None) -> dict[str, int]:
    """Delete what is past its retention. Returns rows deleted per table."""
    now = now or timezone.now()
    deleted = {
        "sync_runs": _in_batches(
            SyncRun.objects.filter(
                started_at__lt=now - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
            )
        ),
        "callback_events": _in_batches(
            CallbackEvent.objects.filter(
                received_at__lt=now - timedelta(days=settings.CALLBACK_RETENTION_DAYS)
            )
        ),
    }
    # Resolved alerts only (an open one is never old enough), their notifications and
    # attempts first, so no batch cascades into thousands of rows.
    old_alerts = Alert.objects.filter(
        resolved_at__lt=now - timedelta(days=settings.ALERT_RETENTION_DAYS)
    )
    old_deliveries = Delivery.objects.filter(alert__in=old_alerts)
    deleted["delivery_attempts"] = _in_batches(
        DeliveryAttempt.objects.filter(delivery__in=old_deliveries)
    )
    deleted["deliveries"] = _in_batches(old_deliveries)
    deleted["alerts"] = _in_batches(old_alerts)
    if settings.CALL_RETENTION_DAYS:
        cutoff = now - timedelta(days=settings.CALL_RETENTION_DAYS)
        # Ended calls only: a call still live is never old enough to forget.
        old_calls = Call.objects.filter(start_time__lt=cutoff).exclude(state__in=Call.LIVE_STATES)
        deleted["events"] = _in_batches(CallEvent.objects.filter(call__in=old_calls))
        deleted["calls"] = _in_batches(old_calls)
    log.info("Pruned %s", ", ".join(f"{n} {name}" for name, n in deleted.items()))
    return deleted


def _in_batches(queryset) -> int:
    total = 0
    model = queryset.model
    while True:
        pks = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not pks:
            return total
        with transaction.atomic():
            count, _ = model.objects.filter(pk__in=pks).delete()
        total += len(pks) if count else 0
