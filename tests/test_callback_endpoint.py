"""Catapult callbacks: Basic auth from the URL, every v1 event type, duplicates, size cap."""

import base64
import json

import pytest
from django.urls import reverse

from calls import callbacks, sync
from calls.models import Call, CallbackEvent
from dashboard.celery import app

# Transactional: the view queues work on commit, which a test transaction never reaches.
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/callbacks/catapult/"


@pytest.fixture
def hook_settings(settings, catapult_settings):
    settings.CALLBACK_USERNAME = "catapult"
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    return settings


def _auth(user="catapult", password="hook-pass-123"):
    return {
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    }


@pytest.fixture
def eager():
    """Queued work runs at once, in this thread (the worker path has its own test)."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _post(client, payload, **extra):
    return client.post(URL, json.dumps(payload), content_type="application/json", **extra)


@pytest.mark.parametrize(
    "auth",
    [
        {},
        _auth(password="wrong"),
        _auth(user="other"),
        {"HTTP_AUTHORIZATION": "Basic !!!"},
        {"HTTP_AUTHORIZATION": "Bearer x"},
        _auth("test-token", "test-secret-value"),
    ],
)
def test_unauthenticated_callbacks_get_a_401_challenge(client, hook_settings, auth):
    response = _post(client, {"eventType": "answer", "callId": "c-x"}, **auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert not CallbackEvent.objects.exists()


def test_callbacks_are_off_without_a_password(client, settings):
    settings.CALLBACK_PASSWORD = ""
    assert _post(client, {"eventType": "answer"}, **_auth(password="")).status_code == 401


def test_a_callback_is_applied_at_once_with_no_api_request(client, hook_settings, sim):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    sim.hangup(call_id)
    sim.reset_stats()
    payload = {
        "eventType": "hangup",
        "callId": call_id,
        "cause": "NORMAL_CLEARING",
        "callUri": f"{sim.base_url}/v1/users/u-test/calls/{call_id}",
        "time": "2026-11-22T10:00:00.000Z",
    }
    response = _post(client, payload, **_auth())
    assert response.status_code == 200
    call = Call.objects.get(catapult_id=call_id)
    assert call.state == "completed" and call.hangup_cause == "NORMAL_CLEARING"
    assert call.end_time is not None and call.events_due_at is not None
    assert call.events.filter(source="callback", name="hangup").count() == 1
    assert CallbackEvent.objects.get().processed_at is not None
    assert sim.stats()["requests"] == 0


def test_get_form_callback_with_query_parameters(client, hook_settings, sim, eager):
    call_id = sim.create_inbound_call(auto_answer=True)
    response = client.get(
        URL,
        {
            "eventType": "answer",
            "callId": call_id,
            "callState": "active",
            "time": "2026-11-22T10:00:00Z",
        },
        **_auth(),
    )
    assert response.status_code == 200
    assert Call.objects.get(catapult_id=call_id).state == "active"


def test_duplicate_deliveries_change_nothing(client, hook_settings, sim, eager):
    call_id = sim.create_inbound_call(auto_answer=True)
    payload = {"eventType": "answer", "callId": call_id, "time": "2026-11-22T10:00:00.000Z"}
    assert _post(client, payload, **_auth()).status_code == 200
    sim.reset_stats()
    assert _post(client, payload, **_auth()).status_code == 200
    assert CallbackEvent.objects.count() == 1
    assert sim.stats()["requests"] == 0  # the duplicate queued no work


def test_transcription_is_joined_through_its_recording(
    client, hook_settings, sim, eager, client_for
):
    call_id = sim.create_inbound_call(auto_answer=True)
    client_for().update_call(call_id, recording_enabled=True)
    recording_id = sim.recordings_snapshot(call_id)[0]["id"]
    # Catapult reports the recording first (it names the call), then its transcription.
    recording = {
        "eventType": "recording",
        "callId": call_id,
        "recordingId": recording_id,
        "status": "complete",
        "state": "complete",
        "startTime": "2026-11-22T10:00:00.000Z",
        "endTime": "2026-11-22T10:00:05.000Z",
    }
    assert _post(client, recording, **_auth()).status_code == 200
    sim.reset_stats()
    payload = {
        "eventType": "transcription",
        "recordingId": recording_id,
        "state": "completed",
        "status": "completed",
        "transcriptionId": "tr-1",
        "text": "hello",
    }
    assert _post(client, payload, **_auth()).status_code == 200
    event = CallbackEvent.objects.get(event_type="transcription")
    assert event.call_catapult_id == call_id and not event.error
    call = Call.objects.get(catapult_id=call_id)
    assert call.events.filter(name="transcription", source="callback").exists()
    assert sim.stats()["requests"] == 0  # joined without asking the API


def test_a_transcription_of_an_unknown_recording_is_kept_unapplied(client, hook_settings, sim):
    payload = {"eventType": "transcription", "recordingId": "rec-unknown", "status": "completed"}
    assert _post(client, payload, **_auth()).status_code == 200
    event = CallbackEvent.objects.get()
    assert event.processed_at and "names no call" in event.error
    assert sim.stats()["requests"] == 0


@pytest.mark.parametrize(
    "event_type,extra",
    [
        ("incomingcall", {"callState": "active", "applicationId": "a-1"}),
        ("answer", {"callState": "active", "tag": "t"}),
        ("hangup", {"cause": "CALL_REJECTED", "callState": "completed"}),
        ("timeout", {}),
        ("playback", {"status": "done"}),
        ("speak", {"status": "started", "state": "PLAYBACK_START"}),
        ("dtmf", {"dtmfDigit": "5"}),
        ("gather", {"reason": "max-digits", "state": "completed", "digits": "25", "gatherId": "g"}),
        ("recording", {"recordingId": "rec-1", "status": "complete"}),
        ("error", {"callState": "error"}),
        ("conference", {"status": "created", "conferenceId": "conf-1"}),
        ("conference-member", {"conferenceId": "conf-1", "memberId": "m-1", "state": "active"}),
        ("conference-playback", {"status": "done", "conferenceId": "conf-1"}),
        ("conference-speak", {"status": "done", "conferenceId": "conf-1"}),
    ],
)
def test_every_v1_event_type_is_accepted(client, hook_settings, sim, eager, event_type, extra):
    call_id = sim.create_inbound_call(auto_answer=True)
    payload = {"eventType": event_type, "callId": call_id, **extra}
    if event_type != "gather":  # gather callbacks carry no callUri
        payload["callUri"] = f"{sim.base_url}/v1/users/u-test/calls/{call_id}"
    assert _post(client, payload, **_auth()).status_code == 200
    assert CallbackEvent.objects.get().event_type == event_type


def test_bad_bodies_are_clear_errors(client, hook_settings):
    assert (
        client.post(URL, "not json", content_type="application/json", **_auth()).status_code == 400
    )
    assert _post(client, ["a"], **_auth()).status_code == 400
    assert _post(client, {"no": "type"}, **_auth()).status_code == 400
    big = {"eventType": "answer", "pad": "x" * (callbacks.MAX_BODY_BYTES + 10)}
    assert _post(client, big, **_auth()).status_code == 413
    assert client.put(URL, "{}", **_auth()).status_code == 405
    assert not CallbackEvent.objects.exists()


def test_simulator_delivers_callbacks_to_the_endpoint(
    live_server, hook_settings, sim, eager, transactional_db
):
    """The simulator calls the endpoint over HTTP, as the platform would."""
    host = live_server.url.split("://", 1)[1]
    sim.incoming_call_url = f"http://catapult:hook-pass-123@{host}{reverse('calls:callback')}"
    call_id = sim.create_inbound_call(auto_answer=True)
    assert sim.wait_for_callbacks(timeout=10)
    assert CallbackEvent.objects.filter(
        call_catapult_id=call_id, event_type="incomingcall"
    ).exists()
    assert Call.objects.get(catapult_id=call_id).state == "active"


def test_nul_characters_are_replaced_not_refused(client, hook_settings):
    response = _post(client, {"eventType": "answer", "callId": "c-x", "tag": "a\u0000b"}, **_auth())
    assert response.status_code == 200
    assert CallbackEvent.objects.get().payload["tag"] == "a\ufffdb"


def test_a_literal_backslash_u0000_is_not_a_nul(client, hook_settings):
    response = _post(
        client, {"eventType": "answer", "callId": "c-x", "tag": "a\\u0000b"}, **_auth()
    )
    assert response.status_code == 200
    assert CallbackEvent.objects.get().payload["tag"] == "a\\u0000b"
