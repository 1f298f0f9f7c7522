"""Injected faults, rate limits and the /_sim control API."""

import json
import time

import pytest
import requests


def test_error_fault_hits_count_matching_requests_then_stops(api, sim):
    sim.faults.add("error", method="GET", path=r"^/calls$", count=2, status=503)
    first, second, third = (api.get("/calls") for _ in range(3))
    assert first.status_code == second.status_code == 503
    body = first.json()
    assert body["category"] == "unavailable" and body["message"]
    assert {"name": "requestPath", "value": "users/u-demo/calls"} in body["details"]
    assert third.status_code == 200
    assert sim.stats()["by_status"] == {503: 2, 200: 1}


def test_fault_only_hits_its_path_and_method(api, sim):
    call_id = sim.create_inbound_call()
    sim.faults.add("error", method="POST", path=r"/events", count=None)
    assert api.get(f"/calls/{call_id}/events").status_code == 200
    assert api.get(f"/calls/{call_id}").status_code == 200


def test_delay_fault_then_normal_answer(api, sim):
    sim.faults.add("delay", path=r"^/calls$", delay=0.3)
    started = time.perf_counter()
    response = api.get("/calls")
    assert response.status_code == 200 and response.json() == []
    assert time.perf_counter() - started >= 0.3


def test_reset_fault_drops_the_connection(api, sim):
    sim.faults.add("reset", path=r"^/calls$")
    with pytest.raises(requests.ConnectionError):
        api.get("/calls")
    assert api.get("/calls").status_code == 200  # the next request is served again


def test_truncated_fault_sends_half_a_json_body(api, sim):
    sim.create_inbound_call()
    sim.faults.add("truncated", path=r"^/calls$")
    response = api.get("/calls")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_non_json_fault_sends_html(api, sim):
    sim.faults.add("non_json")
    response = api.get("/calls")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_wrong_shape_faults(api, sim):
    call_id = sim.create_inbound_call()
    sim.faults.add("wrong_shape", path=r"^/calls$")
    assert isinstance(api.get("/calls").json(), dict)  # an object where an array is due
    sim.faults.add("wrong_shape", path=r"^/calls$", shape="missing_id")
    items = api.get("/calls").json()
    assert isinstance(items, list) and items and "id" not in items[0]
    sim.faults.add("wrong_shape", path=r"^/calls/c-", shape="array")
    assert isinstance(api.get(f"/calls/{call_id}").json(), list)


def test_rate_limited_fault_gives_documented_429(api, sim):
    sim.faults.add("rate_limited", delay=2.0)
    before = int(time.time() * 1000)
    response = api.get("/calls")
    assert response.status_code == 429
    reset = int(response.headers["X-RateLimit-Reset"])
    assert reset >= before + 1900
    assert "Retry-After" not in response.headers
    body = response.json()
    assert body["category"] == "too-many-requests" and body["code"] == "rate-limit-reached"
    assert "message" not in body
    assert body["details"][0] == {"name": "rateLimitResetTime", "value": str(reset)}


def test_probability_uses_the_seeded_rng(sim):
    def run() -> list[int]:
        from catapult_sim import Simulator

        other = Simulator(seed=sim.seed)
        other.faults.add("error", probability=0.5, count=None)
        return [1 if other.faults.match("GET", "/calls") else 0 for _ in range(40)]

    pattern = run()
    assert pattern == run()
    assert 5 < sum(pattern) < 35


def test_rate_limit_per_resource_family(api, sim):
    sim.faults.rate_limit(requests_per_second=2)
    statuses = [api.get("/calls").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = api.get("/calls")
    assert int(limited.headers["X-RateLimit-Reset"]) > int(time.time() * 1000)
    assert api.get("/recordings/rec-x").status_code == 404  # another family, not limited
    time.sleep(1.05)
    assert api.get("/calls").status_code == 200
    sim.faults.rate_limit(None)
    assert all(api.get("/calls").status_code == 200 for _ in range(5))


def test_call_creation_over_its_limit_is_403_call_rate_limit(api, sim):
    sim.faults.rate_limit(requests_per_second=None, calls_per_second=0.5)
    body = {"from": sim.account_numbers[0], "to": "+12125550150"}
    statuses = [api.post("/calls", json=body).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [403]
    refused = api.post("/calls", json=body).json()
    assert refused["category"] == "limit" and refused["code"] == "call-rate-limit"
    assert refused["message"].startswith("You can create 0.5 calls per 1 seconds")


def test_control_api_over_http(api, sim):
    base = sim.base_url
    assert requests.get(f"{base}/_sim/stats", timeout=5).status_code == 401
    faults = [{"kind": "error", "path": "^/calls$", "status": 500, "count": 1}]
    assert api.post(f"{base}/_sim/faults", json=faults).json()["faults"][0]["kind"] == "error"
    assert api.get("/calls").status_code == 500
    api.post(f"{base}/_sim/faults", json=[{"kind": "error", "count": None}])
    assert api.delete(f"{base}/_sim/faults").status_code == 200
    assert api.get("/calls").status_code == 200
    bad = api.post(f"{base}/_sim/faults", json=[{"kind": "meteor"}])
    assert bad.status_code == 400

    made = api.post(f"{base}/_sim/inbound-calls", json={"autoAnswer": False})
    assert made.status_code == 201
    call_id = made.headers["Location"].rsplit("/", 1)[1]
    assert api.get(made.headers["Location"]).json()["state"] == "started"
    hung = api.post(f"{base}/_sim/calls/{call_id}/hangup", json={"cause": "ORIGINATOR_CANCEL"})
    assert hung.status_code == 200
    events = api.get(f"/calls/{call_id}/events").json()
    assert events[-1]["data"] == "ORIGINATOR_CANCEL"
    assert api.post(f"{base}/_sim/calls/{call_id}/hangup", json={}).status_code == 403

    limit = api.post(f"{base}/_sim/rate-limit", json={"requestsPerSecond": 1})
    assert limit.json()["requestsPerSecond"] == 1
    api.get("/calls")
    assert api.get("/calls").status_code == 429
    api.post(f"{base}/_sim/rate-limit", json={"requestsPerSecond": None})

    stats = api.get(f"{base}/_sim/stats").json()
    assert stats["by_route"]["GET /calls"] >= 4
    assert stats["by_status"]["429"] == 1
    assert not any(route.startswith(("POST /_sim", "GET /_sim")) for route in stats["by_route"])
    assert api.post(f"{base}/_sim/stats/reset").json()["requests"] == 0


def test_reset_times_follow_the_wall_clock_even_on_a_manual_clock(manual_api, manual_sim):
    manual_sim.faults.add("rate_limited", delay=1.0)
    reset = int(manual_api.get("/calls").headers["X-RateLimit-Reset"])
    assert 0 < reset - time.time() * 1000 <= 1000
