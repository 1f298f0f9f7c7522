from django.core.management.base import BaseCommand, CommandError

from calls import sync
from calls.models import SyncRun


class Command(BaseCommand):
    help = "Run one sync cycle in the foreground and print a one-line summary."

    def handle(self, *args, **options):
        run = sync.run_cycle()
        line = f"Sync cycle {run.pk}: {run.summary()}"
        if run.outcome == SyncRun.Outcome.FAILED:
            raise CommandError(line)
        self.stdout.write(line)
