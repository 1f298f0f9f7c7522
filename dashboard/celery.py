"""The Celery app. Configuration lives in dashboard/settings.py under CELERY_*."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _stamp(headers=None, **_):
    """When a task was queued: /metrics reports how long the oldest one has waited."""
    if headers is not None:
        headers["sent_at"] = time.time()
