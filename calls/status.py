"""How fresh the local data is, for the status line on every page."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from calls.models import SyncRun


@dataclass(frozen=True)
class SyncStatus:
    last_run: SyncRun | None
    last_success_at: datetime | None
    interval: int

    @property
    def age_seconds(self) -> int | None:
        if self.last_success_at is None:
            return None
        return max(0, int((timezone.now() - self.last_success_at).total_seconds()))

    @property
    def last_run_age(self) -> str:
        """How long ago the last cycle started, in words short enough for a status line."""
        if self.last_run is None:
            return ""
        seconds = max(0, int((timezone.now() - self.last_run.started_at).total_seconds()))
        if seconds < 120:
            return f"{seconds} s"
        if seconds < 7200:
            return f"{seconds // 60} min"
        return f"{seconds // 3600} h"

    @property
    def stale(self) -> bool:
        """No successful sync within three intervals: what the page shows may be old."""
        age = self.age_seconds
        return age is None or age > 3 * self.interval

    @property
    def api_down(self) -> bool:
        return self.last_run is not None and self.last_run.outcome == SyncRun.Outcome.FAILED


def sync_status() -> SyncStatus:
    # Skipped runs say nothing about the API: show the last cycle that really ran.
    runs = SyncRun.objects.exclude(outcome__in=[SyncRun.Outcome.SKIPPED, SyncRun.Outcome.RUNNING])
    last_run = runs.order_by("-started_at").first()
    last_success_at = (
        SyncRun.objects.filter(outcome=SyncRun.Outcome.SUCCESS)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return SyncStatus(last_run, last_success_at, settings.SYNC_INTERVAL_SECONDS)
