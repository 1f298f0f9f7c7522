"""One sync cycle: bring the local Call and CallEvent tables up to date with Catapult.

The API has no "changed since" filter, so a cycle
1. walks the call list newest first, in pages of up to 1000, back to the newest start
   time of the last complete cycle minus a lookback, or further to the oldest call that
   is still live locally (bounded by SYNC_MAX_WALK_BACK_SECONDS);
2. upserts the calls it read, writing only rows whose payload changed;
3. fetches by id the live calls the walk did not reach;
4. reads the events of every call marked `events_pending` (new, changed state, or live),
   live and newest first, until the cycle's time budget is spent;
and records all of it in a SyncRun, failed cycles included.

Every write is an insert-or-update keyed on Catapult ids, so a cycle run twice, or two
cycles at once, leave the same rows. A Redis lock keeps cycles from overlapping anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls import bulk, locks
from calls.catapult import (
    CatapultClient,
    CatapultError,
    MalformedResponse,
    NotFound,
    RetryPolicy,
)
from calls.models import Call, CallEvent, SyncRun
from calls.payloads import call_fields, event_fields

log = logging.getLogger(__name__)

# Fields the sync owns on Call (all but identity and first-seen bookkeeping).
_CALL_FIELDS = [
    f.name
    for f in Call._meta.concrete_fields
    if f.name not in ("id", "catapult_id", "first_seen_at", "hangup_cause", "events_synced_at")
]
_EVENT_BATCH = 500  # calls whose events are written in one transaction (~4,000 events)


def sync_retry_policy() -> RetryPolicy:
    return RetryPolicy(attempts=settings.SYNC_MAX_RETRIES, rate_limit_waits=5)


def run_cycle(client: CatapultClient | None = None) -> SyncRun:
    """Run one cycle unless another is running. Always returns the SyncRun it wrote."""
    client = client or CatapultClient.from_settings(retry=sync_retry_policy())
    started = timezone.now()
    try:
        lock = locks.try_acquire(locks.SYNC_LOCK_NAME, settings.SYNC_LOCK_TIMEOUT_SECONDS)
    except redis.RedisError as exc:
        return _ended_run(
            started,
            SyncRun.Outcome.FAILED,
            f"Redis could not be reached for the sync lock ({type(exc).__name__})",
        )
    if lock is None:
        return _ended_run(started, SyncRun.Outcome.SKIPPED, "Another sync cycle was running")
    try:
        return _locked_cycle(client, started)
    finally:
        locks.release(lock)


def _ended_run(started: datetime, outcome: str, error: str) -> SyncRun:
    log.info("Sync cycle %s: %s", outcome, error)
    return SyncRun.objects.create(
        started_at=started, finished_at=timezone.now(), outcome=outcome, error=error
    )


def _locked_cycle(client: CatapultClient, started: datetime) -> SyncRun:
    _close_abandoned_runs(started)
    run = SyncRun.objects.create(started_at=started)
    requests_before = client.requests_made
    try:
        _sync(client, run)
        run.outcome = SyncRun.Outcome.SUCCESS if not run.error else SyncRun.Outcome.FAILED
    except CatapultError as exc:
        run.outcome = SyncRun.Outcome.FAILED
        run.error = str(exc)
    except Exception as exc:
        log.exception("Sync cycle failed unexpectedly")
        run.outcome = SyncRun.Outcome.FAILED
        run.error = f"Unexpected error in the sync ({type(exc).__name__}); see the worker log"
    run.api_requests = client.requests_made - requests_before
    run.finished_at = timezone.now()
    run.save()
    log.info("Sync cycle: %s", run.summary())
    return run


def _close_abandoned_runs(now: datetime) -> None:
    """Runs left 'running' by a worker that died are failed; old runs are pruned."""
    limit = now - timedelta(seconds=settings.SYNC_LOCK_TIMEOUT_SECONDS)
    SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING, started_at__lt=limit).update(
        outcome=SyncRun.Outcome.FAILED,
        finished_at=now,
        error="The worker stopped before the cycle finished",
    )
    keep_from = now - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
    SyncRun.objects.filter(started_at__lt=keep_from).delete()


def _sync(client: CatapultClient, run: SyncRun) -> None:
    deadline = time.monotonic() + settings.SYNC_LOCK_TIMEOUT_SECONDS / 2
    cutoff = walk_cutoff(run.started_at)
    seen = _walk(client, run, cutoff)
    _refresh_unreached_live_calls(client, run, seen)
    run.save()  # progress is visible while events are read
    _read_pending_events(client, run, deadline)


def walk_cutoff(now: datetime) -> datetime | None:
    """How far back this cycle's walk must go (None: all of history).

    Measured from the watermark, a start time the API itself wrote, so a clock that
    differs between us and Catapult moves nothing.
    """
    last = last_watermark()
    if last is None:
        if settings.SYNC_BACKFILL_DAYS:
            return now - timedelta(days=settings.SYNC_BACKFILL_DAYS)
        return None
    cutoff = last - timedelta(seconds=settings.SYNC_LOOKBACK_SECONDS)
    oldest_live = (
        Call.objects.filter(state__in=Call.LIVE_STATES)
        .order_by("start_time")
        .values_list("start_time", flat=True)
        .first()
    )
    if oldest_live is not None:
        # Walking back costs one request per page; fetching by id, one per call. Live
        # calls older than this bound are fetched by id instead.
        floor = last - timedelta(seconds=settings.SYNC_MAX_WALK_BACK_SECONDS)
        cutoff = min(cutoff, max(oldest_live, floor))
    return cutoff


def _walk(client: CatapultClient, run: SyncRun, cutoff: datetime | None) -> set[str]:
    seen: set[str] = set()
    newest = run.newest_start_time
    for page in client.list_calls(size=settings.SYNC_PAGE_SIZE, sort_order="desc"):
        run.pages += 1
        # Parse the whole page before writing any of it: a malformed item fails the
        # cycle without leaving half a page behind.
        rows = []
        for payload in page:
            if payload["id"] in seen:
                continue  # page drift: a call pushed down by new arrivals is read twice
            seen.add(payload["id"])
            rows.append(call_fields(payload))
        created, updated = upsert_calls(rows)
        run.calls_created += created
        run.calls_updated += updated
        starts = [row["start_time"] for row in rows if row["start_time"] is not None]
        if starts:
            newest = max(newest, max(starts)) if newest else max(starts)
        if cutoff is not None and starts and min(starts) < cutoff:
            break
    run.newest_start_time = newest or last_watermark()
    return seen


def last_watermark() -> datetime | None:
    """The newest call start time the last successful cycle saw."""
    return (
        SyncRun.objects.filter(outcome=SyncRun.Outcome.SUCCESS, newest_start_time__isnull=False)
        .order_by("-started_at")
        .values_list("newest_start_time", flat=True)
        .first()
    )


def _refresh_unreached_live_calls(client: CatapultClient, run: SyncRun, seen: set[str]) -> None:
    live_ids = Call.objects.filter(state__in=Call.LIVE_STATES).values_list("catapult_id", flat=True)
    missing = [call_id for call_id in live_ids if call_id not in seen]
    rows = [call_fields(client.get_call(call_id)) for call_id in missing]
    created, updated = upsert_calls(rows)
    run.calls_created += created
    run.calls_updated += updated


def upsert_calls(rows: list[dict]) -> tuple[int, int]:
    """Insert new calls and update changed ones (rows from payloads.call_fields).

    Returns (created, updated).
    """
    if not rows:
        return 0, 0
    now = timezone.now()
    existing = {
        c["catapult_id"]: c
        for c in Call.objects.filter(catapult_id__in=[r["catapult_id"] for r in rows]).values(
            "catapult_id", "raw", "state", "events_pending", "has_recording", "events_recheck_at"
        )
    }
    recheck_at = now + timedelta(seconds=settings.SYNC_LATE_EVENTS_SECONDS)
    created = updated = 0
    to_write = []
    for row in rows:
        old = existing.get(row["catapult_id"])
        if old is not None and old["raw"] == row["raw"]:
            continue  # unchanged: no write
        if old is None:
            created += 1
            pending, had_recording, recheck = True, False, None
        else:
            updated += 1
            pending = old["events_pending"] or old["state"] != row["state"]
            had_recording = old["has_recording"]
            recheck = old["events_recheck_at"]
            if old["state"] in Call.LIVE_STATES and row["state"] not in Call.LIVE_STATES:
                # It just ended while we watched: events may still trickle in (recording
                # saved, playback completed). Read them once more a little later.
                recheck = recheck_at
        to_write.append(
            {
                **row,
                "first_seen_at": now,
                "synced_at": now,
                "events_pending": pending,
                "has_recording": had_recording or row["recording_enabled"],
                "events_recheck_at": recheck,
                # Only for new rows: an update leaves both as they are (not _CALL_FIELDS).
                "hangup_cause": "",
                "events_synced_at": None,
            }
        )
    bulk.insert(Call, to_write, unique=["catapult_id"], update=_CALL_FIELDS)  # one transaction
    return created, updated


def _read_pending_events(client: CatapultClient, run: SyncRun, deadline: float) -> None:
    now = timezone.now()
    pending = (
        Call.objects.filter(Q(events_pending=True) | Q(events_recheck_at__lte=now))
        .order_by("-start_time", "-id")
        .values_list("id", "catapult_id", "state", "events_recheck_at")
    )
    batch: list[EventRead] = []
    failures: list[str] = []
    remaining = 0
    for pk, catapult_id, state, recheck_at in pending.iterator(chunk_size=2000):
        if time.monotonic() > deadline:
            remaining += 1
            continue
        try:
            events = [event_fields(e) for e in client.list_events(catapult_id)]
        except (MalformedResponse, NotFound) as exc:
            # One call's bad event list must not hold back every other call's; the call
            # stays pending and is read again next cycle. Outages still end the cycle.
            failures.append(f"{catapult_id}: {exc}")
            continue
        batch.append(EventRead(pk, state, recheck_at, events))
        if len(batch) >= _EVENT_BATCH:
            run.events_stored += store_events(batch)
            batch = []
    run.events_stored += store_events(batch)
    run.events_pending = remaining + len(failures)
    if failures:
        run.error = f"Events of {len(failures)} call(s) could not be read; first: {failures[0]}"


class EventRead(NamedTuple):
    """One call's event list as just read, with what decides its flags afterwards."""

    pk: int
    state: str
    recheck_at: datetime | None
    events: list[dict]


