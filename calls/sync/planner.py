"""What a sync cycle reads, most urgent first, and the queues it reads from.

The budget (calls.catapult.budget) decides *when* a request may go; the planner decides
*what* is worth a request. In a cycle, after the list (the state of every call):

1. ENDED / LATE: events of calls that ended, one read each, a little after the hangup;
2. BACKFILL: older list pages, newest first, then the events of those calls;
3. LIVE: events of live calls someone has open, when budget is spare.

Callbacks and the list carry the state; event reads only fill in timelines, so they come
after it and wait when the budget is short. Each queue is one indexed query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from calls.catapult.budget import Priority
from calls.locks import redis_client
from calls.models import Call

WATCHED_KEY = "calls:watched"  # sorted set: call id -> until when someone has it open
WATCH_SECONDS = 30


@dataclass(frozen=True)
class Pending:
    """One call whose events are to be read, with what its read decides afterwards."""

    pk: int
    catapult_id: str
    state: str
    due_at: datetime | None
    cause: str
    level: Priority


class Deadline:
    """A cycle's time budget: no request is started once it has passed."""

    def __init__(self, seconds: float):
        self.ends = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.ends


_FIELDS = ("pk", "catapult_id", "state", "events_due_at", "hangup_cause", "events_synced_at")


def _pending(rows, level_of) -> Iterator[Pending]:
    try:
        for pk, catapult_id, state, due_at, cause, synced_at in rows:
            yield Pending(pk, catapult_id, state, due_at, cause, level_of(due_at, synced_at))
    finally:
        close = getattr(rows, "close", None)  # a query iterator: its cursor, now
        if close:
            close()


def due_reads(now: datetime | None = None) -> Iterator[Pending]:
    """Calls that ended and whose events read is due, longest waiting first."""
    now = now or timezone.now()
    rows = (
        Call.objects.filter(events_due_at__lte=now)
        .order_by("events_due_at", "pk")
        .values_list(*_FIELDS)
    )

    def level(due_at, synced_at):
        # Read already once since it ended (an operator opened it): this is the re-read.
        return Priority.LATE if synced_at and synced_at >= due_at - _late() else Priority.ENDED

    return _pending(rows.iterator(chunk_size=500), level)


def backfill_reads() -> Iterator[Pending]:
    """Calls of the history whose events were never read, newest first."""
    rows = (
        Call.objects.filter(events_pending=True, events_due_at__isnull=True)
        .exclude(state__in=Call.LIVE_STATES)
        .order_by("-start_time", "-id")
        .values_list(*_FIELDS)
    )
    return _pending(rows.iterator(chunk_size=500), lambda *_: Priority.BACKFILL)


def live_reads(now: datetime | None = None) -> Iterator[Pending]:
    """Live calls someone has open whose events were not read for a while."""
    now = now or timezone.now()
    ids = watched_calls()
    if not ids:
        return _pending((), lambda *_: Priority.LIVE)
    stale = now - timedelta(seconds=settings.SYNC_LIVE_EVENTS_SECONDS)
    rows = (
        Call.objects.filter(catapult_id__in=ids, state__in=Call.LIVE_STATES)
        .filter(Q(events_synced_at__isnull=True) | Q(events_synced_at__lt=stale))
        .order_by(F("events_synced_at").asc(nulls_first=True))
        .values_list(*_FIELDS)
    )
    return _pending(rows, lambda *_: Priority.LIVE)


def _late() -> timedelta:
    return timedelta(seconds=settings.SYNC_LATE_EVENTS_SECONDS)


# --- who has which call open --------------------------------------------------------------


def watch(catapult_id: str) -> None:
    """Someone has this call's page open (its timeline polls call this)."""
    # Without Redis nothing is read for it early; the due read still comes.
    with contextlib.suppress(redis.RedisError):
        redis_client().zadd(WATCHED_KEY, {catapult_id: time.time() + WATCH_SECONDS})


def watched_calls() -> list[str]:
    try:
        client = redis_client()
        now = time.time()
        client.zremrangebyscore(WATCHED_KEY, "-inf", now)
        return [member.decode() for member in client.zrangebyscore(WATCHED_KEY, now, "+inf")]
    except redis.RedisError:
        return []


def events_backlog(now: datetime | None = None) -> dict[str, int]:
    """How many calls' events wait, by queue (for the status line and the sync page)."""
    now = now or timezone.now()
    ended = Call.objects.filter(events_due_at__lte=now).count()
    history = (
        Call.objects.filter(events_pending=True, events_due_at__isnull=True)
        .exclude(state__in=Call.LIVE_STATES)
        .count()
    )
    return {"ended": ended, "history": history}
