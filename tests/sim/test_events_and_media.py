"""Call events, audio, DTMF, gather, transcriptions."""

import json
import re
from datetime import UTC, datetime

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_traffic_calls_have_about_eight_events(manual_api, manual_sim):
    manual_sim.start_traffic(calls_per_minute=60)
    manual_sim.advance(600)
    manual_sim.stop_traffic()
    manual_sim.advance(600)  # let every call finish
    counts = []
    for call in manual_api.get("/calls", params={"size": 1000}).json():
        if "activeTime" in call:
            events = manual_api.get(call["events"]).json()
            counts.append(len(events))
            assert events[0]["name"] == "create"
            assert all(e["id"].startswith("ce-") and ISO_MS.match(e["time"]) for e in events)
    assert len(counts) > 200
    average = sum(counts) / len(counts)
    assert 7.5 <= average <= 10, average


def test_event_list_is_not_strictly_time_ordered_and_data_is_a_string(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    manual_sim.advance(1)
    body = {"fileUrl": "https://example.com/test.mp3"}
    assert manual_api.post(f"/calls/{call_id}/audio", json=body).status_code == 200
    manual_sim.advance(20)
    events = manual_api.get(f"/calls/{call_id}/events").json()
    names = [(e["name"], e.get("data")) for e in events]
    assert names == [
        ("create", None),
        ("answer", None),
        ("CHANNEL_EXECUTE", '{"applicationName":"park"}'),
        (
            "CHANNEL_EXECUTE",
            '{"applicationName":"playback","applicationData":"https://example.com/test.mp3"}',
        ),
        ("playback", "start"),
        ("playback", "done"),
        (
            "CHANNEL_EXECUTE_COMPLETE",
            '{"applicationName":"playback","applicationData":"https://example.com/test.mp3"}',
        ),
    ]
    times = [e["time"] for e in events]
    assert times != sorted(times)  # playback start/done carry the earlier request time
    assert json.loads(events[3]["data"])["applicationName"] == "playback"


def test_single_event_time_is_epoch_milliseconds(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    listed = manual_api.get(f"/calls/{call_id}/events").json()
    single = manual_api.get(f"/calls/{call_id}/events/{listed[1]['id']}").json()
    assert isinstance(single["time"], int)
    as_iso = datetime.fromtimestamp(single["time"] / 1000, UTC).isoformat(timespec="milliseconds")
    assert as_iso.replace("+00:00", "Z") == listed[1]["time"]
    assert {k: single[k] for k in ("id", "name")} == {k: listed[1][k] for k in ("id", "name")}
    missing = manual_api.get(f"/calls/{call_id}/events/ce-nope")
    assert missing.status_code == 404 and missing.json()["category"] == "not-found"


def test_historical_events_are_stable_and_addressable(manual_api, manual_sim):
    ids = manual_sim.preload(50, events_per_call=12)
    answered = [c for c in manual_sim.calls_snapshot() if "activeTime" in c]
    call_id = answered[0]["id"]
    assert call_id in ids
    first = manual_api.get(f"/calls/{call_id}/events").json()
    assert first == manual_api.get(f"/calls/{call_id}/events").json()
    assert len(first) == 12
    single = manual_api.get(f"/calls/{call_id}/events/{first[-1]['id']}")
    assert single.status_code == 200 and single.json()["name"] == first[-1]["name"]


def test_audio_on_a_completed_call_is_call_invalid_state(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    manual_sim.hangup(call_id)
    response = manual_api.post(f"/calls/{call_id}/audio", json={"sentence": "hi"})
    assert response.status_code == 403
    body = response.json()
    assert body["message"] == f"Unable to update call {call_id}. Invalid call state COMPLETED"
    assert body["details"][-1] == {
        "name": "requestPath",
        "value": f"users/u-demo/calls/{call_id}/audio",
    }


def test_speak_and_stop_speaking(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    response = manual_api.post(
        f"/calls/{call_id}/audio", json={"sentence": "Hello there", "loopEnabled": "true"}
    )
    assert response.status_code == 200 and response.content == b""
    manual_sim.advance(1)
    assert manual_api.post(f"/calls/{call_id}/audio", json={"sentence": ""}).status_code == 200
    stop_again = manual_api.post(f"/calls/{call_id}/audio", json={"sentence": ""})
    assert stop_again.status_code == 403
    assert stop_again.json()["code"] == "call-audio-invalid-state"
    names = [e["name"] for e in manual_api.get(f"/calls/{call_id}/events").json()]
    assert names[-2:] == ["CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"]


def test_audio_validation(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    too_long = manual_api.post(f"/calls/{call_id}/audio", json={"sentence": "a" * 1001})
    assert too_long.status_code == 400
    nothing = manual_api.post(f"/calls/{call_id}/audio", json={})
    assert nothing.status_code == 400 and nothing.json()["code"] == "missing-property"


def test_dtmf_out(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    assert manual_api.post(f"/calls/{call_id}/dtmf", json={"dtmfOut": 12}).status_code == 200
    bad = manual_api.post(f"/calls/{call_id}/dtmf", json={"dtmfOut": "12x"})
    assert bad.status_code == 400
    manual_sim.advance(1)
    events = manual_api.get(f"/calls/{call_id}/events").json()
    assert events[-1]["data"] == '{"applicationName":"send_dtmf","applicationData":"12"}'


def test_gather_collects_digits_from_the_caller(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    response = manual_api.post(
        f"/calls/{call_id}/gather",
        json={"maxDigits": "3", "prompt": {"sentence": "Enter your code"}, "tag": "pin"},
    )
    assert response.status_code == 201
    location = response.headers["Location"]
    gather_id = location.rsplit("/", 1)[1]
    assert gather_id.startswith("gtr-")
    assert location == f"{manual_sim.api_base}/calls/{call_id}/gather/{gather_id}"
    duplicate = manual_api.post(f"/calls/{call_id}/gather", json={})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "call-duplicate-gather-error"
    assert manual_api.get(location).json()["state"] == "started"
    manual_sim.advance(5)
    gather = manual_api.get(location).json()
    assert gather["state"] == "completed" and gather["reason"] == "max-digits"
    assert len(gather["digits"]) == 3 and gather["tag"] == "pin"
    assert gather["call"] == f"{manual_sim.api_base}/calls/{call_id}"
    dtmf_events = [
        e for e in manual_api.get(f"/calls/{call_id}/events").json() if e["name"] == "dtmf"
    ]
    assert "".join(e["data"] for e in dtmf_events) == gather["digits"]


def test_gather_terminating_digit_and_stop(manual_api, manual_sim):
    manual_sim.auto_gather_digits = False
    call_id = manual_sim.create_inbound_call()
    first = manual_api.post(f"/calls/{call_id}/gather", json={}).headers["Location"]
    manual_sim.press_digits(call_id, "42#")
    manual_sim.advance(1)
    gather = manual_api.get(first).json()
    assert (gather["digits"], gather["reason"]) == ("42", "terminating-digit")
    second = manual_api.post(f"/calls/{call_id}/gather", json={}).headers["Location"]
    assert manual_api.post(second, json={"state": "completed"}).status_code == 200
    assert manual_api.get(second).json()["reason"] == "cancelled"
    assert manual_api.post(second, json={"state": "started"}).status_code == 400


def test_transcription_follows_a_recording(manual_api, manual_sim):
    call_id = (
        manual_api.post(
            "/calls",
            json={
                "from": manual_sim.account_numbers[0],
                "to": "+12125550150",
                "recordingEnabled": True,
                "transcriptionEnabled": True,
            },
        )
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    manual_sim.advance(30)
    manual_api.post(f"/calls/{call_id}", json={"state": "completed"})
    assert manual_api.get(f"/calls/{call_id}/transcriptions").json() == []
    manual_sim.advance(2)
    (pending,) = manual_api.get(f"/calls/{call_id}/transcriptions").json()
    assert pending["state"] == "transcribing"
    manual_sim.advance(5)
    (done,) = manual_api.get(f"/calls/{call_id}/transcriptions").json()
    assert done["state"] == "completed" and done["text"] and done["textSize"] == len(done["text"])
    assert done["chargeableDuration"] == 60
