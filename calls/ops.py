"""Endpoints for the machines that watch this one: health checks and Prometheus metrics.

No login (a load balancer or Prometheus calls them), no secrets in what they say, and
cheap: a few indexed queries and Redis reads. /metrics wants the METRICS_TOKEN.
"""

from __future__ import annotations

import contextlib
import hmac
import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from calls import metrics
from calls.catapult import health
from calls.catapult.budget import RateLimiter
from calls.locks import redis_client
from calls.models import SyncRun
from calls.sync import planner

PING_CACHE = "health:worker-ping"
PING_CACHE_SECONDS = 15


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Ready to serve: database, Redis and a Celery worker answer, and the sync is recent."""
    checks = {
        "database": _database_ok(),
        "redis": _redis_ok(),
        "worker": _worker_ok(),
    }
    age = _list_age()
    stale_after = max(60, 6 * settings.SYNC_INTERVAL_SECONDS)
    checks["sync"] = age is not None and age <= stale_after
    ok = all(checks.values())
    body = {
        "status": "ok" if ok else "failing",
        "checks": checks,
        "last_sync_age_seconds": age,
        "sync_stale_after_seconds": stale_after,
    }
    return JsonResponse(body, status=200 if ok else 503)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def _redis_ok() -> bool:
    try:
        return bool(redis_client().ping())
    except redis.RedisError:
        return False


def _worker_ok() -> bool:
    """A Celery worker answers a ping (cached briefly: a ping waits for the answers)."""
    client = redis_client()
    with contextlib.suppress(redis.RedisError):
        cached = client.get(PING_CACHE)
        if cached is not None:
            return cached == b"1"
    from dashboard.celery import app

    try:
        answered = bool(app.control.ping(timeout=0.5))
    except Exception:  # noqa: BLE001 - the broker is down: no worker can answer
        answered = False
    with contextlib.suppress(redis.RedisError):
        client.set(PING_CACHE, b"1" if answered else b"0", ex=PING_CACHE_SECONDS)
    return answered


def _list_age() -> float | None:
    """Seconds since the last cycle that read the list ended."""
    finished = (
        SyncRun.objects.filter(list_read=True, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return None if finished is None else round(time.time() - finished.timestamp(), 1)


@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Metrics are off: set METRICS_TOKEN", status=404)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return HttpResponse("A valid bearer token is required", status=401)
    api = health.read(redis_client())
    last_ok = (
        SyncRun.objects.filter(outcome=SyncRun.Outcome.SUCCESS, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    backlog = planner.events_backlog()
    spent = {}
    if settings.CATAPULT_RATE_LIMIT > 0:
        with contextlib.suppress(redis.RedisError):
            limiter = RateLimiter(redis_client(), settings.CATAPULT_RATE_LIMIT)
            for family in ("calls", "recordings"):
                for priority, n in limiter.spent(family).items():
                    key = f'catapult_budget_tokens_total{{family="{family}",priority="{priority}"}}'
                    spent[key] = n
    try:
        queue = redis_client().llen("celery")
        streams = int(redis_client().get(metrics.OPEN_STREAMS) or 0)
    except redis.RedisError:
        queue = streams = None
    gauges = {
        "catapult_sync_lag_seconds": ("Seconds since the call list was last read", _list_age()),
        "catapult_sync_last_success_timestamp_seconds": (
            "When the last fully successful cycle ended (epoch seconds)",
            last_ok.timestamp() if last_ok else None,
        ),
        "catapult_api_last_ok_timestamp_seconds": (
            "When the API last answered a request with a usable 2xx (epoch seconds)",
            api.last_ok,
        ),
        "catapult_events_backlog_calls": (
            "Ended calls whose events read is due",
            backlog["ended"],
        ),
        "catapult_history_events_backlog_calls": (
            "Calls of the history whose events are not read yet",
            backlog["history"],
        ),
        "celery_queue_length": ("Tasks waiting in the Celery queue", queue),
        "celery_oldest_task_age_seconds": (
            "How long the oldest waiting task has waited",
            metrics.oldest_task_age(),
        ),
        "catapult_event_streams_open": ("Server-sent-event streams open now", streams),
    }
    return HttpResponse(
        metrics.exposition(gauges, spent), content_type="text/plain; version=0.0.4; charset=utf-8"
    )
