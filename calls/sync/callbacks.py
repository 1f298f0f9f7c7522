"""Apply a Catapult callback to the database at once, without a single API request.

A callback says what happened to a call (answered, hung up, a digit pressed...) the
moment it happens. It updates the call's state, times and hangup cause and adds a
timeline entry; a callback for a call we have never seen creates it from the payload
(the next list page brings the rest of the record). The entry is marked as coming from a
callback: the call's next events read contains the same event under the API's own id and
replaces it, so the timeline never shows it twice.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from calls import push
from calls.catapult import MalformedResponse
from calls.models import Call, CallbackEvent, CallEvent
from calls.numbers import digits
from calls.recordings import store as recordings_store
from calls.sync.payloads import parse_time, without_nul
from calls.sync.writes import events_due, goes_backwards, is_final

# The state a callback says the call is in, when its payload has no callState.
_STATE_OF = {"incomingcall": "started", "answer": "active", "hangup": "completed", "error": "error"}
# The payload field that carries what a timeline sentence needs, per event type.
_DATA_FIELD = {
    "hangup": "cause",
    "playback": "status",
    "speak": "status",
    "dtmf": "dtmfDigit",
    "gather": "digits",
    "recording": "status",
    "transcription": "status",
}


def call_id_of(event: CallbackEvent) -> str:
    """The call a callback concerns. Transcriptions name only their recording: the
    recording's own callback named the call (no API request to find out)."""
    if event.call_catapult_id:
        return event.call_catapult_id
    if event.recording_id:
        earlier = (
            CallbackEvent.objects.filter(event_type="recording", recording_id=event.recording_id)
            .exclude(call_catapult_id="")
            .values_list("call_catapult_id", flat=True)
            .first()
        )
        # Or the recording as stored from a list (its own callback may never have come).
        return earlier or recordings_store.call_id_of_recording(event.recording_id)
    return ""


def apply(event: CallbackEvent) -> str:
    """Apply one stored callback; returns a one-line summary. Safe to run twice."""
    # Recording and transcription callbacks also keep the Recording row up to date.
    recordings_store.apply_callback(event.event_type, without_nul(event.payload))
    call_id = call_id_of(event)
    now = timezone.now()
    if not call_id:
        CallbackEvent.objects.filter(pk=event.pk).update(
            processed_at=now, error="The callback names no call we know"
        )
        return "no call"
    payload = without_nul(event.payload)
    kind = event.event_type
    moment = _moment(payload, now)
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(catapult_id=call_id).first()
        if call is None:
            call = _new_call(call_id, kind, payload, moment, now)
        else:
            _update_call(call, kind, payload, moment, now)
        data = payload.get(_DATA_FIELD.get(kind, ""), "")
        CallEvent.objects.get_or_create(
            call=call,
            catapult_id=f"cb-{event.digest[:40]}",
            defaults={
                "name": kind[:64],
                "time": moment,
                "data": data if isinstance(data, str) else json.dumps(data),
                "data_json": payload,
                "source": CallEvent.Source.CALLBACK,
                "received_at": event.received_at,
            },
        )
        CallbackEvent.objects.filter(pk=event.pk).update(
            processed_at=now, error="", call_catapult_id=call_id
        )
        state = call.state
        transaction.on_commit(lambda: push.publish("call", {call_id: state}))
    return f"{kind} applied to {call_id} ({call.state})"


def _moment(payload: dict, fallback: datetime) -> datetime:
    # recording callbacks have no `time`, only start and end times.
    for key in ("time", "endTime", "startTime"):
        try:
            moment = parse_time(payload.get(key), key)
        except MalformedResponse:
            continue
        if moment is not None:
            return moment
    return fallback


def _state_of(kind: str, payload: dict) -> str:
    if kind == "hangup" and payload.get("cause") == "CALL_REJECTED":
        return "rejected"  # what the call resource says of a rejected call
    state = payload.get("callState")
    if isinstance(state, str) and state and kind in (*_STATE_OF, "transferComplete"):
        return state[:16]
    return _STATE_OF.get(kind, "")


def _new_call(call_id: str, kind: str, payload: dict, moment: datetime, now: datetime) -> Call:
    state = _state_of(kind, payload) or "active"
    from_number = str(payload.get("from") or "")[:255]
    to_number = str(payload.get("to") or "")[:255]
    call = Call(
        catapult_id=call_id[:64],
        direction="in" if kind == "incomingcall" else "",
        from_number=from_number,
        to_number=to_number,
        from_digits=digits(from_number)[:32],
        to_digits=digits(to_number)[:32],
        from_digits_rev=digits(from_number)[:32][::-1],
        to_digits_rev=digits(to_number)[:32][::-1],
        state=state,
        start_time=moment,
        raw={},  # the list brings the resource; an empty payload always differs from it
        first_seen_at=now,
        synced_at=now,
        state_changed_at=now,
        events_pending=True,
    )
    _apply_times(call, kind, payload, moment)
    if is_final(state):
        call.events_due_at = events_due(call.end_time, now)
    call.save()
    return call


def _update_call(call: Call, kind: str, payload: dict, moment: datetime, now: datetime) -> None:
    state = _state_of(kind, payload)
    changed = bool(state) and state != call.state and not goes_backwards(call.state, state)
    if changed:
        call.state = state
        call.state_changed_at = now
        call.events_pending = True
        if is_final(state):
            call.events_due_at = events_due(moment, now)
    _apply_times(call, kind, payload, moment)
    call.synced_at = now
    call.save()


def _apply_times(call: Call, kind: str, payload: dict, moment: datetime) -> None:
    answered = kind == "answer" or (kind == "incomingcall" and call.state == "active")
    if answered and call.active_time is None:
        call.active_time = moment
    if kind == "hangup":
        call.end_time = call.end_time or moment
        cause = payload.get("cause")
        if isinstance(cause, str) and cause:
            call.hangup_cause = cause[:64]
        if call.active_time and call.end_time >= call.active_time:
            call.duration = int((call.end_time - call.active_time).total_seconds())
    if kind == "recording":
        call.has_recording = True
