"""Celery tasks of the recordings app: thin, as in calls.tasks."""

from celery import shared_task

from calls.recordings import sync


@shared_task(name="calls.recordings.tasks.sync_recordings", ignore_result=True)
def sync_recordings() -> None:
    sync.run()
