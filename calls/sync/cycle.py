"""One sync cycle: bring the local Call and CallEvent tables up to date with Catapult.

Beat starts a cycle every SYNC_INTERVAL_SECONDS; a cycle spends at most
SYNC_CYCLE_SECONDS, in the order of calls.sync.planner:

1. LIST: the call list newest first, back to the newest start time the last walk saw
   (minus a lookback), or further to the oldest call still live locally (bounded; older
   live calls are fetched by id). Normally that is the first page alone: the state of
   every recent call for one request. The API has no "changed since" filter.
2. ENDED / LATE: the events of calls that ended, one read each, a little after the end.
3. BACKFILL: older history pages, newest first, from where the last cycle stopped, then
   the events of those calls.
4. LIVE: events of live calls someone has open, with what budget is left.

Every write is an insert-or-update keyed on Catapult ids, so a cycle run twice, or two
cycles at once, leave the same rows. A Redis lock keeps cycles from overlapping anyway.
A request that fails costs only what depended on it: the cycle goes on with the rest,
ends "partial" rather than "failed" when it made progress, and the next one continues.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone

from calls import locks, metrics, push
from calls.catapult import (
    CatapultClient,
    CatapultError,
    ConnectionFailed,
    MalformedResponse,
    NotFound,
    RetryPolicy,
)
from calls.catapult.budget import Priority
from calls.models import Call, SyncRun, SyncState
from calls.sync import planner
from calls.sync.payloads import call_fields, event_fields, sanitize
from calls.sync.writes import EventRead, store_events, upsert_calls

log = logging.getLogger(__name__)

_EVENT_BATCH = 500  # calls whose events are written in one transaction (~4,000 events)
_WARNINGS_KEPT = 5  # odd records named in a run's warning text


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
    before = (client.requests_made, client.successes, client.failures, client.rate_limited)
    cycle = Cycle(client, run, planner.Deadline(settings.SYNC_CYCLE_SECONDS))
    try:
        cycle.run()
    except Exception as exc:
        log.exception("Sync cycle failed unexpectedly")
        cycle.problem(f"Unexpected error in the sync ({type(exc).__name__}); see the worker log")
    run.api_requests = client.requests_made - before[0]
    run.api_errors = client.failures - before[2]
    run.rate_limited = client.rate_limited - before[3]
    progress = client.successes > before[1]
    if not run.error:
        run.outcome = SyncRun.Outcome.SUCCESS
    else:
        run.outcome = SyncRun.Outcome.PARTIAL if progress else SyncRun.Outcome.FAILED
    run.finished_at = timezone.now()
    run.save()
    push.publish("status")
    metrics.count("catapult_sync_cycles_total", outcome=run.outcome)
    metrics.flush()
    log.info("Sync cycle: %s", run.summary())
    return run


def _close_abandoned_runs(now: datetime) -> None:
    """Runs left 'running' by a worker that died are failed. (Old runs are pruned by the
    hourly retention task, calls.retention, not by every cycle.)"""
    limit = now - timedelta(seconds=settings.SYNC_LOCK_TIMEOUT_SECONDS)
    SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING, started_at__lt=limit).update(
        outcome=SyncRun.Outcome.FAILED,
        finished_at=now,
        error="The worker stopped before the cycle finished",
    )


class Cycle:
    """One cycle's work, phase by phase (see the module docstring)."""

    def __init__(self, client: CatapultClient, run: SyncRun, deadline: planner.Deadline):
        self.client = client
        self.run_row = run
        self.deadline = deadline
        self.down = False  # the API could not be reached: stop sending
        self.page_starts: list = []  # start times of every call on the page just read

    def run(self) -> None:
        with self.client.at(Priority.LIST):
            seen = self.walk()
            self.refresh_unreached_live_calls(seen)
        self.run_row.save()  # progress is visible while events are read
        self.read_events(planner.due_reads())
        self.backfill()
        self.read_events(planner.backfill_reads())
        self.read_events(planner.live_reads())
        self.run_row.events_pending = sum(planner.events_backlog().values())
        if self.client.skipped_items:
            self.warn(len(self.client.skipped_items), self.client.skipped_items[0])

    def can_send(self) -> bool:
        return not self.down and not self.deadline.passed()

    # -- reporting ----------------------------------------------------------------------

    def problem(self, text: str) -> None:
        run = self.run_row
        if not run.error:
            run.error = text
        elif not run.error.endswith(" (and more)"):
            run.error += " (and more)"

    def failed(self, exc: CatapultError, what: str) -> None:
        if isinstance(exc, ConnectionFailed):
            self.down = True
        self.problem(f"{what}: {exc}")

    def warn(self, count: int, first: str) -> None:
        run = self.run_row
        if run.warnings < _WARNINGS_KEPT:
            run.warning = (run.warning + "\n" if run.warning else "") + first[:300]
        run.warnings += count

    def note_oddities(self, rows: list[dict]) -> None:
        for row in rows:
            if row.get("oddities"):
                self.warn(1, f"{row['catapult_id']}: {'; '.join(row['oddities'])}")

    # -- 1. the list --------------------------------------------------------------------

    def walk(self) -> set[str]:
        """Newest pages back to the cutoff. Sets the watermark once the walk got there."""
        run = self.run_row
        seen: set[str] = set()
        first_cycle = last_watermark() is None
        cutoff = walk_cutoff(run.started_at)
        newest = None
        reached = False
        try:
            pages = self.client.list_calls(size=settings.SYNC_PAGE_SIZE, sort_order="desc")
            for page in pages:
                run.pages += 1
                rows = self._rows(page, seen)
                self._write(rows)
                starts = self.page_starts  # of every call on the page, parsed or not
                if starts:
                    newest = max(newest, max(starts)) if newest else max(starts)
                if first_cycle:
                    # History is the backfill's work, with what budget live work leaves.
                    _start_backfill(self.client.next_page_url)
                    reached = True
                    break
                # No deadline here: the list is the state of every call, and the walk
                # only goes as deep as what changed since the last one.
                if cutoff is not None and starts and min(starts) < cutoff:
                    reached = True
                    break
            else:
                reached = True  # the whole list was read
        except CatapultError as exc:
            self.failed(exc, "Reading the call list")
        if reached:
            run.list_read = True
            run.newest_start_time = newest or last_watermark()
        return seen

    def _rows(self, page: list[dict], seen: set[str]) -> list[dict]:
        now = timezone.now()
        fresh = [p for p in page if p["id"] not in seen]  # page drift reads some twice
        seen.update(p["id"] for p in fresh)
        # Most of a page read again is unchanged: what the database already holds as sent
        # needs no parsing (the newest page is read every cycle, a thousand calls).
        stored = {
            catapult_id: (raw, start)
            for catapult_id, raw, start in Call.objects.filter(
                catapult_id__in=[p["id"] for p in fresh]
            ).values_list("catapult_id", "raw", "start_time")
        }
        rows, self.page_starts = [], []
        for payload in fresh:
            known = stored.get(payload["id"])
            if known is not None and known[0] == sanitize(payload):
                self.page_starts.append(known[1])
                continue
            row = call_fields(payload, fallback_time=now)
            rows.append(row)
            self.page_starts.append(row["start_time"])
        self.note_oddities(rows)
        return rows

    def _write(self, rows: list[dict], *, history: bool = False) -> None:
        created, updated = upsert_calls(rows, history=history)
        self.run_row.calls_created += created
        self.run_row.calls_updated += updated

    def refresh_unreached_live_calls(self, seen: set[str]) -> None:
        live_ids = Call.objects.filter(state__in=Call.LIVE_STATES).values_list(
            "catapult_id", flat=True
        )
        for call_id in [call_id for call_id in live_ids if call_id not in seen]:
            if not self.can_send():
                return
            try:
                payload = self.client.get_call(call_id)
            except CatapultError as exc:
                self.failed(exc, f"Reading live call {call_id}")
                continue
            self._write(self._rows([payload], seen))

    # -- 3. history ---------------------------------------------------------------------

    def backfill(self) -> None:
        state = SyncState.get()
        if not state.backfill_next_url or not self.can_send():
            return
        cutoff = _backfill_cutoff()
        seen: set[str] = set()
        with self.client.at(Priority.BACKFILL):
            try:
                pages = self.client.list_calls(start_url=state.backfill_next_url)
                for page in pages:
                    rows = self._rows(page, seen)
                    self._write(rows, history=True)
                    self.run_row.backfill_pages += 1
                    state.backfill_calls += len(self.page_starts)
                    starts = self.page_starts
                    if starts:
                        oldest = min(starts)
                        if state.backfill_oldest is None or oldest < state.backfill_oldest:
                            state.backfill_oldest = oldest
                    state.backfill_next_url = self.client.next_page_url or ""
                    if cutoff is not None and starts and min(starts) < cutoff:
                        state.backfill_next_url = ""
                    if not state.backfill_next_url:
                        state.backfill_done_at = timezone.now()
                    state.save()
                    if not state.backfill_next_url or not self.can_send():
                        return
            except CatapultError as exc:
                self.failed(exc, "Reading history")

    # -- 2 and 4. events ----------------------------------------------------------------

    def read_events(self, queue) -> None:
        batch: list[EventRead] = []
        try:
            for pending in queue:
                if not self.can_send():
                    break
                read = self._read_one(pending)
                if read is not None:
                    batch.append(read)
                if len(batch) >= _EVENT_BATCH:
                    self.run_row.events_stored += store_events(batch)
                    batch = []
        finally:
            # Close the queue's server-side cursor (PostgreSQL) now, between queries: left
            # to the garbage collector, it would close in the middle of another query.
            queue.close()
            self.run_row.events_stored += store_events(batch)

    def _read_one(self, pending: planner.Pending) -> EventRead | None:
        started = timezone.now()
        try:
            with self.client.at(pending.level):
                payloads = self.client.list_events(pending.catapult_id)
        except NotFound:
            # The API no longer has the call's events: nothing to wait for.
            Call.objects.filter(pk=pending.pk).update(events_pending=False, events_due_at=None)
            self.warn(1, f"{pending.catapult_id}: the API has no events for this call")
            return None
        except MalformedResponse as exc:
            # One call's unusable event list must not hold back every other call's: it is
            # tried again later, after the others.
            later = started + timedelta(seconds=settings.SYNC_RETRY_EVENTS_SECONDS)
            Call.objects.filter(pk=pending.pk).update(events_due_at=later)
            self.failed(exc, f"Events of {pending.catapult_id}")
            return None
        except CatapultError as exc:
            self.failed(exc, f"Events of {pending.catapult_id}")
            return None
        events = [event_fields(e, fallback_time=started) for e in payloads]
        odd = [e for e in events if e["oddity"]]
        if odd:
            first = odd[0]
            self.warn(
                len(odd), f"{pending.catapult_id} event {first['catapult_id']}: {first['oddity']}"
            )
        return EventRead(
            pending.pk,
            pending.state,
            pending.due_at,
            pending.cause,
            events,
            started,
            pending.catapult_id,
        )


