"""Delivering alert notifications: email and signed webhooks, retried, every attempt kept.

A state change creates one Delivery per destination in the same transaction as the
change (evaluate.step), and a Celery task is queued once that transaction commits. The
task makes one attempt; a failed attempt is retried by the task with a growing delay
(ALERT_DELIVERY_BACKOFF_SECONDS, doubled each time) until ALERT_DELIVERY_ATTEMPTS
attempts have been made, then the delivery is marked failed. Nothing is lost silently:
a delivery whose task vanished (broker down, worker killed) is still pending in the
database and the next evaluation queues it again (sweep).

Webhooks are POSTed as JSON and signed (README: Alerts):

    X-Dashboard-Timestamp: <unix seconds>
    X-Dashboard-Delivery: <delivery id>
    X-Dashboard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery id>." + body)>

A webhook goes only to a public address: the host is resolved when it is sent, and a
loopback, private, link-local, multicast or unspecified address is refused unless the
host is in ALERT_WEBHOOK_ALLOW_HOSTS (a receiver on this host or the local network).

The secret is the value of the environment variable the rule names (one of
ALERT_WEBHOOK_SECRET, ALERT_WEBHOOK_SECRET_<NAME>); only the name is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import smtplib
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from calls.alerts.models import Alert, Delivery, DeliveryAttempt, Rule

log = logging.getLogger(__name__)

SECRET_NAME = re.compile(r"^ALERT_WEBHOOK_SECRET(_[A-Z0-9_]{1,40})?$")
SIGNATURE_HEADER = "X-Dashboard-Signature"
TIMESTAMP_HEADER = "X-Dashboard-Timestamp"
DELIVERY_HEADER = "X-Dashboard-Delivery"
# How long an attempt holds its delivery (longer than any send can take).
CLAIM_SECONDS = 120
# A pending delivery this late for its next attempt has lost its task: queue it again.
SWEEP_GRACE_SECONDS = 90


class DeliveryError(Exception):
    """A delivery that cannot be attempted or did not succeed, in plain words."""


# --- creating deliveries ------------------------------------------------------------------


def queue(rule: Rule, alert: Alert, kind: str, now: datetime) -> list[Delivery]:
    """The deliveries of one state change (none while the rule is silenced); their
    tasks are queued when the surrounding transaction commits."""
    if rule.silenced(now):
        return []
    payload = message(rule, alert, kind, now)
    made = []
    if addresses(rule.emails):
        made.append(_create(alert, kind, Delivery.Channel.EMAIL, rule.emails, "", payload, now))
    if rule.webhook_url:
        made.append(
            _create(
                alert,
                kind,
                Delivery.Channel.WEBHOOK,
                rule.webhook_url,
                rule.webhook_secret_env,
                payload,
                now,
            )
        )
    ids = [d.pk for d in made]
    if ids:
        transaction.on_commit(lambda: enqueue(ids))
    return made


def _create(alert, kind, channel, target, secret_env, payload, now) -> Delivery:
    return Delivery.objects.create(
        alert=alert,
        kind=kind,
        channel=channel,
        target=target,
        secret_env=secret_env,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )


def enqueue(ids: list[int], countdown: float | None = None) -> None:
    """Queue a delivery task per id. A broker that is down loses nothing: the deliveries
    stay pending in the database and the next evaluation's sweep queues them again."""
    from calls.alerts.tasks import deliver

    for pk in ids:
        try:
            deliver.apply_async((pk,), countdown=countdown)
        except Exception as exc:  # kombu raises many types when Redis is unreachable
            log.warning("Alert delivery %s could not be queued (%s); retried later", pk, exc)


def sweep(now: datetime) -> int:
    """Queue again the pending deliveries whose task was lost; returns how many."""
    late = now - timedelta(seconds=SWEEP_GRACE_SECONDS)
    ids = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=late)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)[:100]
    )
    if ids:
        # Due from now: the same delivery is queued again only if this task is lost too.
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
        enqueue(ids)
    return len(ids)


def message(rule: Rule, alert: Alert, kind: str, now: datetime) -> dict:
    """The notification as JSON: the webhook body, and what the email says."""
    spec = rule.spec
    value = alert.last_value if kind != Delivery.Kind.FIRING else alert.value
    shown = format_value(value, "%" if rule.compare != Rule.Compare.VALUE else spec.unit)
    words = {
        Delivery.Kind.FIRING: "FIRING",
        Delivery.Kind.REMINDER: "STILL FIRING",
        Delivery.Kind.RESOLVED: "RESOLVED",
    }[kind]
    summary = f"[{words}] {rule.name}: {spec.label} is {shown}"
    path = reverse("alerts:history") + f"#alert-{alert.pk}"
    return {
        "event": kind,
        "state": "resolved" if kind == Delivery.Kind.RESOLVED else "firing",
        "summary": summary,
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "metric": rule.metric,
            "condition": rule.describe(),
            "scope": rule.scope_words(),
            "threshold": rule.threshold,
        },
        "alert": {
            "id": alert.pk,
            "started_at": alert.started_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "value": None if value is None or value == float("inf") else value,
            "reminders": alert.reminders,
            "acknowledged_by": alert.acked_by or None,
        },
        "sent_at": now.isoformat(),
        "url": (settings.DASHBOARD_URL + path) if settings.DASHBOARD_URL else path,
    }


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "unknown"
    if value == float("inf"):
        return "up from none"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}".strip() if unit != "%" else f"{text} %"


def addresses(text: str) -> list[str]:
    return [a.strip() for a in re.split(r"[,;\s]+", text or "") if a.strip()]


