"""The Catapult client against the simulator over HTTP."""

import time

import pytest

from calls.catapult import (
    BadRequest,
    CatapultClient,
    CatapultError,
    ConnectionFailed,
    InvalidCallState,
    MalformedResponse,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    next_link,
)
from tests.conftest import SIM_TOKEN, SIM_USER


def test_next_link_parses_rfc8288_forms():
    assert next_link('<https://a/x?page=1&size=2>; rel="next"') == "https://a/x?page=1&size=2"
    header = '<https://a/x?page=0&size=25>; rel="first",<https://a/x?page=1&size=25>; rel="next"'
    assert next_link(header) == "https://a/x?page=1&size=25"
    assert next_link('<x?a=1,2>; rel="first", <y>; rel=next') == "y"
    assert next_link('<https://a/x>; rel="first"') is None
    assert next_link(None) is None
    assert next_link("garbage") is None


def test_list_follows_next_links_to_the_end(sim, client_for):
    sim.preload(57, events_per_call=2)
    client = client_for()
    pages = list(client.list_calls(size=20))
    assert [len(page) for page in pages] == [20, 20, 17]
    ids = [call["id"] for page in pages for call in page]
    assert len(set(ids)) == 57
    assert client.requests_made == 3
    starts = [call["startTime"] for page in pages for call in page]
    assert starts == sorted(starts, reverse=True)  # newest first by default


def test_list_passes_filters(sim, client_for):
    sim.preload(40, events_per_call=1)
    calls = [c for page in client_for().list_calls(size=1000) for c in page]
    number = calls[0]["from"]
    filtered = [c for page in client_for().list_calls(from_=number, size=1000) for c in page]
    assert filtered and all(c["from"] == number for c in filtered)
    asc = next(iter(client_for().list_calls(size=5, sort_order="asc")))
    assert [c["startTime"] for c in asc] == sorted(c["startTime"] for c in asc)


def test_size_is_bounded():
    client = CatapultClient("http://127.0.0.1:9", "u", "t", "s")
    with pytest.raises(ValueError):
        next(client.list_calls(size=1001))


def test_get_call_events_and_recordings(sim, client_for):
    call_id = sim.create_inbound_call(auto_answer=True)
    client = client_for()
    call = client.get_call(call_id)
    assert call["id"] == call_id and call["direction"] == "in"
    client.update_call(call_id, recording_enabled=True, recording_file_format="mp3")
    events = client.list_events(call_id)
    assert events and all(e["id"].startswith("ce-") for e in events)
    one = client.get_event(call_id, events[0]["id"])
    assert one["id"] == events[0]["id"]
    recordings = client.list_recordings(call_id)
    assert len(recordings) == 1 and recordings[0]["id"].startswith("rec-")


def test_create_and_transfer_return_new_ids(sim, client_for):
    client = client_for()
    new_id = client.create_call(from_=sim.account_numbers[0], to="+19195550123", tag="t1")
    assert client.get_call(new_id)["tag"] == "t1"
    sim.advance(sim.answer_delay_seconds + 1)
    assert client.get_call(new_id)["state"] == "active"
    b_leg = client.update_call(
        new_id, state="transferring", transfer_to="+19195550199", transfer_caller_id="private"
    )
    assert b_leg and b_leg != new_id
    assert client.get_call(b_leg)["to"] == "+19195550199"


def test_answer_reject_hangup_and_invalid_state(sim, client_for):
    client = client_for()
    ringing = sim.create_inbound_call(auto_answer=False)
    assert client.update_call(ringing, state="active") is None
    assert client.get_call(ringing)["state"] == "active"
    client.update_call(ringing, state="completed")
    with pytest.raises(InvalidCallState) as info:
        client.update_call(ringing, state="completed")
    assert info.value.code == "call-invalid-state" and "COMPLETED" in str(info.value)
    other = sim.create_inbound_call(auto_answer=False)
    client.update_call(other, state="rejected")
    assert client.get_call(other)["state"] == "rejected"


def test_typed_errors(sim, client_for):
    client = client_for()
    with pytest.raises(NotFound):
        client.get_call("c-doesnotexist")
    with pytest.raises(BadRequest):
        client.create_call(from_=sim.account_numbers[0], to="not a number")
    sim.faults.add("error", path=r"/calls$", status=503, count=1)
    with pytest.raises(ServerError) as info:
        next(client.list_calls())
    assert info.value.status == 503


def test_bad_credentials_are_an_error_without_the_secret(sim):
    client = CatapultClient(sim.base_url, SIM_USER, SIM_TOKEN, "wrong-secret")
    with pytest.raises(CatapultError) as info:
        next(client.list_calls())
    assert info.value.status == 401
    assert "wrong-secret" not in str(info.value) and "wrong-secret" not in repr(client)


@pytest.mark.parametrize("kind", ["truncated", "non_json", "wrong_shape"])
def test_malformed_bodies_raise_malformed_response(sim, client_for, kind):
    sim.preload(3, events_per_call=1)
    sim.faults.add(kind, path=r"/calls$", count=1)
    with pytest.raises(MalformedResponse):
        next(client_for().list_calls())


def test_rate_limit_is_waited_out(sim, client_for):
    sim.preload(3, events_per_call=1)
    sim.faults.add("rate_limited", path=r"/calls$", count=1, delay=1.0)
    client = client_for(RetryPolicy(rate_limit_waits=2))
    started = time.monotonic()
    page = next(client.list_calls())
    assert len(page) == 3
    assert client.requests_made == 2
    assert sim.stats()["by_status"].get(429) == 1
    assert time.monotonic() - started >= 0.5  # it waited for the reset, not a blind retry


def test_rate_limit_without_retries_raises_with_reset_time(sim, client_for):
    sim.faults.add("rate_limited", path=r"/calls$", count=1, delay=30.0)
    with pytest.raises(RateLimited) as info:
        next(client_for().list_calls())
    assert info.value.reset_at and info.value.reset_at > time.time() + 20


def test_server_errors_retry_with_backoff_for_gets_only(sim, client_for, no_sleep):
    waits, sleep = no_sleep
    sim.preload(2, events_per_call=1)
    sim.faults.add("error", path=r"/calls$", status=500, count=2)
    client = client_for(RetryPolicy(attempts=3), sleep=sleep)
    assert len(next(client.list_calls())) == 2
    assert len(waits) == 2 and all(0 <= w <= 8 for w in waits)
    sim.faults.add("error", method="POST", path=r"/calls$", status=500, count=1)
    with pytest.raises(ServerError):
        client.create_call(from_=sim.account_numbers[0], to="+19195550100")
    assert len(waits) == 2  # a POST is never retried


def test_connection_reset_and_timeout_are_connection_failures(sim, client_for):
    sim.faults.add("reset", path=r"/calls$", count=1)
    with pytest.raises(ConnectionFailed):
        next(client_for().list_calls())
    sim.faults.add("delay", path=r"/calls$", count=1, delay=1.5)
    with pytest.raises(ConnectionFailed):
        next(client_for(read_timeout=0.3).list_calls())


def test_next_link_to_another_server_is_refused(sim, client_for):
    client = client_for()
    with pytest.raises(MalformedResponse):
        client._follow(sim.base_url + "/v1/x", "http://elsewhere.invalid/v1/x", set())
