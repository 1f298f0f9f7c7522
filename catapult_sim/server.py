"""HTTP server: parsing, authentication, faults, rate limits, routing and error bodies.

HTTP/1.1 with keep-alive and an explicit Content-Length on every response, so clients
reuse their connections as they would with the real API. One thread per connection.

Order of checks for /v1 requests: authentication (401) -> userId in the path (403) ->
injected fault -> rate limit (429, or 403 for call creation) -> route (404/405) -> handler.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from . import api, control
from .errors import ApiError
from .faults import Fault
from .render import dumps
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .simulator import Simulator

log = logging.getLogger(__name__)

USER_PATH = re.compile(r"^/v1/users/(?P<user>[^/]+)(?P<rest>/.*)?$")
MAX_BODY = 1_000_000
IDLE_TIMEOUT_S = 75  # keep-alive connections idle longer than this are closed

# Faults answered instead of the request; "truncated" and "wrong_shape" run the request and
# spoil its answer, "delay" runs it late.
REPLACING_FAULTS = ("reset", "non_json", "rate_limited", "error")
ERROR_KINDS = {
    500: ("internal-server-error", "internal-server-error", "Internal server error"),
    502: ("unavailable", "bad-gateway", "Bad gateway"),
    503: ("unavailable", "service-unavailable", "The service is temporarily unavailable"),
    504: ("unavailable", "gateway-timeout", "Gateway timeout"),
}
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service "
    b"your request. Please try again later.</p></body></html>\n"
)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake every keep-alive thread blocked on a read so the server can stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "catapult-sim"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's
        # algorithm meets the client's delayed ACK and every reply waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._write(Response(405, headers={"Allow": "GET, POST"}), head=True)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """Malformed requests (bad request line, oversized headers): still a JSON body."""
        self.close_connection = True
        body = {
            "category": "bad-request",
            "code": "malformed-request",
            "message": message or "Malformed request",
            "details": [],
        }
        self._write(json_response(body, code))

    # -- request handling -------------------------------------------------------------

    def _handle(self) -> None:
        sim = self.server.sim
        started = time.perf_counter()
        try:
            request = self._request()
        except ApiError as exc:
            self.close_connection = True
            self._write(self._error_response(exc, None))
            return
        response: Response | None = None
        counted = True
        try:
            if request.raw_path == "/_sim" or request.raw_path.startswith("/_sim/"):
                counted = False
                response = self._control(request)
            else:
                response = self._api(request)
        except ApiError as exc:
            response = self._error_response(exc, request)
        except Exception:
            log.exception("unhandled error on %s %s", self.command, self.path)
            response = self._error_response(
                ApiError(500, "internal-server-error", "internal-server-error", "Internal error"),
                request,
            )
        if counted:
            sim.count_request(
                f"{self.command} {request.route}", response.status if response else None
            )
        if response is None:
            self._reset()
        else:
            self._write(response)
        log.debug(
            "%s %s -> %s in %.1f ms",
            self.command,
            self.path,
            response.status if response else "reset",
            (time.perf_counter() - started) * 1000,
        )

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        raw_path = parts.path
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        scheme = self.headers.get("X-Forwarded-Proto", "http")
        return Request(
            method=self.command,
            raw_path=raw_path,
            path=raw_path.rstrip("/") or "/",
            query_pairs=parse_qsl(parts.query, keep_blank_values=True),
            body=self._body(),
            origin=f"{scheme}://{host}",
            remote=self.client_address[0],
            headers={"range": self.headers.get("Range", "")},
        )

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ApiError(400, "bad-request", "malformed-request", "Bad Content-Length") from None
        if size > MAX_BODY:
            raise ApiError(413, "bad-request", "request-too-large", "The request body is too large")
        return self.rfile.read(size)

    def _chunked_body(self) -> bytes:
        chunks = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise ApiError(400, "bad-request", "malformed-request", "Bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise ApiError(
                    413, "bad-request", "request-too-large", "The request body is too large"
                )
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _authorized(self) -> bool:
        sim = self.server.sim
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            token, _, secret = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both comparisons always run (constant time), on bytes so any text is allowed.
        token_ok = hmac.compare_digest(token.encode(), sim.api_token.encode())
        secret_ok = hmac.compare_digest(secret.encode(), sim.api_secret.encode())
        return token_ok and secret_ok

    @staticmethod
    def _unauthorized() -> ApiError:
        return ApiError(
            401,
            "authentication",
            "invalid-credentials",
            "Invalid API token or secret. Authenticate with HTTP Basic: token as the user "
            "name, secret as the password.",
            headers={"WWW-Authenticate": 'Basic realm="Catapult API"'},
        )

    def _control(self, request: Request) -> Response:
        if not self._authorized():
            raise self._unauthorized()
        return self._dispatch(api.resolve(control.ROUTES, request.path), request)

    def _api(self, request: Request) -> Response | None:
        """None means: drop the connection without answering."""
        sim = self.server.sim
        match = USER_PATH.match(request.path)
        if not self._authorized():
            raise self._unauthorized()
        if match is None:
            raise api.unknown_resource(request)
        request.user_id = match["user"]
        sub = match["rest"] or "/"
        resolved = api.resolve(api.ROUTES, sub)
        if resolved is not None:
            request.route = resolved[0]  # for the statistics, whatever happens next
        if request.user_id != sim.user_id:
            raise ApiError(
                403,
                "authorization",
                "user-access-denied",
                f"User {sim.user_id} does not have permission to access user {request.user_id}",
                [("userId", request.user_id)],
            )
        fault = sim.faults.match(request.method, sub)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        elif fault is not None and fault.kind in REPLACING_FAULTS:
            return self._fault_response(fault, request)
        self._rate_limit(request, sub)
        response = self._dispatch(resolved, request)
        if fault is not None:
            response = _late_fault(fault, response)
        return response

    def _dispatch(self, resolved: tuple | None, request: Request) -> Response:
        sim = self.server.sim
        if resolved is None:
            raise api.unknown_resource(request)
        request.route, handlers, params = resolved
        handler = handlers.get(request.method)
        if handler is None:
            raise api.method_not_allowed(request.method, request, list(handlers))
        with sim.lock:
            return handler(sim, request, **params)

    def _rate_limit(self, request: Request, sub: str) -> None:
        faults = self.server.sim.faults
        if request.method == "POST" and sub == "/calls":
            rate = faults.check_call_rate()
            if rate is not None:
                limit = faults.calls_per_second
                raise ApiError(
                    403,
                    "limit",
                    "call-rate-limit",
                    f"You can create {limit:g} calls per 1 seconds, calculated as the average "
                    f"over 10 seconds. Your rate is: {rate:g}",
                )
            return
        family = sub.split("/")[1] if sub.count("/") else sub
        reset_at = faults.check_rate(family)
        if reset_at is not None:
            raise rate_limited(reset_at)

    def _fault_response(self, fault: Fault, request: Request) -> Response | None:
        """The answer a replacing fault gives instead of the real one (None: no answer)."""
        if fault.kind == "reset":
            return None
        if fault.kind == "non_json":
            return Response(200, HTML_PAGE, "text/html; charset=utf-8")
        if fault.kind == "rate_limited":
            reset_at = self.server.sim.faults.now_ms() + round(fault.delay * 1000)
            return self._error_response(rate_limited(reset_at), request)
        category, code, message = ERROR_KINDS.get(
            fault.status, ("internal-server-error", "server-error", "Server error")
        )
        return self._error_response(ApiError(fault.status, category, code, message), request)

    def _error_response(self, exc: ApiError, request: Request | None) -> Response:
        details = [{"name": n, "value": str(v)} for n, v in exc.details]
        if request is not None:
            details += [
                {"name": "requestMethod", "value": request.method},
                {"name": "remoteAddress", "value": request.remote},
                {"name": "requestPath", "value": request.request_path},
            ]
        body: dict = {"category": exc.category, "code": exc.code}
        if exc.message is not None:
            body["message"] = exc.message
        body["details"] = details
        return Response(exc.status, dumps(body), "application/json", dict(exc.headers), body)

    # -- writing ----------------------------------------------------------------------

    def _write(self, response: Response, head: bool = False) -> None:
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            length = response.length if response.stream is not None else len(response.body)
            self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if head:
                return
            if response.stream is not None:
                for chunk in response.stream:  # media: generated piece by piece
                    self.wfile.write(chunk)
            else:
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # the client went away; nothing to tell it

    def _reset(self) -> None:
        """Drop the connection without answering (SO_LINGER 0 makes close() send RST)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def rate_limited(reset_at: int) -> ApiError:
    """The documented 429: reset time in a header and a detail, and no `message`."""
    return ApiError(
        429,
        "too-many-requests",
        "rate-limit-reached",
        None,
        [("rateLimitResetTime", str(reset_at))],
        headers={"X-RateLimit-Reset": str(reset_at)},
    )


def _late_fault(fault: Fault, response: Response) -> Response:
    """Spoil a real answer: "truncated" and "wrong_shape" (other kinds: unchanged)."""
    if fault.kind == "truncated":
        body = response.body or b'{"id":"'
        cut = body[: max(1, len(body) // 2)]
        return Response(200, cut, "application/json", dict(response.headers))
    if fault.kind == "wrong_shape":
        data = response.data if response.data is not None else json.loads(response.body or b"null")
        shape = fault.shape
        if shape == "auto":
            shape = "object" if isinstance(data, list) else "array"
        if shape == "object":
            wrong: object = {"items": data if isinstance(data, list) else [data]}
        elif shape == "array":
            wrong = [data]
        else:
            items = data if isinstance(data, list) else [data]
            stripped = [
                {k: v for k, v in i.items() if k != "id"} for i in items if isinstance(i, dict)
            ]
            wrong = stripped if isinstance(data, list) else (stripped[0] if stripped else {})
        return Response(200, json.dumps(wrong).encode(), "application/json", dict(response.headers))
    return response
