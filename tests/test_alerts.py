"""Alert rules against conditions the simulator drives: each built-in rule fires once,
reminds with backoff while it stays firing, and resolves when the condition clears.

Time is `now`, passed to the evaluation. Calls carry the simulator's (manual) clock; what
the dashboard stamps with the real clock (sync runs, callback receipts) is re-stamped at
the test's moment by the helpers below, as if it had happened then.
"""

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.utils import timezone

from calls import sync
from calls.alerts import evaluate, metrics
from calls.alerts.forms import template_initial
from calls.alerts.models import Alert, Delivery, Rule
from calls.models import Call, CallbackEvent, SyncRun, SyncState

pytestmark = pytest.mark.django_db


def rule_from_template(key: str, **overrides) -> Rule:
    """A rule as the built-in template fills the form, with an email destination."""
    now = timezone.now()
    fields = {"window_minutes": 15, **template_initial(key), **overrides}
    fields.setdefault("name", key)
    return Rule.objects.create(
        emails="oncall@example.com", created_at=now, updated_at=now, **fields
    )


def notices(rule: Rule) -> list[str]:
    """The kinds of notification sent for the rule, oldest first."""
    return list(
        Delivery.objects.filter(alert__rule=rule)
        .order_by("created_at", "id")
        .values_list("kind", flat=True)
    )


def state_of(rule: Rule) -> str:
    rule.refresh_from_db()
    return rule.state


def cycle_at(moment):
    """One real sync cycle against the simulator, recorded as having run at `moment`."""
    run = sync.run_cycle()
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=moment, finished_at=moment + timedelta(seconds=1)
    )
    return run


@pytest.fixture(autouse=True)
def _empty_queue(redis_url):
    """Evaluations queue delivery tasks (and re-queue those no worker took): no worker
    runs here, so leave nothing behind for the tests that start one."""
    yield
    redis.Redis.from_url(redis_url).delete("celery")


@pytest.fixture
def fast_sync(catapult_settings):
    # A failing request fails at once: the tests count failures, not the retry waits.
    catapult_settings.SYNC_MAX_RETRIES = 0
    return catapult_settings


# --- the lifecycle, on a stuck call --------------------------------------------------------


def test_stuck_call_fires_once_reminds_with_backoff_and_resolves(sim, fast_sync, clock):
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(3)
    sync.run_cycle()
    start = Call.objects.get(catapult_id=call_id).start_time
    rule = rule_from_template("stuck", param=1)  # live longer than 1 h

    evaluate.run(start + timedelta(minutes=59))
    assert state_of(rule) == Rule.State.OK and rule.value == 0
    fired_at = start + timedelta(minutes=61)
    summary = evaluate.run(fired_at)
    assert summary.fired == [rule.pk] and state_of(rule) == Rule.State.FIRING
    assert notices(rule) == ["firing"]
    # Every minute for the next 2 hours: reminders at +15, +45 (15 + 30), +105 (+ 60).
    for minute in range(1, 121):
        evaluate.run(fired_at + timedelta(minutes=minute))
    assert notices(rule) == ["firing", "reminder", "reminder", "reminder"]
    alert = Alert.objects.get(rule=rule)
    assert alert.reminders == 3
    assert alert.next_reminder_at == fired_at + timedelta(minutes=105 + 120)

    # The caller hangs up; the next sync sees it; the rule resolves, and says so once.
    sim.hangup(call_id)
    sync.run_cycle()
    assert Call.objects.get(catapult_id=call_id).state == "completed"
    resolved_at = fired_at + timedelta(minutes=121)
    assert evaluate.run(resolved_at).resolved == [rule.pk]
    evaluate.run(resolved_at + timedelta(minutes=1))
    assert state_of(rule) == Rule.State.OK
    assert notices(rule) == ["firing", "reminder", "reminder", "reminder", "resolved"]
    alert.refresh_from_db()
    assert alert.resolved_at == resolved_at and rule.alert_id is None


def test_reminders_are_capped(sim, fast_sync, settings):
    settings.ALERT_RENOTIFY_MAX_MINUTES = 60
    sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    rule = rule_from_template("stuck", param=1)
    fired_at = timezone.now() + timedelta(hours=2)
    evaluate.run(fired_at)
    for minute in range(1, 400):
        evaluate.run(fired_at + timedelta(minutes=minute))
    alert = Alert.objects.get(rule=rule)
    # 15, 30, then every 60 (capped): at +15, +45, +105, +165, +225, +285, +345.
    assert alert.reminders == 7


