"""GET /_sim/calls: when each call entered each state, for tools in other processes."""

import requests


def test_lists_a_new_call_then_its_later_states_in_order(manual_api, manual_sim):
    base = manual_sim.base_url
    manual_sim.preload(3)  # history: listed without `since`, skipped with it
    created_at = manual_sim.clock.now_ms()
    made = manual_api.post(f"{base}/_sim/inbound-calls", json={"autoAnswer": False})
    call_id = made.headers["Location"].rsplit("/", 1)[1]

    listed = manual_api.get(f"{base}/_sim/calls", params={"since": created_at}).json()
    assert [call["id"] for call in listed] == [call_id]
    (call,) = listed
    assert call["state"] == "started" and call["startTime"] == created_at
    assert "endTime" not in call
    assert call["events"] == 1
    assert call["states"] == [{"state": "started", "at": created_at}]

    manual_sim.advance(4)
    manual_api.post(f"/calls/{call_id}", json={"state": "active"})
    manual_sim.advance(30)
    manual_api.post(f"{base}/_sim/calls/{call_id}/hangup", json={})
    (call,) = manual_api.get(f"{base}/_sim/calls", params={"since": created_at + 1000}).json()
    assert call["state"] == "completed" and call["endTime"] == created_at + 34_000
    assert call["states"] == [
        {"state": "started", "at": created_at},
        {"state": "active", "at": created_at + 4000},
        {"state": "completed", "at": created_at + 34_000},
    ]
    assert call["events"] == len(manual_api.get(f"/calls/{call_id}/events").json())

    everything = manual_api.get(f"{base}/_sim/calls").json()
    assert len(everything) == 4 and everything[-1]["id"] == call_id
    assert all(c["states"][-1]["state"] == c["state"] for c in everything)
    assert manual_api.get(f"{base}/_sim/calls", params={"since": "soon"}).status_code == 400
    assert requests.get(f"{base}/_sim/calls", timeout=5).status_code == 401
    assert not any("/_sim" in route for route in manual_sim.stats()["by_route"])
