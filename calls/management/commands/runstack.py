import os

from django.core.management.base import BaseCommand

from dashboard.env import env_int
from dashboard.stack import Stack


class Command(BaseCommand):
    help = "Run web, Celery worker and beat, embedded Redis and the simulator in the foreground."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=None, help="Web port (default: WEB_PORT or 8000)"
        )

    def handle(self, *args, port, **options):
        web_port = port or env_int("WEB_PORT", 8000, minimum=1, maximum=65535)
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        raise SystemExit(Stack(web_port, out=self.stdout._out).run())
