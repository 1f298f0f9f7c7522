"""Creating calls and every requested transition, with the live API's status codes."""

import pytest


def create(api, sim, **fields):
    body = {"from": sim.account_numbers[0], "to": "+12125550150", **fields}
    response = api.post("/calls", json=body)
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


def state_of(api, call_id):
    return api.get(f"/calls/{call_id}").json()["state"]


def assert_invalid_state(response, call_id, state, after_final=False):
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "forbidden"
    assert body["code"] == "call-invalid-state"
    if after_final:
        assert body["message"] == (
            f"Unable to update call {call_id}. "
            f"You can`t update the call`s state after being set to {state}"
        )
    else:
        assert body["message"] == f"Unable to update call {call_id}. Invalid call state {state}"
    assert {"name": "callState", "value": state} in body["details"]
    assert {"name": "callId", "value": call_id} in body["details"]


def test_create_gives_201_absolute_location_and_empty_body(manual_api, manual_sim):
    response = manual_api.post(
        "/calls", json={"from": manual_sim.account_numbers[0], "to": "+12125550150"}
    )
    assert response.status_code == 201
    assert response.content == b""
    assert "Content-Type" not in response.headers
    location = response.headers["Location"]
    assert location.startswith(f"{manual_sim.base_url}/v1/users/u-demo/calls/c-")
    call = manual_api.get(location).json()
    assert call["id"] == location.rsplit("/", 1)[1]
    assert call["state"] == "started" and call["direction"] == "out"
    assert "activeTime" not in call and "endTime" not in call
    assert call["recordings"] == f"{location}/recordings"


def test_location_follows_the_host_header_the_client_used(manual_api, manual_sim):
    port = manual_sim.base_url.rsplit(":", 1)[1]
    response = manual_api.post(
        f"http://localhost:{port}/v1/users/u-demo/calls",
        json={"from": manual_sim.account_numbers[0], "to": "+12125550150"},
    )
    assert response.headers["Location"].startswith(f"http://localhost:{port}/v1/users/u-demo/")


def test_remote_answers_after_the_delay_then_hangup_completes(manual_api, manual_sim):
    call_id = create(manual_api, manual_sim)
    manual_sim.advance(1.9)
    assert state_of(manual_api, call_id) == "started"
    manual_sim.advance(0.2)
    assert state_of(manual_api, call_id) == "active"
    manual_sim.advance(150)
    response = manual_api.post(f"/calls/{call_id}", json={"state": "completed"})
    assert response.status_code == 200
    assert response.content == b"" and "Content-Type" not in response.headers
    call = manual_api.get(f"/calls/{call_id}").json()
    assert call["state"] == "completed"
    assert call["chargeableDuration"] == 180  # 150.1 s of talk, billed in whole minutes
    assert call["endTime"].endswith("Z") and len(call["endTime"]) == 24
    events = manual_api.get(f"/calls/{call_id}/events").json()
    assert events[-1]["name"] == "hangup" and events[-1]["data"] == "NORMAL_CLEARING"


def test_hangup_twice_is_call_invalid_state(manual_api, manual_sim):
    call_id = create(manual_api, manual_sim)
    manual_sim.advance(3)
    assert manual_api.post(f"/calls/{call_id}", json={"state": "completed"}).status_code == 200
    again = manual_api.post(f"/calls/{call_id}", json={"state": "completed"})
    assert_invalid_state(again, call_id, "COMPLETED", after_final=True)


def test_cancelling_a_ringing_outbound_call_is_originator_cancel(manual_api, manual_sim):
    call_id = create(manual_api, manual_sim)
    assert manual_api.post(f"/calls/{call_id}", json={"state": "completed"}).status_code == 200
    events = manual_api.get(f"/calls/{call_id}/events").json()
    assert [e["name"] for e in events] == ["create", "hangup"]
    assert events[-1]["data"] == "ORIGINATOR_CANCEL"
    manual_sim.advance(5)  # the scheduled answer no longer applies
    assert state_of(manual_api, call_id) == "completed"


@pytest.mark.parametrize(
    ("suffix", "state", "cause", "names"),
    [
        ("0000", "completed", "USER_BUSY", ["create", "hangup"]),
        ("0001", "completed", "NO_ANSWER", ["create", "timeout", "hangup"]),
        ("0002", "error", "NORMAL_TEMPORARY_FAILURE", ["create", "hangup"]),
        ("0003", "completed", "UNALLOCATED_NUMBER", ["create", "hangup"]),
    ],
)
def test_special_destination_numbers(manual_api, manual_sim, suffix, state, cause, names):
    call_id = create(manual_api, manual_sim, to=f"+1212555{suffix}", callTimeout="20")
    manual_sim.advance(21)
    call = manual_api.get(f"/calls/{call_id}").json()
    assert call["state"] == state
    assert "activeTime" not in call and "chargeableDuration" not in call
    events = manual_api.get(f"/calls/{call_id}/events").json()
    assert [e["name"] for e in events] == names
    assert events[-1]["data"] == cause