def test_acknowledged_alert_stops_reminding_but_still_resolves_loudly(sim, fast_sync):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    rule = rule_from_template("stuck", param=1)
    fired_at = timezone.now() + timedelta(hours=2)
    evaluate.run(fired_at)
    rule.refresh_from_db()
    evaluate.acknowledge(rule, "otto", fired_at + timedelta(minutes=1))
    for minute in range(2, 60):
        evaluate.run(fired_at + timedelta(minutes=minute))
    assert notices(rule) == ["firing"]
    sim.hangup(call_id)
    sync.run_cycle()
    evaluate.run(fired_at + timedelta(minutes=61))
    assert notices(rule) == ["firing", "resolved"]
    assert Alert.objects.get(rule=rule).acked_by == "otto"


def test_silence_sends_nothing_while_it_lasts(sim, fast_sync):
    sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    rule = rule_from_template("stuck", param=1)
    fired_at = timezone.now() + timedelta(hours=2)
    evaluate.silence(rule, "otto", fired_at + timedelta(minutes=30), fired_at)
    evaluate.run(fired_at)
    assert state_of(rule) == Rule.State.FIRING and notices(rule) == []
    for minute in range(1, 50):
        evaluate.run(fired_at + timedelta(minutes=minute))
    # The reminder due at +45 comes after the silence (ended at +30); the one at +15 not.
    assert notices(rule) == ["reminder"]


def test_hold_time_delays_firing(sim, fast_sync):
    sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    rule = rule_from_template("stuck", param=1, hold_minutes=5)
    at = timezone.now() + timedelta(hours=2)
    evaluate.run(at)
    assert state_of(rule) == Rule.State.PENDING
    evaluate.run(at + timedelta(minutes=4))
    assert state_of(rule) == Rule.State.PENDING and notices(rule) == []
    evaluate.run(at + timedelta(minutes=5))
    assert state_of(rule) == Rule.State.FIRING and notices(rule) == ["firing"]


# --- API failure bursts and the API down ---------------------------------------------------


def test_api_failure_burst_fires_reminds_and_resolves(sim, fast_sync):
    sim.preload(5)
    rule = rule_from_template("api_errors", hold_minutes=0)
    t0 = timezone.now()
    cycle_at(t0 - timedelta(minutes=2))  # a clean cycle: requests, no errors
    evaluate.run(t0)
    assert state_of(rule) == Rule.State.OK and rule.value == 0

    # A burst: every list request answers 500 for a while.
    sim.faults.add("error", path=r"^/calls$", count=None, status=500)
    for minute in range(0, 20):
        cycle_at(t0 + timedelta(minutes=minute))
        evaluate.run(t0 + timedelta(minutes=minute, seconds=30))
    assert state_of(rule) == Rule.State.FIRING and rule.value > 10
    assert notices(rule) == ["firing", "reminder"]  # fired at +0:30, reminded at +15:30

    # The API recovers: once the window holds only clean cycles, the rule resolves.
    sim.faults.clear()
    for minute in range(20, 40):
        cycle_at(t0 + timedelta(minutes=minute))
        evaluate.run(t0 + timedelta(minutes=minute, seconds=30))
    assert state_of(rule) == Rule.State.OK
    assert notices(rule) == ["firing", "reminder", "resolved"]
    assert Alert.objects.filter(rule=rule).count() == 1


def test_rate_limited_answers_fire_the_429_rule(sim, fast_sync):
    sim.preload(5)
    rule = rule_from_template("rate_limited", threshold=2)
    sim.faults.add("rate_limited", path=r"^/calls$", count=None, delay=0.01)
    t0 = timezone.now()
    for minute in range(4):
        cycle_at(t0 + timedelta(minutes=minute))
    assert sum(SyncRun.objects.values_list("rate_limited", flat=True)) >= 3
    evaluate.run(t0 + timedelta(minutes=4))
    assert state_of(rule) == Rule.State.FIRING and notices(rule) == ["firing"]


