"""Callbacks delivered to a real local HTTP server: shapes, methods, auth, fallback."""

import json
from urllib.parse import urlsplit, urlunsplit


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def test_inbound_call_callbacks_post_json_with_basic_auth(manual_api, manual_sim, receiver):
    manual_sim.incoming_call_url = with_credentials(receiver.url, "hook", "p@ss")
    call_id = manual_sim.create_inbound_call(auto_answer=False)
    manual_api.post(f"/calls/{call_id}", json={"state": "active"})
    manual_api.post(f"/calls/{call_id}", json={"state": "completed"})
    assert manual_sim.wait_for_callbacks()
    assert [r.method for r in receiver.received] == ["POST", "POST", "POST"]
    first = receiver.received[0]
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["User-Agent"].startswith("BandwidthAPI/v1 (")
    assert first.basic_auth == ("hook", "p@ss")
    assert first.path == "/callbacks"
    incoming, answer, hangup = receiver.events()
    call_uri = f"{manual_sim.api_base}/calls/{call_id}"
    assert incoming["eventType"] == "incomingcall"
    assert incoming["callState"] == "started"
    assert incoming["callUri"] == call_uri
    assert incoming["applicationId"].startswith("a-")
    assert answer == {
        "eventType": "answer",
        "from": incoming["from"],
        "to": incoming["to"],
        "callId": call_id,
        "callUri": call_uri,
        "callState": "active",
        "time": answer["time"],
    }
    assert hangup["eventType"] == "hangup"
    assert hangup["cause"] == "NORMAL_CLEARING" and hangup["callState"] == "completed"


def test_auto_answered_inbound_call_reports_active_in_incomingcall(manual_sim, receiver):
    manual_sim.incoming_call_url = receiver.url
    manual_sim.create_inbound_call()
    assert manual_sim.wait_for_callbacks()
    (incoming,) = receiver.events()
    assert incoming["eventType"] == "incomingcall" and incoming["callState"] == "active"


def test_reject_is_a_hangup_callback_with_call_rejected(manual_api, manual_sim, receiver):
    manual_sim.incoming_call_url = receiver.url
    call_id = manual_sim.create_inbound_call(auto_answer=False)
    manual_api.post(f"/calls/{call_id}", json={"state": "rejected"})
    assert manual_sim.wait_for_callbacks()
    (hangup,) = receiver.events("hangup")
    assert hangup["cause"] == "CALL_REJECTED" and hangup["callState"] == "completed"
    assert not receiver.events("reject")


def test_get_callbacks_send_strings_in_the_query(manual_api, manual_sim, receiver):
    response = manual_api.post(
        "/calls",
        json={
            "from": manual_sim.account_numbers[0],
            "to": "+12125550150",
            "callbackUrl": receiver.url,
            "callbackHttpMethod": "GET",
            "tag": "ctx-1",
        },
    )
    call_id = response.headers["Location"].rsplit("/", 1)[1]
    manual_sim.advance(3)
    assert manual_sim.wait_for_callbacks()
    (request,) = receiver.received
    assert request.method == "GET" and request.body == b""
    assert request.query == {
        "eventType": "answer",
        "from": manual_sim.account_numbers[0],
        "to": "+12125550150",
        "callId": call_id,
        "callUri": f"{manual_sim.api_base}/calls/{call_id}",
        "callState": "active",
        "time": request.query["time"],
        "tag": "ctx-1",
    }


def test_timeout_then_hangup_for_an_unanswered_call(manual_api, manual_sim, receiver):
    manual_api.post(
        "/calls",
        json={
            "from": manual_sim.account_numbers[0],
            "to": "+12125550001",
            "callTimeout": 10,
            "callbackUrl": receiver.url,
        },
    )
    manual_sim.advance(11)
    assert manual_sim.wait_for_callbacks()
    timeout, hangup = receiver.events()
    assert timeout["eventType"] == "timeout"
    assert hangup["eventType"] == "hangup" and hangup["cause"] == "NO_ANSWER"


def test_recording_media_and_dtmf_callbacks(manual_api, manual_sim, receiver):
    manual_sim.incoming_call_url = receiver.url
    call_id = manual_sim.create_inbound_call()
    manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": True})
    manual_api.post(f"/calls/{call_id}/audio", json={"sentence": "Hi there", "tag": "greet"})
    manual_sim.press_digits(call_id, "7")
    manual_sim.advance(10)
    manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": False})
    manual_sim.advance(3)
    assert manual_sim.wait_for_callbacks()
    speak = receiver.events("speak")
    assert [(s["status"], s["state"]) for s in speak] == [
        ("started", "PLAYBACK_START"),
        ("done", "PLAYBACK_STOP"),
    ]
    assert speak[0]["tag"] == "greet" and speak[0]["type"] == "speak"
    (dtmf,) = receiver.events("dtmf")
    assert dtmf["dtmfDigit"] == "7"
    (recording,) = receiver.events("recording")
    assert recording["status"] == recording["state"] == "complete"
    assert "time" not in recording
    assert recording["recordingUri"] == (
        f"{manual_sim.api_base}/recordings/{recording['recordingId']}"
    )


def test_failed_delivery_goes_to_the_fallback_url(manual_api, manual_sim, receiver):
    receiver.status = 500
    fallback = receiver.url.replace("/callbacks", "/fallback")
    manual_api.post(
        "/calls",
        json={
            "from": manual_sim.account_numbers[0],
            "to": "+12125550150",
            "callbackUrl": receiver.url,
            "fallbackUrl": fallback,
            "callbackTimeout": 1000,
        },
    )
    manual_sim.advance(3)
    assert manual_sim.wait_for_callbacks()
    assert [r.path for r in receiver.received] == ["/callbacks", "/fallback"]
    (delivery,) = manual_sim.callback_deliveries
    assert delivery["ok"] is False and delivery["status"] == 500


def test_unreachable_callback_never_blocks_the_api(manual_api, manual_sim):
    manual_sim.incoming_call_url = "http://127.0.0.1:9/nowhere"  # discard port: refused
    call_id = manual_sim.create_inbound_call()
    assert manual_api.post(f"/calls/{call_id}", json={"state": "completed"}).status_code == 200
    assert manual_sim.wait_for_callbacks()
    assert all(not d["ok"] for d in manual_sim.callback_deliveries)
    assert json.dumps(manual_sim.callback_deliveries)  # plain data, safe to log
