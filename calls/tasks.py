"""Celery tasks: thin wrappers that call a service function.

They return nothing: the service logs its own one-line summary, and a returned value
would be logged a second time by the worker ("Task ... succeeded: ...").
"""

from celery import shared_task
from django.utils import timezone

from calls import retention, sync
from calls.analytics import concurrency


@shared_task(name="calls.tasks.sync_calls", ignore_result=True)
def sync_calls() -> None:
    sync.run_cycle()


@shared_task(name="calls.tasks.prune", ignore_result=True)
def prune() -> None:
    retention.prune()


@shared_task(name="calls.tasks.warm_peaks", ignore_result=True)
def warm_peaks() -> None:
    concurrency.warm(timezone.now())
