"""Celery tasks: thin wrappers that call the sync service and report one line."""

from celery import shared_task

from calls import sync


@shared_task(name="calls.tasks.sync_calls", ignore_result=True)
def sync_calls() -> str:
    return sync.run_cycle().summary()
