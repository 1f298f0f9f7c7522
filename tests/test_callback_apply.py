"""Callbacks applied to the database directly: state, times and timeline at once, no API
request, and the later events read reconciles without duplicates."""

import pytest

from calls import sync
from calls.models import Call, CallbackEvent, CallEvent
from calls.sync import callbacks as apply_module
from tests.test_callback_endpoint import _auth, _post

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(settings, catapult_settings, sim, live_server):
    """The simulator delivers its callbacks to our endpoint over HTTP, as in the demo."""
    settings.CALLBACK_USERNAME = "catapult"
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    host = live_server.url.split("://", 1)[1]
    sim.incoming_call_url = f"http://catapult:hook-pass-123@{host}/callbacks/catapult/"
    return sim


def _timeline(call_id):
    return list(
        CallEvent.objects.filter(call__catapult_id=call_id)
        .order_by("time", "id")
        .values_list("name", "source")
    )


@pytest.mark.django_db(transaction=True)
def test_a_ringing_call_appears_from_its_callback_alone(hooks):
    sim = hooks
    sim.reset_stats()
    call_id = sim.create_inbound_call(auto_answer=False)
    assert sim.wait_for_callbacks(timeout=10)
    call = Call.objects.get(catapult_id=call_id)  # never listed, never read: the callback
    assert call.state == "started" and call.direction == "in"
    assert call.from_digits and call.events.get().source == "callback"
    sim.hangup(call_id, cause="ORIGINATOR_CANCEL")
    assert sim.wait_for_callbacks(timeout=10)
    call.refresh_from_db()
    assert call.state == "completed" and call.hangup_cause == "ORIGINATOR_CANCEL"
    assert sim.stats()["requests"] == 0  # callbacks cost no request


@pytest.mark.django_db(transaction=True)
def test_the_events_read_replaces_callback_entries_without_duplicates(hooks):
    sim = hooks
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(5)
    sim.hangup(call_id)
    assert sim.wait_for_callbacks(timeout=10)
    before = _timeline(call_id)
    assert before and all(source == "callback" for _, source in before)
    run = sync.run_cycle()  # lists it (no change) and reads its events: due at once
    assert run.outcome == "success", run.error
    after = _timeline(call_id)
    assert all(source == "api" for _, source in after)
    names = [name for name, _ in after]
    assert names.count("hangup") == 1
    assert sorted(e["id"] for e in sim.events_snapshot(call_id)) == sorted(
        CallEvent.objects.filter(call__catapult_id=call_id).values_list("catapult_id", flat=True)
    )


def test_a_stale_list_does_not_undo_a_hangup_callback(client, settings, catapult_settings, sim):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    payload = {
        "eventType": "hangup",
        "callId": call_id,
        "cause": "NORMAL_CLEARING",
        "time": "2026-11-22T10:00:00Z",
    }
    assert _post(client, payload, **_auth()).status_code == 200
    # The API still says active (its list lags the callback): the call stays ended.
    Call.objects.filter(catapult_id=call_id).update(raw={})
    sync.run_cycle()
    assert Call.objects.get(catapult_id=call_id).state == "completed"


def test_a_late_answer_callback_does_not_revive_an_ended_call(client, settings, sim):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    hangup = {
        "eventType": "hangup",
        "callId": "c-out-of-order",
        "cause": "NORMAL_CLEARING",
        "time": "2026-11-22T10:00:09Z",
        "from": "+19195550100",
        "to": "+19195550111",
    }
    answer = {
        "eventType": "answer",
        "callId": "c-out-of-order",
        "callState": "active",
        "time": "2026-11-22T10:00:01Z",
    }
    assert _post(client, hangup, **_auth()).status_code == 200
    assert _post(client, answer, **_auth()).status_code == 200
    call = Call.objects.get(catapult_id="c-out-of-order")
    assert call.state == "completed"
    assert call.active_time is not None  # the answer still dates the talk time
    assert call.events.count() == 2


def test_applying_a_stored_callback_twice_changes_nothing(client, settings, sim):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    payload = {
        "eventType": "dtmf",
        "callId": "c-twice",
        "dtmfDigit": "5",
        "time": "2026-11-22T10:00:01Z",
    }
    assert _post(client, payload, **_auth()).status_code == 200
    apply_module.apply(CallbackEvent.objects.get())
    assert CallEvent.objects.filter(call__catapult_id="c-twice").count() == 1
