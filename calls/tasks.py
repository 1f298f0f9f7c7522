"""Celery tasks: thin wrappers that call a service function.

They return nothing: the service logs its own one-line summary, and a returned value
would be logged a second time by the worker ("Task ... succeeded: ...").
"""

from celery import shared_task

from calls import retention, sync


@shared_task(name="calls.tasks.sync_calls", ignore_result=True)
def sync_calls() -> None:
    sync.run_cycle()


@shared_task(name="calls.tasks.prune", ignore_result=True)
def prune() -> None:
    retention.prune()
