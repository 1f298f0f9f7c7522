"""Celery tasks of the alerts: thin, ids in, the work in evaluate.py and notify.py."""

from celery import shared_task
from django.conf import settings

from calls.alerts import evaluate, notify
from calls.alerts.models import Delivery


@shared_task(name="alerts.evaluate", ignore_result=True)
def evaluate_rules() -> None:
    evaluate.run()


# The bound on retries is ALERT_DELIVERY_ATTEMPTS, kept in the database by
# notify.attempt(); Celery's max_retries is the same number as a backstop.
@shared_task(
    bind=True,
    name="alerts.deliver",
    ignore_result=True,
    max_retries=settings.ALERT_DELIVERY_ATTEMPTS,
)
def deliver(self, delivery_id: int) -> None:
    delivery = notify.attempt(delivery_id)
    if delivery is not None and delivery.status == Delivery.Status.PENDING:
        raise self.retry(countdown=notify.retry_delay(delivery.attempts))