def url_host(url: str) -> str:
    """What pages show of a webhook URL: its scheme and host (paths often carry tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


# --- attempts -----------------------------------------------------------------------------


def retry_delay(attempts_made: int) -> float:
    """Seconds before the next attempt: the backoff doubled per attempt already made."""
    return settings.ALERT_DELIVERY_BACKOFF_SECONDS * (2 ** max(0, attempts_made - 1))


def attempt(delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Make one attempt of a pending delivery that is due, and record it. Returns the
    delivery as it now is, or None when there was nothing to do (already delivered,
    given up, not due yet, or another worker has it)."""
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(
            pk=delivery_id,
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return None
    delivery = Delivery.objects.get(pk=delivery_id)
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        if delivery.channel == Delivery.Channel.EMAIL:
            send_email(delivery)
        else:
            status_code = send_webhook(delivery)
            if not 200 <= status_code < 300:
                error = f"The webhook answered HTTP {status_code}"
    except DeliveryError as exc:
        error = str(exc)
    ok = not error
    finished = timezone.now()
    DeliveryAttempt.objects.create(
        delivery=delivery,
        at=finished,
        ok=ok,
        status_code=status_code,
        error=error,
        seconds=time.perf_counter() - started,
    )
    delivery.attempts += 1
    delivery.last_error = error
    delivery.claimed_until = None
    if ok:
        delivery.status, delivery.finished_at = Delivery.Status.SENT, finished
    elif delivery.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
        delivery.status, delivery.finished_at = Delivery.Status.FAILED, finished
        log.warning(
            "Alert delivery %s (%s) failed for good after %s attempts: %s",
            delivery.pk,
            delivery.channel,
            delivery.attempts,
            error,
        )
    else:
        delivery.next_attempt_at = finished + timedelta(seconds=retry_delay(delivery.attempts))
        log.info("Alert delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, error)
    delivery.save(
        update_fields=[
            "attempts",
            "last_error",
            "claimed_until",
            "status",
            "finished_at",
            "next_attempt_at",
        ]
    )
    return delivery


def send_email(delivery: Delivery) -> None:
    payload = delivery.payload
    lines = [
        payload["summary"],
        "",
        f"Rule: {payload['rule']['name']}",
        f"Condition: {payload['rule']['condition']}",
    ]
    if payload["rule"]["scope"]:
        lines.append(f"Scope: {payload['rule']['scope']}")
    lines += [
        f"Since: {payload['alert']['started_at']}",
        f"Resolved: {payload['alert']['resolved_at']}" if payload["alert"]["resolved_at"] else "",
        "",
        f"History: {payload['url']}",
    ]
    email = EmailMessage(
        subject=payload["summary"][:200],
        body="\n".join(lines).replace("\n\n\n", "\n\n"),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses(delivery.target),
    )
    try:
        mailers.default.send_messages([email])
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"The mail server refused or did not answer: {_short(exc)}") from None


def signature(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """Signs the delivery's id with the time and the body: a captured request can be
    replayed neither later nor as another delivery."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _allowed_host(host: str) -> bool:
    return host.lower().strip("[]").rstrip(".") in settings.ALERT_WEBHOOK_ALLOW_HOSTS


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is no address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def local_address_error(url: str) -> str:
    """Why the form refuses a webhook URL whose host is written as a local address (or
    is localhost); "" otherwise. Names are resolved only when sending (see check_host)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host or _allowed_host(host):
        return ""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return _LOCAL
    try:
        return _LOCAL if _refused_address(host) else ""
    except ValueError:
        return ""  # a name


_LOCAL = (
    "This is a local or private address: webhooks go only to public ones unless the host "
    "is in ALERT_WEBHOOK_ALLOW_HOSTS."
)


def check_host(url: str) -> None:
    """Refuse a webhook whose host resolves to a local or private address (the server's
    own services, the cloud's metadata endpoint, the office network), unless the host is
    in ALERT_WEBHOOK_ALLOW_HOSTS. Raises DeliveryError saying why."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _allowed_host(host):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError, OSError):
        raise DeliveryError(f"Could not resolve the host of {url_host(url)}") from None
    if not found or any(_refused_address(info[4][0]) for info in found):
        raise DeliveryError(
            f"{url_host(url)} is a local or private address: not sent (allow the host "
            "in ALERT_WEBHOOK_ALLOW_HOSTS if it is meant)"
        )


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def send_webhook(delivery: Delivery) -> int:
    """POST the payload, signed; returns the status code (redirects are not followed:
    a signed body goes only where the rule says)."""
    secret = settings.ALERT_WEBHOOK_SECRETS.get(delivery.secret_env)
    if not secret:
        raise DeliveryError(
            f"The signing secret {delivery.secret_env or '(none named)'} is not set in the "
            "environment: nothing was sent"
        )
    if urlsplit(delivery.target).scheme not in ("http", "https"):
        raise DeliveryError("Only http and https webhook URLs are allowed")
    check_host(delivery.target)
    body = body_of(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "catapult-dashboard-alerts",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, str(delivery.pk), body),
        DELIVERY_HEADER: str(delivery.pk),
    }
    try:
        response = requests.post(
            delivery.target,
            data=body,
            headers=headers,
            timeout=(settings.ALERT_WEBHOOK_CONNECT_TIMEOUT, settings.ALERT_WEBHOOK_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout:
        raise DeliveryError(
            f"The webhook did not answer within {settings.ALERT_WEBHOOK_TIMEOUT:g} s"
        ) from None
    except requests.ConnectionError:
        raise DeliveryError(f"Could not connect to {url_host(delivery.target)}") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"The request failed ({type(exc).__name__})") from None
    response.close()
    return response.status_code


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
