"""Fixtures for the simulator's own tests: a running simulator and an HTTP session."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from catapult_sim import ManualClock
from catapult_sim.testing import running_simulator


class Api(requests.Session):
    """A requests session bound to the simulator's account: `api.get("/calls")`."""

    def __init__(self, sim) -> None:
        super().__init__()
        self.sim = sim
        self.auth = (sim.api_token, sim.api_secret)

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.sim.api_base + url
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def sim():
    """A simulator on the real clock."""
    with running_simulator(seed=1) as simulator:
        yield simulator


@pytest.fixture
def manual_sim():
    """A simulator whose time moves only with sim.advance()."""
    with running_simulator(seed=1, clock=ManualClock()) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    with Api(sim) as session:
        yield session


@pytest.fixture
def manual_api(manual_sim):
    with Api(manual_sim) as session:
        yield session


@dataclass
class Received:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class CallbackReceiver:
    """A tiny HTTP server that records every request; `status` sets its answer."""

    url: str
    status: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, event_type: str | None = None) -> list[dict]:
        """Payloads received, from JSON bodies (POST) or query strings (GET)."""
        with self.lock:
            items = list(self.received)
        out = []
        for item in items:
            payload = item.json() if item.method == "POST" else item.query
            if event_type is None or payload.get("eventType") == event_type:
                out.append(payload)
        return out


def _receiver_server(receiver: CallbackReceiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with receiver.lock:
                receiver.received.append(
                    Received(
                        self.command,
                        parts.path,
                        dict(parse_qsl(parts.query)),
                        dict(self.headers),
                        body,
                    )
                )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _record

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver():
    holder = CallbackReceiver(url="")
    server = _receiver_server(holder)
    holder.url = f"http://127.0.0.1:{server.server_address[1]}/callbacks"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield holder
    server.shutdown()
    server.server_close()