def test_api_down_fires_and_resolves_when_it_answers_again(sim, fast_sync):
    sim.preload(3)
    sync.run_cycle()  # answered: the API's last success is now
    rule = rule_from_template("api_down")
    t0 = timezone.now()
    sim.faults.add("error", count=None, status=503)
    assert sync.run_cycle().outcome == SyncRun.Outcome.FAILED
    evaluate.run(t0 + timedelta(minutes=1))
    assert state_of(rule) == Rule.State.OK  # down for 1 min: not yet
    evaluate.run(t0 + timedelta(minutes=3))
    assert state_of(rule) == Rule.State.FIRING and 2.9 < rule.value < 3.2
    evaluate.run(t0 + timedelta(minutes=4))
    assert notices(rule) == ["firing"]
    evaluate.run(t0 + timedelta(minutes=18, seconds=5))
    assert notices(rule) == ["firing", "reminder"]
    sim.faults.clear()
    assert sync.run_cycle().outcome == SyncRun.Outcome.SUCCESS
    evaluate.run(t0 + timedelta(minutes=19))
    assert state_of(rule) == Rule.State.OK and rule.value == 0
    assert notices(rule) == ["firing", "reminder", "resolved"]


def test_api_down_stays_firing_while_redis_cannot_be_read(sim, fast_sync, settings):
    sim.preload(3)
    sync.run_cycle()
    rule = rule_from_template("api_down")
    quiet = rule_from_template("api_down", name="API down, quiet")
    t0 = timezone.now()
    sim.faults.add("error", count=None, status=503)
    assert sync.run_cycle().outcome == SyncRun.Outcome.FAILED
    Rule.objects.filter(pk=quiet.pk).update(enabled=False)
    evaluate.run(t0 + timedelta(minutes=3))
    assert state_of(rule) == Rule.State.FIRING and notices(rule) == ["firing"]
    value = rule.value
    Rule.objects.filter(pk=quiet.pk).update(enabled=True)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    summary = evaluate.run(t0 + timedelta(minutes=4))
    # Not "0 minutes down": nothing is known, so nothing resolves and nothing fires.
    assert state_of(rule) == Rule.State.FIRING and rule.value == value
    assert notices(rule) == ["firing"]
    assert state_of(quiet) == Rule.State.NO_DATA and quiet.value is None
    assert len(summary.errors) == 2 and "Redis unreachable" in summary.errors[0]


def test_a_metric_that_raises_is_logged_and_the_other_rules_are_evaluated(monkeypatch, caplog):
    def broken(reader, rule, start, end):
        raise ZeroDivisionError("division by zero")

    spec = metrics.METRICS["sync_lag"]
    monkeypatch.setitem(metrics.METRICS, "sync_lag", dataclasses.replace(spec, fn=broken))
    bad = rule_from_template("sync_behind")
    good = rule_from_template(
        "stuck", name="Always", metric="call_count", param=None, window_minutes=5, threshold=-1
    )
    summary = evaluate.run(timezone.now())
    assert state_of(good) == Rule.State.FIRING and notices(good) == ["firing"]
    assert state_of(bad) == Rule.State.NO_DATA and bad.evaluated_at is not None
    assert summary.errors == ["Sync behind: unexpected ZeroDivisionError"]
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == f"Alert rule {bad.pk} could not be measured"
    assert record.exc_info[0] is ZeroDivisionError


def test_sync_behind_fires_and_resolves(sim, fast_sync):
    sim.preload(3)
    t0 = timezone.now()
    cycle_at(t0)
    rule = rule_from_template("sync_behind")  # more than 5 min
    evaluate.run(t0 + timedelta(minutes=4))
    assert state_of(rule) == Rule.State.OK
    evaluate.run(t0 + timedelta(minutes=6))
    assert state_of(rule) == Rule.State.FIRING
    cycle_at(t0 + timedelta(minutes=7))
    evaluate.run(t0 + timedelta(minutes=7, seconds=30))
    assert state_of(rule) == Rule.State.OK and notices(rule) == ["firing", "resolved"]


def test_backfill_stalled(sim, fast_sync, settings):
    settings.SYNC_PAGE_SIZE = 5
    sim.preload(40)
    t0 = timezone.now()
    # Each cycle's first list request (the newest page) is answered; every history page
    # after it fails: cycles go on, the backfill reads nothing.
    for minute in range(0, 32):
        sim.faults.clear()
        sim.faults.add("error", path=r"^/calls$", count=None, status=500, after=1)
        cycle_at(t0 + timedelta(minutes=minute))
    assert SyncState.get().backfill_next_url
    rule = rule_from_template("backfill_stalled")
    evaluate.run(t0 + timedelta(minutes=32))
    assert state_of(rule) == Rule.State.FIRING and rule.value == 0
    sim.faults.clear()
    cycle_at(t0 + timedelta(minutes=33))
    evaluate.run(t0 + timedelta(minutes=33, seconds=30))
    rule.refresh_from_db()
    assert rule.state in (Rule.State.OK, Rule.State.NO_DATA)
    assert notices(rule) == ["firing", "resolved"]


