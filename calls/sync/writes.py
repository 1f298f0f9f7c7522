"""Idempotent writes of calls and events: insert-or-update on Catapult ids.

Every writer of call state goes through here: the list walk, by-id refreshes, events
reads, and callbacks (calls.sync.callbacks). Writes are safe to repeat, and a state
never goes backwards: a final state (completed, rejected, error) is final, and an
answered call does not ring again, so a list page read just before a hangup callback
cannot undo what the callback wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls import push
from calls.models import Call, CallEvent
from calls.sync import bulk

# Fields the sync owns on Call (all but identity and first-seen bookkeeping).
CALL_FIELDS = [
    f.name
    for f in Call._meta.concrete_fields
    if f.name not in ("id", "catapult_id", "first_seen_at", "hangup_cause", "events_synced_at")
]

_LIVE_SQL = ", ".join(f"'{state}'" for state in Call.LIVE_STATES)
_NO_REGRESSION = (
    f"NOT ((calls_call.state NOT IN ({_LIVE_SQL}) AND excluded.state IN ({_LIVE_SQL}))"
    " OR (calls_call.state IN ('active', 'transferring') AND excluded.state = 'started'))"
)


def goes_backwards(old: str, new: str) -> bool:
    """True when `new` would undo a state change already seen (a stale read)."""
    if is_final(old):
        return new in Call.LIVE_STATES
    return old in ("active", "transferring") and new == "started"


def is_final(state: str) -> bool:
    # An unknown state is not live: nothing says it will change, so it is treated as an
    # end (its events are read once) rather than watched forever.
    return state not in Call.LIVE_STATES


def events_due(end_time: datetime | None, now: datetime) -> datetime:
    """When to read the events of a call that ended: a little after its end, so that one
    read also brings the events the platform adds after the hangup. (An end time ahead of
    our clock, Catapult's clock being ahead, counts from our now instead.)"""
    end = min(end_time or now, now)
    return end + timedelta(seconds=settings.SYNC_LATE_EVENTS_SECONDS)


def upsert_calls(rows: list[dict], *, history: bool = False) -> tuple[int, int]:
    """Insert new calls and update changed ones (rows from payloads.call_fields).

    `history`: the rows come from the backfill; their events wait in the backfill queue
    instead of being due now. Returns (created, updated).
    """
    if not rows:
        return 0, 0
    now = timezone.now()
    existing = {
        c["catapult_id"]: c
        for c in Call.objects.filter(catapult_id__in=[r["catapult_id"] for r in rows]).values(
            "catapult_id",
            "raw",
            "state",
            "events_pending",
            "has_recording",
            "events_due_at",
            "state_changed_at",
        )
    }
    created = updated = 0
    to_write = []
    for row in rows:
        old = existing.get(row["catapult_id"])
        if old is not None and (
            old["raw"] == row["raw"] or goes_backwards(old["state"], row["state"])
        ):
            continue  # unchanged, or a stale read: no write
        final = is_final(row["state"])
        if old is None:
            created += 1
            pending, had_recording, changed_at = True, False, now
            due = events_due(row["end_time"], now) if final and not history else None
        else:
            updated += 1
            changed = old["state"] != row["state"]
            pending = old["events_pending"] or changed
            had_recording = old["has_recording"]
            changed_at = now if changed else old["state_changed_at"]
            due = old["events_due_at"]
            if changed and final:
                # It just ended: read its events once, a little later.
                due = events_due(row["end_time"], now)
        to_write.append(
            {
                **row,
                "first_seen_at": now,
                "synced_at": now,
                "events_pending": pending,
                "has_recording": had_recording or row["recording_enabled"],
                "events_due_at": due,
                "state_changed_at": changed_at,
                # Only for new rows: an update leaves both as they are (not CALL_FIELDS).
                "hangup_cause": "",
                "events_synced_at": None,
            }
        )
    # The guard repeats goes_backwards() in SQL: a callback may have moved the call on
    # between the read of `existing` above and this write.
    bulk.insert(
        Call, to_write, unique=["catapult_id"], update=CALL_FIELDS, update_where=_NO_REGRESSION
    )
    if to_write:
        _announce({row["catapult_id"]: row["state"] for row in to_write})
    return created, updated


def _announce(calls: dict[str, str]) -> None:
    """Tell open pages, once the rows are committed (a page reading before would not see
    them)."""
    transaction.on_commit(lambda: push.publish("call", calls))


class EventRead(NamedTuple):
    """One call's event list as just read, with what decides its flags afterwards."""

    pk: int
    state: str
    due_at: datetime | None
    cause: str  # the hangup cause stored now (kept when the list names none)
    events: list[dict]
    started_at: datetime  # when the read was sent: older callback entries are in it
    catapult_id: str = ""  # for the announcement to open pages


def store_events(batch: Iterable[EventRead]) -> int:
    """Insert the events not yet stored, replace the callback entries the read covers, and
    settle each call's pending and due flags. Returns the events stored."""
    batch = list(batch)
    if not batch:
        return 0
    now = timezone.now()
    events = []
    flags = []
    for read in batch:
        events.extend(
            {"call_id": read.pk, "source": CallEvent.Source.API, "received_at": None, **event}
            for event in read.events
        )
        hangups = [e for e in read.events if e["name"] == "hangup"]
        cause = max(hangups, key=lambda e: e["time"])["data"][:64] if hangups else read.cause
        final = is_final(read.state)
        # A read before the due time (an operator opened the call just after the hangup)
        # leaves the due read in place: that one catches the late events.
        keep_due = read.due_at is not None and read.due_at > now
        flags.append(
            {
                "pk": read.pk,
                "events_pending": not final,
                "events_synced_at": now,
                "events_due_at": read.due_at if keep_due else None,
                "hangup_cause": cause,
            }
        )
    started = {read.pk: read.started_at for read in batch}
    with transaction.atomic():
        # Callback entries received before a read began are in what it read: the list's
        # own entries replace them. (Usually none: one query finds out.)
        covered = [
            pk
            for pk, call_id, received in CallEvent.objects.filter(
                call_id__in=list(started), source=CallEvent.Source.CALLBACK
            ).values_list("pk", "call_id", "received_at")
            if received is not None and received <= started[call_id]
        ]
        if covered:
            CallEvent.objects.filter(pk__in=covered).delete()
        # Events already stored are skipped by the unique (call, event id) constraint.
        stored = bulk.insert(CallEvent, events, unique=["call_id", "catapult_id"])
        bulk.update(Call, flags)
    named = {read.catapult_id: read.state for read in batch if read.catapult_id}
    if named:
        _announce(named)
    return stored