def test_answer_and_reject_apply_only_to_ringing_incoming_calls(manual_api, manual_sim):
    ringing = manual_sim.create_inbound_call(auto_answer=False)
    assert state_of(manual_api, ringing) == "started"
    assert manual_api.post(f"/calls/{ringing}", json={"state": "active"}).status_code == 200
    call = manual_api.get(f"/calls/{ringing}").json()
    assert call["state"] == "active" and call["direction"] == "in" and "activeTime" in call
    assert_invalid_state(
        manual_api.post(f"/calls/{ringing}", json={"state": "active"}), ringing, "ACTIVE"
    )
    assert_invalid_state(
        manual_api.post(f"/calls/{ringing}", json={"state": "rejected"}), ringing, "ACTIVE"
    )
    outbound = create(manual_api, manual_sim)
    assert_invalid_state(
        manual_api.post(f"/calls/{outbound}", json={"state": "active"}), outbound, "STARTED"
    )


def test_reject_ringing_call(manual_api, manual_sim):
    ringing = manual_sim.create_inbound_call(auto_answer=False)
    assert manual_api.post(f"/calls/{ringing}", json={"state": "rejected"}).status_code == 200
    call = manual_api.get(f"/calls/{ringing}").json()
    assert call["state"] == "rejected" and "endTime" in call
    events = manual_api.get(f"/calls/{ringing}/events").json()
    assert events[-1] == {**events[-1], "name": "hangup", "data": "CALL_REJECTED"}
    again = manual_api.post(f"/calls/{ringing}", json={"state": "completed"})
    assert_invalid_state(again, ringing, "REJECTED", after_final=True)


