"""Recount the overview's rollups from the calls, and fill the concurrency cache.

The triggers keep the rollups exact; this is for a database restored from a dump taken
without them, or after rows were changed with the triggers disabled.
"""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from calls.analytics import concurrency, rollups, triggers


class Command(BaseCommand):
    help = "Recount the rollups from the calls and compute the concurrency peaks"

    def add_arguments(self, parser):
        parser.add_argument(
            "--peak-days",
            type=int,
            default=31,
            help="Days of concurrency peaks to compute ahead of the first overview (default 31)",
        )

    def handle(self, *args, peak_days: int, **options):
        started = time.monotonic()
        with transaction.atomic():
            triggers.rebuild(connection)
        counted = time.monotonic() - started
        now = timezone.now()
        first = rollups.earliest()
        if first and peak_days > 0:
            start = max(first, now - timedelta(days=peak_days))
            concurrency.peaks(start, now, now, budget=now - start)
        self.stdout.write(
            f"Rollups recounted in {counted:.1f} s; concurrency peaks of the last "
            f"{peak_days} days in {time.monotonic() - started - counted:.1f} s"
        )
