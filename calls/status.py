"""How fresh the local data is, for the status line on every page and the sync page.

Three words with different consequences:
- *fresh*: the list was read within a few intervals;
- *degraded*: some requests fail or the events reads are behind; the page says what and
  by how much, and everything keeps working;
- *down*: no request has succeeded for API_DOWN_AFTER_SECONDS; only then the banner
  says the API is unreachable and the action buttons are disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from calls.catapult import health
from calls.locks import redis_client
from calls.models import SyncRun, SyncState
from calls.sync import planner


@dataclass(frozen=True)
class SyncStatus:
    last_run: SyncRun | None
    last_list_at: datetime | None  # end of the last cycle that read the list
    interval: int
    api: health.Health
    backlog: dict[str, int]
    backfill: SyncState | None

    @property
    def age_seconds(self) -> int | None:
        if self.last_list_at is None:
            return None
        return max(0, int((timezone.now() - self.last_list_at).total_seconds()))

    @property
    def last_run_age(self) -> str:
        """How long ago the last cycle started, in words short enough for a status line."""
        if self.last_run is None:
            return ""
        return _duration(max(0, int((timezone.now() - self.last_run.started_at).total_seconds())))

    @property
    def stale(self) -> bool:
        """The list not read within three intervals: what the page shows may be old."""
        age = self.age_seconds
        return age is None or age > 3 * self.interval

    @property
    def api_down(self) -> bool:
        return self.api.down(settings.API_DOWN_AFTER_SECONDS)

    @property
    def api_down_for(self) -> str:
        if self.api.last_ok is None:
            return "as long as we know"
        return _duration(max(0, int(timezone.now().timestamp() - self.api.last_ok)))

    @property
    def degraded(self) -> str:
        """What is degraded, in words ("" when nothing is)."""
        if self.api_down:
            return ""
        run = self.last_run
        if run is not None and run.outcome in (SyncRun.Outcome.PARTIAL, SyncRun.Outcome.FAILED):
            return f"some API requests fail ({run.error})"
        return ""

    @property
    def events_behind(self) -> int:
        """Calls that ended and wait for their events read."""
        return self.backlog.get("ended", 0)

    @property
    def events_eta(self) -> str:
        return _eta(self.backlog.get("ended", 0) + self.backlog.get("history", 0))

    @property
    def backfilling(self) -> bool:
        return self.backfill is not None and bool(self.backfill.backfill_next_url)

    @property
    def history_events_left(self) -> int:
        return self.backlog.get("history", 0)


def events_rate() -> float:
    """Event reads per second the budget leaves after the list (one page per interval)."""
    limit = settings.CATAPULT_RATE_LIMIT
    if limit <= 0:
        return 0.0
    return max(0.05, limit - 1.0 / settings.SYNC_INTERVAL_SECONDS)


def _eta(reads: int) -> str:
    if reads <= 0:
        return ""
    rate = events_rate()
    if rate <= 0:
        return ""
    return _duration(int(reads / rate))


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def sync_status() -> SyncStatus:
    # Skipped runs say nothing about the API: show the last cycle that really ran.
    runs = SyncRun.objects.exclude(outcome__in=[SyncRun.Outcome.SKIPPED, SyncRun.Outcome.RUNNING])
    last_run = runs.order_by("-started_at").first()
    last_list_at = (
        SyncRun.objects.filter(list_read=True)
        .exclude(outcome=SyncRun.Outcome.RUNNING)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return SyncStatus(
        last_run=last_run,
        last_list_at=last_list_at,
        interval=settings.SYNC_INTERVAL_SECONDS,
        api=health.read(redis_client()),
        backlog=planner.events_backlog(),
        backfill=SyncState.objects.filter(pk=1).first(),
    )
