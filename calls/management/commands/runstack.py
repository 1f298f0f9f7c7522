import os

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.stack import Stack


class Command(BaseCommand):
    help = "Run web, Celery worker and beat, embedded Redis and the simulator in the foreground."

    def handle(self, *args, **options):
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        raise SystemExit(Stack(settings.WEB_PORT, out=self.stdout._out).run())