def test_inbound_calls_are_auto_answered_by_default(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    call = manual_api.get(f"/calls/{call_id}").json()
    assert call["state"] == "active"
    assert call["to"] in manual_sim.account_numbers
    assert call["activeTime"] == call["startTime"]


def test_remote_hangup_from_python_api(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    manual_sim.hangup(call_id, cause="NORMAL_CLEARING")
    assert state_of(manual_api, call_id) == "completed"


def test_recording_on_off_creates_a_complete_recording(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    manual_sim.advance(1)
    on = manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": "true"})
    assert on.status_code == 200
    assert manual_api.get(f"/calls/{call_id}").json()["recordingEnabled"] is True
    twice = manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": True})
    assert twice.status_code == 409
    assert twice.json()["code"] == "conflicted-recording-values-request"
    (recording,) = manual_api.get(f"/calls/{call_id}/recordings").json()
    assert recording["state"] == "recording" and "endTime" not in recording
    manual_sim.advance(12)
    assert manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": False}).status_code == 200
    assert manual_api.get(f"/calls/{call_id}/recordings").json()[0]["state"] == "saving"
    manual_sim.advance(2)
    (recording,) = manual_api.get(f"/calls/{call_id}/recordings").json()
    assert recording["state"] == "complete"
    assert recording["id"].startswith("rec-")
    assert recording["media"] == f"{manual_sim.api_base}/media/{call_id}-1.wav"
    assert recording["call"] == f"{manual_sim.api_base}/calls/{call_id}"
    single = manual_api.get(f"/recordings/{recording['id']}").json()
    assert single == recording


def test_recording_needs_an_active_call(manual_api, manual_sim):
    call_id = create(manual_api, manual_sim)
    response = manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": True})
    assert_invalid_state(response, call_id, "STARTED")


def test_answer_and_record_in_one_request(manual_api, manual_sim):
    ringing = manual_sim.create_inbound_call(auto_answer=False)
    body = {"state": "active", "recordingEnabled": True, "recordingFileFormat": "mp3"}
    assert manual_api.post(f"/calls/{ringing}", json=body).status_code == 200
    (recording,) = manual_api.get(f"/calls/{ringing}/recordings").json()
    assert recording["media"].endswith(f"{ringing}-1.mp3")


def test_hangup_with_record_on_is_refused_and_changes_nothing(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    body = {"state": "completed", "recordingEnabled": True}
    assert_invalid_state(manual_api.post(f"/calls/{call_id}", json=body), call_id, "COMPLETED")
    assert state_of(manual_api, call_id) == "active"


def test_hangup_stops_a_running_recording(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": True})
    manual_sim.advance(5)
    manual_api.post(f"/calls/{call_id}", json={"state": "completed"})
    manual_sim.advance(2)
    assert manual_api.get(f"/calls/{call_id}/recordings").json()[0]["state"] == "complete"


def test_python_sdk_style_nulls_are_ignored(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    body = {
        "state": "completed",
        "recordingEnabled": None,
        "recordingFileFormat": None,
        "transferTo": None,
        "transferCallerId": None,
        "whisperAudio": None,
        "callbackUrl": None,
    }
    assert manual_api.post(f"/calls/{call_id}", json=body).status_code == 200
    assert state_of(manual_api, call_id) == "completed"


def test_transfer_creates_b_leg_and_joins_the_legs(manual_api, manual_sim):
    a_leg = manual_sim.create_inbound_call()
    ringing_a = manual_sim.create_inbound_call(auto_answer=False)
    body = {
        "state": "transferring",
        "transferTo": "+13035550123",
        "transferCallerId": "private",
        "whisperAudio": {"sentence": "Hello! You have an incoming call"},
    }
    assert_invalid_state(manual_api.post(f"/calls/{ringing_a}", json=body), ringing_a, "STARTED")
    response = manual_api.post(f"/calls/{a_leg}", json=body)
    assert response.status_code == 201 and response.content == b""
    b_leg = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"] == f"{manual_sim.api_base}/calls/{b_leg}"
    a = manual_api.get(f"/calls/{a_leg}").json()
    assert a["state"] == "transferring"
    assert a["transferTo"] == "+13035550123" and a["transferCallerId"] == "private"
    assert a["whisperAudio"] == {"sentence": "Hello! You have an incoming call"}
    b = manual_api.get(f"/calls/{b_leg}").json()
    assert b["direction"] == "out" and b["to"] == "+13035550123" and b["state"] == "started"
    manual_sim.advance(3)
    assert state_of(manual_api, a_leg) == "active"
    assert state_of(manual_api, b_leg) == "active"
    manual_sim.advance(5)
    b_events = [e["name"] for e in manual_api.get(f"/calls/{b_leg}/events").json()]
    assert "speak" in b_events  # the whisper was played to the new leg
    manual_sim.hangup(b_leg)
    assert state_of(manual_api, a_leg) == "completed"  # the legs end together


def test_transfer_to_a_busy_number_returns_the_a_leg_to_active(manual_api, manual_sim):
    a_leg = manual_sim.create_inbound_call()
    body = {"state": "transferring", "transferTo": "+13035550000"}
    b_leg = manual_api.post(f"/calls/{a_leg}", json=body).headers["Location"].rsplit("/", 1)[1]
    manual_sim.advance(2)
    assert state_of(manual_api, b_leg) == "completed"
    assert state_of(manual_api, a_leg) == "active"


def test_transfer_needs_transfer_to(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    response = manual_api.post(f"/calls/{call_id}", json={"state": "transferring"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "missing-property"
    assert "'transferTo' is required" in body["message"]


def test_transfer_caller_id_must_be_owned(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    body = {"state": "transferring", "transferTo": "+13035550123", "transferCallerId": "+1999"}
    response = manual_api.post(f"/calls/{call_id}", json=body)
    assert response.status_code == 400
    assert "must be `private` or a phone number owned by user" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"to": "+12125550150"}, 400, "missing-property"),
        ({"from": "+19995550100", "to": "+12125550150"}, 403, "number-access-denied"),
        ({"to": "2125550150"}, 400, "validation-error"),
        ({"to": "sips:someone@somewhere.com"}, 400, "validation-error"),
        ({"callbackTimeout": 20000}, 400, "validation-error"),
        ({"callbackTimeout": 0}, 400, "validation-error"),
        ({"callTimeout": 301}, 400, "validation-error"),
        ({"callbackUrl": "ftp://example.com/x"}, 400, "callback-invalid-url"),
        ({"callbackHttpMethod": "PUT"}, 400, "validation-error"),
        ({"sipHeaders": {"Foo": "bar"}}, 400, "validation-error"),
        ({"sipHeaders": {f"X-H{i}": "v" for i in range(6)}}, 400, "validation-error"),
        ({"recordingEnabled": "maybe"}, 400, "validation-error"),
        ({"recordingFileFormat": "ogg"}, 400, "validation-error"),
    ],
)
def test_create_validation(manual_api, manual_sim, body, status, code):
    full = {"from": manual_sim.account_numbers[0], "to": "+12125550150", **body}
    if "from" in body or body == {"to": "+12125550150"}:
        full = dict(body)
    response = manual_api.post("/calls", json=full)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_create_accepts_strings_sip_uris_and_echoes_given_fields(manual_api, manual_sim):
    call_id = create(
        manual_api,
        manual_sim,
        to="sip:someone@somewhere.com",
        callTimeout="45",
        callbackUrl="https://example.com/cb",
        callbackHttpMethod="get",
        callbackTimeout="2000",
        recordingEnabled="false",
        tag='{ "context": "key" }',
        sipHeaders={"X-Customer": "42"},
    )
    call = manual_api.get(f"/calls/{call_id}").json()
    assert call["to"] == "sip:someone@somewhere.com"
    assert call["callTimeout"] == 45 and call["callbackTimeout"] == 2000
    assert call["callbackHttpMethod"] == "GET"
    assert call["tag"] == '{ "context": "key" }'
    assert call["sipHeaders"] == {"X-Customer": "42"}
    assert call["recordingEnabled"] is False
    assert "fallbackUrl" not in call and "bridgeId" not in call


def test_update_with_bad_state_value_is_a_400(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call()
    response = manual_api.post(f"/calls/{call_id}", json={"state": "on-hold"})
    assert response.status_code == 400
    assert "must be one of the following values" in response.json()["message"]


def test_outbound_hangup_after_knob(manual_api, manual_sim):
    manual_sim.outbound_hangup_after_seconds = 30
    call_id = create(manual_api, manual_sim)
    manual_sim.advance(31)
    assert state_of(manual_api, call_id) == "active"
    manual_sim.advance(2)
    assert state_of(manual_api, call_id) == "completed"