# --- callbacks -----------------------------------------------------------------------------


def _callback(client, settings, payload, moment):
    """Deliver a callback through the real endpoint; stamp its receipt at `moment`."""
    auth = base64.b64encode(f"{settings.CALLBACK_USERNAME}:{settings.CALLBACK_PASSWORD}".encode())
    response = client.post(
        "/callbacks/catapult/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + auth.decode(),
    )
    assert response.status_code == 200
    CallbackEvent.objects.filter(payload=payload).update(received_at=moment)


def test_callbacks_silent_while_calls_are_live(client, sim, fast_sync, settings):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    start = Call.objects.get(catapult_id=call_id).start_time
    _callback(client, settings, {"eventType": "answer", "callId": call_id}, start)
    rule = rule_from_template("callbacks_silent")  # silent more than 10 min
    evaluate.run(start + timedelta(minutes=9))
    assert state_of(rule) == Rule.State.OK
    evaluate.run(start + timedelta(minutes=11))
    assert state_of(rule) == Rule.State.FIRING
    # Callbacks come again (a digit pressed on the live call).
    _callback(
        client,
        settings,
        {"eventType": "dtmf", "callId": call_id, "dtmfDigit": "5"},
        start + timedelta(minutes=12),
    )
    evaluate.run(start + timedelta(minutes=13))
    assert state_of(rule) == Rule.State.OK
    assert notices(rule) == ["firing", "resolved"]
    # No live call: nothing to expect callbacks for (no data, not an alert).
    sim.hangup(call_id)
    sync.run_cycle()
    evaluate.run(start + timedelta(minutes=60))
    assert state_of(rule) == Rule.State.NO_DATA and notices(rule) == ["firing", "resolved"]


def test_recordings_in_error(client, sim, fast_sync, settings):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    t0 = timezone.now()
    rule = rule_from_template("recording_errors", window_minutes=60)
    ok = {"eventType": "recording", "callId": call_id, "recordingId": "rec-1", "state": "complete"}
    _callback(client, settings, ok, t0)
    evaluate.run(t0 + timedelta(minutes=1))
    assert state_of(rule) == Rule.State.OK
    bad = {"eventType": "recording", "callId": call_id, "recordingId": "rec-2", "status": "error"}
    _callback(client, settings, bad, t0 + timedelta(minutes=2))
    evaluate.run(t0 + timedelta(minutes=3))
    assert state_of(rule) == Rule.State.FIRING and rule.value == 1
    evaluate.run(t0 + timedelta(minutes=63))  # the error left the window
    assert state_of(rule) == Rule.State.OK and notices(rule) == ["firing", "resolved"]


# --- calls metrics -------------------------------------------------------------------------


def test_asr_and_failed_share_from_simulated_calls(sim, fast_sync, clock):
    for _ in range(4):
        sim.create_inbound_call(auto_answer=True)
    unanswered = [sim.create_inbound_call(auto_answer=False) for _ in range(6)]
    sim.advance(5)
    for call_id in unanswered:
        sim.hangup(call_id, "ORIGINATOR_CANCEL")
    sim.advance(60)
    sync.run_cycle()
    now = clock.now() + timedelta(minutes=1)
    asr_rule = rule_from_template("asr_low", param=5, hold_minutes=0)
    min_attempts = rule_from_template("asr_low", name="needs 20", param=20, hold_minutes=0)
    evaluate.run(now)
    assert state_of(asr_rule) == Rule.State.FIRING and asr_rule.value == pytest.approx(40.0)
    assert state_of(min_attempts) == Rule.State.NO_DATA  # 10 attempts are not enough
    scoped = rule_from_template("asr_low", name="outbound", param=1, direction="out")
    evaluate.run(now + timedelta(minutes=1))
    assert state_of(scoped) == Rule.State.NO_DATA  # no outbound calls at all


