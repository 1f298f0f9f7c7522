"""Operations: health checks, Prometheus metrics, logs, retention, audit admin."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from calls import metrics, retention, sync
from calls.locks import redis_client
from calls.models import AuditEntry, Call, CallbackEvent, CallEvent, SyncRun
from calls.ops import PING_CACHE
from dashboard.logs import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    redis_client().delete(metrics.COUNTERS, metrics.OPEN_STREAMS, PING_CACHE)


def test_live_answers_without_a_login(client):
    response = client.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_names_what_is_missing(client):
    redis_client().set(PING_CACHE, b"0", ex=30)  # no worker answered the last ping
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": True, "redis": True, "worker": False, "sync": False}
    assert body["last_sync_age_seconds"] is None


def test_ready_with_a_worker_and_a_recent_sync(client, catapult_settings, sim):
    sync.run_cycle()
    redis_client().set(PING_CACHE, b"1", ex=30)
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["last_sync_age_seconds"] < 60
    assert "secret" not in response.content.decode().lower()


def test_metrics_need_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "scrape-me-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_count_what_every_process_did(client, settings, catapult_settings, sim):
    settings.METRICS_TOKEN = "scrape-me-123"
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    sim.preload(3, events_per_call=2)
    sync.run_cycle()  # the sync's requests and its outcome
    from tests.test_callback_endpoint import _auth, _post

    _post(client, {"eventType": "dtmf", "callId": "c-m", "dtmfDigit": "1"}, **_auth())
    body = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-123"}).content
    text = body.decode()
    assert 'catapult_api_requests_total{family="calls",status="200"} 4' in text
    assert 'catapult_sync_cycles_total{outcome="success"} 1' in text
    assert 'catapult_callbacks_received_total{type="dtmf"} 1' in text
    assert 'catapult_callbacks_applied_total{type="dtmf"} 1' in text
    assert "celery_queue_length 0" in text and "catapult_event_streams_open 0" in text
    assert "catapult_sync_lag_seconds " in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    assert settings.CATAPULT_API_SECRET not in text


def test_a_json_log_line_carries_the_request_id(client, caplog):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("calls.views")
    logger.addHandler(handler)
    try:
        response = client.get("/health/live", headers={"X-Request-ID": "req-abc.1"})
        assert response["X-Request-ID"] == "req-abc.1"
        from dashboard import logs

        token = logs.request_id.set("req-abc.1")
        logger.warning("something to look into")
        logs.request_id.reset(token)
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["request_id"] == "req-abc.1" and entry["message"] == "something to look into"
    generated = client.get("/health/live", headers={"X-Request-ID": "bad id; drop table"})
    assert (
        generated["X-Request-ID"] != "bad id; drop table" and len(generated["X-Request-ID"]) == 16
    )


def _call(catapult_id, days_old, state="completed"):
    start = timezone.now() - timedelta(days=days_old)
    call = Call.objects.create(
        catapult_id=catapult_id,
        state=state,
        start_time=start,
        first_seen_at=start,
        synced_at=start,
    )
    CallEvent.objects.create(call=call, catapult_id=f"ce-{catapult_id}", name="hangup", time=start)
    return call


def test_retention_prunes_in_batches_and_keeps_live_calls(settings, monkeypatch):
    settings.CALL_RETENTION_DAYS = 30
    monkeypatch.setattr(retention, "BATCH", 2)
    for i in range(5):
        _call(f"c-old-{i}", 40)
    _call("c-old-live", 40, state="active")
    _call("c-recent", 5)
    old = timezone.now() - timedelta(days=30)
    SyncRun.objects.create(started_at=old, finished_at=old, outcome="success")
    CallbackEvent.objects.create(received_at=old, event_type="answer", payload={}, digest="d" * 64)
    deleted = retention.prune()
    assert deleted == {
        "sync_runs": 1,
        "callback_events": 1,
        "delivery_attempts": 0,
        "deliveries": 0,
        "alerts": 0,
        "events": 5,
        "calls": 5,
    }
    assert sorted(Call.objects.values_list("catapult_id", flat=True)) == ["c-old-live", "c-recent"]
    settings.CALL_RETENTION_DAYS = 0
    assert "calls" not in retention.prune()  # off: calls are kept for good


def test_audit_and_callbacks_are_read_only_in_the_admin(admin_client):
    entry = AuditEntry.objects.create(
        at=timezone.now(), username="otto", action="hangup", outcome="accepted"
    )
    assert admin_client.get("/admin/calls/auditentry/").status_code == 200
    page = admin_client.get(f"/admin/calls/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and "Save" not in page.content.decode()
    assert admin_client.post(f"/admin/calls/auditentry/{entry.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/calls/callbackevent/").status_code == 200


def test_the_shipped_alerts_and_dashboard_name_only_metrics_we_export():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "deploy"
    text = (root / "prometheus-alerts.yml").read_text() + (
        root / "grafana-dashboard.json"
    ).read_text()
    named = set(__import__("re").findall(r"\b(catapult_[a-z_]+|celery_[a-z_]+)\b", text))
    exported = set(metrics.HELP) | {
        "catapult_sync_lag_seconds",
        "catapult_sync_last_success_timestamp_seconds",
        "catapult_api_last_ok_timestamp_seconds",
        "catapult_events_backlog_calls",
        "catapult_history_events_backlog_calls",
        "celery_queue_length",
        "celery_oldest_task_age_seconds",
        "catapult_event_streams_open",
    }
    assert named and named <= exported, named - exported
    json.loads((root / "grafana-dashboard.json").read_text())
