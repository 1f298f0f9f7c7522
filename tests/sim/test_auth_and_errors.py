"""Authentication, ownership of the userId, and the shape of every error body."""

import base64
import http.client

import requests


def details(body: dict) -> dict:
    return {d["name"]: d["value"] for d in body["details"]}


def test_missing_credentials_get_401_json(sim):
    response = requests.get(f"{sim.api_base}/calls", timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["category"] == "authentication"
    assert body["code"] == "invalid-credentials"
    assert body["message"]
    assert details(body)["requestPath"] == "users/u-demo/calls"


def test_wrong_secret_gets_401(sim):
    response = requests.get(f"{sim.api_base}/calls", auth=(sim.api_token, "nope"), timeout=5)
    assert response.status_code == 401


def test_other_user_gets_403_user_access_denied(api, sim):
    response = api.get(f"{sim.base_url}/v1/users/u-someone-else/calls")
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "authorization"
    assert body["code"] == "user-access-denied"
    assert body["message"] == "User u-demo does not have permission to access user u-someone-else"


def test_unknown_call_404_body_matches_live_api(api):
    response = api.get("/calls/c-doesnotexist")
    assert response.status_code == 404
    body = response.json()
    assert body["category"] == "not-found"
    assert body["code"] == "call-not-found"
    assert body["message"] == "The call c-doesnotexist could not be found"
    names = [d["name"] for d in body["details"]]
    assert names == ["callId", "requestMethod", "remoteAddress", "requestPath"]
    assert details(body) == {
        "callId": "c-doesnotexist",
        "requestMethod": "GET",
        "remoteAddress": "127.0.0.1",
        "requestPath": "users/u-demo/calls/c-doesnotexist",
    }


def test_wrong_method_gets_405_with_json_body(api):
    response = api.delete("/calls")
    assert response.status_code == 405
    assert response.json()["code"] == "method-not-allowed"
    assert "GET" in response.headers["Allow"]


def test_unknown_path_gets_404_json(api):
    response = api.get("/widgets")
    assert response.status_code == 404
    assert response.json()["code"] == "resource-not-found"


def test_trailing_slash_is_tolerated(api):
    response = api.get("/calls/")
    assert response.status_code == 200
    assert response.json() == []


def test_bad_json_body_is_a_400(api, sim):
    response = api.post("/calls", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation-error"


def test_keep_alive_serves_several_requests_on_one_connection(sim):
    # http.client never reconnects by itself: a second answer proves the socket stayed open.
    host, port = sim.base_url.removeprefix("http://").split(":")
    token = base64.b64encode(f"{sim.api_token}:{sim.api_secret}".encode()).decode()
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(3):
            connection.request(
                "GET", "/v1/users/u-demo/calls", headers={"Authorization": f"Basic {token}"}
            )
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(response.read()))
    finally:
        connection.close()