def _start_backfill(next_url: str | None) -> None:
    state = SyncState.get()
    state.backfill_started_at = timezone.now()
    state.backfill_next_url = next_url or ""
    if not next_url:
        state.backfill_done_at = state.backfill_started_at
    state.save()


def _backfill_cutoff() -> datetime | None:
    if not settings.SYNC_BACKFILL_DAYS:
        return None
    return timezone.now() - timedelta(days=settings.SYNC_BACKFILL_DAYS)


def walk_cutoff(now: datetime) -> datetime | None:
    """How far back this cycle's walk must go (None: the first cycle, page one only).

    Measured from the watermark, a start time the API itself wrote, so a clock that
    differs between us and Catapult moves nothing.
    """
    last = last_watermark()
    if last is None:
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


def last_watermark() -> datetime | None:
    """The newest call start time the last walk that reached its cutoff saw."""
    return (
        SyncRun.objects.filter(newest_start_time__isnull=False)
        .exclude(outcome=SyncRun.Outcome.RUNNING)
        .order_by("-started_at")
        .values_list("newest_start_time", flat=True)
        .first()
    )


def refresh_call(client: CatapultClient, catapult_id: str, *, quiet: bool = False) -> Call | None:
    """Fetch one call and its events now ("refresh now", a just-placed call).

    With quiet=True an API failure returns what we have instead of raising: the next
    cycle brings the call anyway.
    """
    try:
        upsert_calls([call_fields(client.get_call(catapult_id))])
        call = Call.objects.get(catapult_id=catapult_id)
        started = timezone.now()
        payloads = client.list_events(catapult_id)
    except CatapultError:
        if not quiet:
            raise
        return Call.objects.filter(catapult_id=catapult_id).first()
    _store_one(call, payloads, started)
    call.refresh_from_db()
    return call


def read_events_now(client: CatapultClient, call: Call) -> str:
    """Read one call's events for an operator who opened it (""; else what went wrong)."""
    started = timezone.now()
    try:
        payloads = client.list_events(call.catapult_id)
    except CatapultError as exc:
        return str(exc)
    _store_one(call, payloads, started)
    return ""


def _store_one(call: Call, payloads: list[dict], started: datetime) -> None:
    """Store one call's events list, read at `started`."""
    events = [event_fields(e, fallback_time=started) for e in payloads]
    read = EventRead(
        call.pk,
        call.state,
        call.events_due_at,
        call.hangup_cause,
        events,
        started,
        call.catapult_id,
    )
    store_events([read])