def test_no_calls_only_within_its_hours(sim, fast_sync):
    rule = rule_from_template("no_calls", time_zone="America/New_York")
    # 10:00 in New York on a weekday: no calls in the last 30 min fires ...
    at = datetime(2031, 3, 4, 15, 0, tzinfo=UTC)
    evaluate.run(at)
    assert state_of(rule) == Rule.State.FIRING
    # ... and at 19:00 there it is outside the hours: resolved, not an alert.
    evaluate.run(at + timedelta(hours=9))
    assert state_of(rule) == Rule.State.OFF_HOURS
    assert notices(rule) == ["firing", "resolved"]


def test_percent_change_and_last_week():
    assert metrics.percent_change(30, 10) == 200
    assert metrics.percent_change(5, 10) == -50
    assert metrics.percent_change(3, 0) == float("inf")
    assert metrics.percent_change(0, 0) == 0
    assert metrics.percent_change(None, 4) is None


def test_evaluation_reads_each_window_once(sim, fast_sync, django_assert_max_num_queries):
    sim.preload(30)
    sync.run_cycle()
    for i in range(10):
        rule_from_template("asr_low", name=f"asr {i}", hold_minutes=0)
        rule_from_template("failed_high", name=f"failed {i}", hold_minutes=0)
    # 20 rules over 2 windows: two aggregates, then a read and a write per rule.
    with django_assert_max_num_queries(2 + 20 * 6 + 5):
        summary = evaluate.run(timezone.now())
    assert summary.rules == 20 and not summary.errors


def test_retention_prunes_resolved_alerts_and_their_deliveries(settings, monkeypatch):
    from calls import retention
    from calls.alerts.models import DeliveryAttempt

    monkeypatch.setattr(retention, "BATCH", 2)  # several batches
    settings.ALERT_RETENTION_DAYS = 90
    now = timezone.now()
    rule = rule_from_template("stuck")

    def alert(resolved_days_ago):
        started = now - timedelta(days=200)
        made = Alert.objects.create(
            rule=rule,
            rule_name=rule.name,
            condition="c",
            started_at=started,
            resolved_at=None
            if resolved_days_ago is None
            else now - timedelta(days=resolved_days_ago),
            next_reminder_at=started,
        )
        for kind in ("firing", "resolved"):
            delivery = Delivery.objects.create(
                alert=made,
                kind=kind,
                channel="email",
                target="a@example.com",
                payload={},
                created_at=started,
                next_attempt_at=started,
            )
            DeliveryAttempt.objects.create(delivery=delivery, at=started, ok=True)
        return made

    old = [alert(100), alert(91), alert(120)]
    kept = [alert(89), alert(None)]  # recent, and still firing (however old it started)
    deleted = retention.prune(now)
    assert (deleted["alerts"], deleted["deliveries"], deleted["delivery_attempts"]) == (3, 6, 6)
    assert set(Alert.objects.values_list("pk", flat=True)) == {a.pk for a in kept}
    assert not Delivery.objects.filter(alert_id__in=[a.pk for a in old]).exists()
    assert Delivery.objects.count() == 4 and DeliveryAttempt.objects.count() == 4
    assert retention.prune(now)["alerts"] == 0


def test_window_counts_from_the_rollups_equal_a_count_over_the_calls():
    """Unscoped and direction-scoped rules read the rollups; the figures are the calls'."""
    from calls.sync import payloads, writes

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    rows = []
    for n in range(90):
        start = base + timedelta(minutes=3 * n + 1, seconds=n)
        payload = {
            "id": f"c-win{n}",
            "direction": "in" if n % 3 else "out",
            "from": "+19195550100",
            "to": "+19195550101",
            "state": ["completed", "rejected", "error", "started"][n % 4],
            "startTime": start.isoformat(),
        }
        if n % 4 == 0 and n % 8:
            payload["activeTime"] = (start + timedelta(seconds=2)).isoformat()
        rows.append(payloads.call_fields(payload))
    writes.upsert_calls(rows)
    start, end = base + timedelta(minutes=7, seconds=13), base + timedelta(hours=4, minutes=2)
    for direction in ("", "in", "out"):
        calls = Call.objects.filter(start_time__gte=start, start_time__lt=end)
        if direction:
            calls = calls.filter(direction=direction)
        got = metrics._counts_from_rollups(direction, start, end)
        assert got == {
            "total": calls.count(),
            "ringing": calls.filter(state="started").count(),
            "answered": calls.filter(active_time__isnull=False).count(),
            "failed": calls.filter(state__in=["rejected", "error"]).count(),
        }
        assert got["total"] > 10