def store_events(batch: Iterable[EventRead]) -> int:
    """Insert the events not yet stored and settle each call's pending and recheck flags."""
    batch = list(batch)
    if not batch:
        return 0
    now = timezone.now()
    events = []
    flags = []
    for read in batch:
        events.extend({"call_id": read.pk, **event} for event in read.events)
        hangups = [e for e in read.events if e["name"] == "hangup"]
        cause = max(hangups, key=lambda e: e["time"])["data"][:64] if hangups else ""
        due = read.recheck_at is not None and read.recheck_at <= now
        flags.append(
            {
                "pk": read.pk,
                "events_pending": read.state in Call.LIVE_STATES,
                "events_synced_at": now,
                "events_recheck_at": None if due else read.recheck_at,
                "hangup_cause": cause,
            }
        )
    with transaction.atomic():
        # Events already stored are skipped by the unique (call, event id) constraint.
        stored = bulk.insert(CallEvent, events, unique=["call_id", "catapult_id"])
        bulk.update(Call, flags)
    return stored


def refresh_call(client: CatapultClient, catapult_id: str, *, quiet: bool = False) -> Call | None:
    """Fetch one call and its events now ("refresh now", a just-placed call).

    With quiet=True an API failure returns what we have instead of raising: the next
    cycle brings the call anyway.
    """
    try:
        upsert_calls([call_fields(client.get_call(catapult_id))])
        call = Call.objects.get(catapult_id=catapult_id)
        events = [event_fields(e) for e in client.list_events(catapult_id)]
    except CatapultError:
        if not quiet:
            raise
        return Call.objects.filter(catapult_id=catapult_id).first()
    store_events([EventRead(call.pk, call.state, call.events_recheck_at, events)])
    call.refresh_from_db()
    return call
