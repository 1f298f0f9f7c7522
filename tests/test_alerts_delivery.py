"""Alert deliveries to real receivers: email to a local SMTP server, webhooks to a local
HTTP server that checks the signature, retries after failures (directly, and through a
real Celery worker), and failures that stay visible."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import requests
from django.test import Client
from django.utils import timezone

from calls.alerts import evaluate, notify
from calls.alerts.models import Alert, Delivery, Rule
from calls.roles import VIEWER
from tests.conftest import make_user
from tests.smtp_receiver import SmtpReceiver
from tests.test_worker import _wait_for, start_worker  # noqa: F401 - the worker fixture

SECRET_NAME = "ALERT_WEBHOOK_SECRET_TEST"
SECRET = "webhook-secret-for-tests-7f3a"


class WebhookReceiver:
    """A local HTTP endpoint that verifies each request as a receiver must, and answers
    500 to the first `fail_first` requests."""

    def __init__(self, secret: str, fail_first: int = 0):
        receiver = self
        self.secret = secret
        self.fail_first = fail_first
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                timestamp = self.headers.get("X-Dashboard-Timestamp", "")
                delivery = self.headers.get("X-Dashboard-Delivery", "")
                signed = f"{timestamp}.{delivery}.".encode() + body
                expected = hmac.new(receiver.secret.encode(), signed, hashlib.sha256).hexdigest()
                given = self.headers.get("X-Dashboard-Signature", "")
                verified = hmac.compare_digest(given, f"sha256={expected}") and (
                    abs(time.time() - int(timestamp or 0)) < 300
                )
                failing = len(receiver.requests) < receiver.fail_first
                receiver.requests.append(
                    {
                        "body": json.loads(body),
                        "raw": body,
                        "headers": dict(self.headers),
                        "verified": verified,
                        "answered": 500 if failing else 204,
                    }
                )
                self.send_response(500 if failing else (204 if verified else 401))
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def firing_rule(**destinations) -> tuple[Rule, Alert]:
    """A rule whose condition holds (no calls at all, above -1 calls: always true)."""
    now = timezone.now()
    rule = Rule.objects.create(
        name="Always",
        metric="call_count",
        window_minutes=5,
        op="above",
        threshold=-1,
        created_at=now,
        updated_at=now,
        **destinations,
    )
    evaluate.run(now)
    rule.refresh_from_db()
    assert rule.firing
    return rule, rule.alert


@pytest.fixture
def secrets(settings):
    settings.ALERT_WEBHOOK_SECRETS = {SECRET_NAME: SECRET}
    # The receivers here listen on loopback, which is refused unless allowed.
    settings.ALERT_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 1.0
    return settings


@pytest.fixture
def smtp(settings):
    with SmtpReceiver() as receiver:
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": receiver.port, "timeout": 5},
            }
        }
        yield receiver


@pytest.mark.django_db
def test_email_goes_to_a_real_smtp_server_with_a_retry(smtp, secrets):
    smtp.refuse_next = 1
    rule, alert = firing_rule(emails="oncall@example.com, boss@example.com")
    (delivery,) = Delivery.objects.filter(alert=alert)
    first = notify.attempt(delivery.pk)
    assert first.status == Delivery.Status.PENDING and first.attempts == 1
    assert "451" in first.last_error and smtp.messages == []
    # Not due yet: a second worker (or a duplicate task) does nothing.
    assert notify.attempt(delivery.pk) is None
    done = notify.attempt(delivery.pk, now=first.next_attempt_at)
    assert done.status == Delivery.Status.SENT and done.attempts == 2
    ((sender, recipients, message),) = smtp.messages
    assert recipients == ["oncall@example.com", "boss@example.com"]
    assert message["Subject"].startswith("[FIRING] Always: Calls is")
    assert "Condition: Calls over 5 min above -1 calls" in message.get_content()
    assert [a.ok for a in done.tries.order_by("at")] == [False, True]


@pytest.mark.django_db
def test_webhook_is_signed_and_retried_after_a_500(secrets):
    with WebhookReceiver(SECRET, fail_first=2) as hook:
        rule, alert = firing_rule(webhook_url=hook.url, webhook_secret_env=SECRET_NAME)
        (delivery,) = Delivery.objects.filter(alert=alert)
        now = timezone.now()
        for _ in range(3):
            delivery = notify.attempt(delivery.pk, now=now)
            now = delivery.next_attempt_at
        assert delivery.status == Delivery.Status.SENT
        assert [r["answered"] for r in hook.requests] == [500, 500, 204]
        assert all(r["verified"] for r in hook.requests)
        body = hook.requests[-1]["body"]
        assert body["event"] == "firing" and body["rule"]["name"] == "Always"
        assert body["alert"]["id"] == alert.pk and body["state"] == "firing"
        # The backoff doubles: 1 s after the first failure, 2 s after the second.
        tries = list(delivery.tries.order_by("at"))
        assert [t.status_code for t in tries] == [500, 500, 204]
        assert tries[0].error == "The webhook answered HTTP 500"


@pytest.mark.django_db
def test_a_delivery_that_keeps_failing_is_marked_failed_and_shown(secrets, django_user_model):
    secrets.ALERT_DELIVERY_ATTEMPTS = 3
    with WebhookReceiver(SECRET, fail_first=99) as hook:
        rule, alert = firing_rule(webhook_url=hook.url, webhook_secret_env=SECRET_NAME)
        (delivery,) = Delivery.objects.filter(alert=alert)
        now = timezone.now()
        while delivery.status == Delivery.Status.PENDING:
            delivery = notify.attempt(delivery.pk, now=now)
            now = delivery.next_attempt_at
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 3
    assert notify.attempt(delivery.pk, now=now + timedelta(hours=1)) is None  # bounded
    client = Client()
    client.force_login(make_user(django_user_model, "vera", VIEWER))
    page = client.get("/alerts/history/").content.decode()
    assert "Failed (no more retries)" in page and "(HTTP 500)" in page
    assert "token=abc" not in page and SECRET not in page  # the host only, never a secret


@pytest.mark.django_db
def test_webhook_without_its_secret_is_not_sent(settings):
    settings.ALERT_WEBHOOK_SECRETS = {}
    with WebhookReceiver(SECRET) as hook:
        rule, alert = firing_rule(webhook_url=hook.url, webhook_secret_env=SECRET_NAME)
        delivery = notify.attempt(Delivery.objects.get(alert=alert).pk)
    assert hook.requests == []
    assert "ALERT_WEBHOOK_SECRET_TEST is not set" in delivery.last_error


@pytest.mark.django_db
def test_unreachable_webhook_is_a_recorded_failure(secrets):
    rule, alert = firing_rule(
        webhook_url="http://127.0.0.1:9/nothing-listens", webhook_secret_env=SECRET_NAME
    )
    delivery = notify.attempt(Delivery.objects.get(alert=alert).pk)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_error == "Could not connect to http://127.0.0.1:9/…"


@pytest.mark.django_db(transaction=True)
def test_webhook_retries_through_a_real_celery_worker(secrets, start_worker):  # noqa: F811
    with WebhookReceiver(SECRET, fail_first=1) as hook:
        start_worker(
            **{
                SECRET_NAME: SECRET,
                "ALERT_DELIVERY_BACKOFF_SECONDS": "0.5",
                "ALERT_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            },
        )
        rule, alert = firing_rule(webhook_url=hook.url, webhook_secret_env=SECRET_NAME)
        delivery = Delivery.objects.get(alert=alert)
        assert _wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SENT, 60
        ), list(Delivery.objects.values("status", "attempts", "last_error"))
    assert [r["answered"] for r in hook.requests] == [500, 204]
    assert all(r["verified"] for r in hook.requests)
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2


@pytest.mark.django_db
def test_sweep_requeues_a_delivery_whose_task_was_lost(secrets, redis_url):
    firing_rule(emails="oncall@example.com")
    assert notify.sweep(timezone.now()) == 0  # just created: its task is on its way
    queue = redis.Redis.from_url(redis_url)
    queue.delete("celery")
    try:
        assert notify.sweep(timezone.now() + timedelta(minutes=5)) == 1
        assert queue.llen("celery") == 1
    finally:
        queue.delete("celery")  # no worker here: leave nothing for another test's


@pytest.mark.django_db
def test_a_captured_request_cannot_be_replayed_as_another_delivery(secrets):
    with WebhookReceiver(SECRET) as hook:
        rule, alert = firing_rule(webhook_url=hook.url, webhook_secret_env=SECRET_NAME)
        delivery = notify.attempt(Delivery.objects.get(alert=alert).pk)
        assert delivery.status == Delivery.Status.SENT
        (sent,) = hook.requests
        assert sent["verified"]
        names = ("X-Dashboard-Timestamp", "X-Dashboard-Signature", "Content-Type")
        replay = {name: sent["headers"][name] for name in names}
        replay["X-Dashboard-Delivery"] = str(delivery.pk + 1)
        answer = requests.post(hook.url, data=sent["raw"], headers=replay, timeout=5)
    assert answer.status_code == 401 and not hook.requests[-1]["verified"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.1.2.3",
        "169.254.169.254",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
    ],
)
def test_webhooks_to_local_or_private_addresses_are_refused_unless_allowed(settings, host):
    settings.ALERT_WEBHOOK_SECRETS = {SECRET_NAME: SECRET}
    settings.ALERT_WEBHOOK_ALLOW_HOSTS = []
    with WebhookReceiver(SECRET) as hook:
        port = hook.server.server_address[1]
        target = f"http://{host}:{port}/hooks/alerts"
        rule, alert = firing_rule(webhook_url=target, webhook_secret_env=SECRET_NAME)
        delivery = notify.attempt(Delivery.objects.get(alert=alert).pk)
        assert hook.requests == []  # nothing reached the receiver
        assert "local or private address: not sent" in delivery.last_error
        assert "ALERT_WEBHOOK_ALLOW_HOSTS" in delivery.last_error
        assert delivery.tries.get().status_code is None
        if host == "127.0.0.1":
            settings.ALERT_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
            done = notify.attempt(delivery.pk, now=delivery.next_attempt_at)
            assert done.status == Delivery.Status.SENT and hook.requests[0]["verified"]
