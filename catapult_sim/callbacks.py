"""Callback (webhook) delivery on background threads.

API requests and scheduled transitions only enqueue; a small thread pool does the HTTP.
Deliveries for one call are sent one after another, in the order they were produced
(answer before hangup), while different calls are delivered in parallel.

Delivery rules (the reference is silent on most of them, see README "Fidelity notes"):
- POST: JSON body, `Content-Type: application/json; charset=utf-8`;
  GET: every property as a query-string value (booleans as "true"/"false", objects as JSON).
- Credentials in the URL (`http://user:pass@host/...`) become an `Authorization: Basic`
  header and are removed from the URL.
- The wait for a response is the call's `callbackTimeout` (milliseconds).
- A connection error, a timeout or a non-2xx status is a failure: the event is then sent
  once to `fallbackUrl` if there is one. No other retry.
- Failures are logged and recorded in `deliveries`; they never reach the caller.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

USER_AGENT = "BandwidthAPI/v1 (catapult-sim)"
DEFAULT_TIMEOUT_MS = 10_000


@dataclass
class Delivery:
    url: str
    method: str  # "POST" or "GET"
    payload: dict
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    fallback_url: str | None = None


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def split_credentials(url: str) -> tuple[str, str | None]:
    """Return the URL without userinfo, and the Basic auth header value it carried."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def redact(url: str) -> str:
    return split_credentials(url)[0]


class CallbackDispatcher:
    def __init__(self, workers: int = 4) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="catapult-sim-callback"
        )
        # Callbacks must reach loopback services directly, whatever proxy the
        # environment configures.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._cond = threading.Condition()
        self._queues: dict[str, deque[Delivery]] = {}
        self._pending = 0
        self._closed = False
        self.deliveries: deque[dict] = deque(maxlen=2000)

    def submit(self, key: str, delivery: Delivery) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending += 1
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(delivery)  # a worker is already draining this call's queue
                return
            self._queues[key] = deque([delivery])
        self._executor.submit(self._drain, key)

    def _drain(self, key: str) -> None:
        while True:
            with self._cond:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                delivery = queue.popleft()
            try:
                self._deliver(delivery)
            except Exception:
                log.exception("callback delivery crashed")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        record = {
            "eventType": delivery.payload.get("eventType"),
            "callId": delivery.payload.get("callId"),
            "method": delivery.method,
            "url": redact(delivery.url),
        }
        ok, status, error = self._send(delivery.url, delivery)
        if not ok and delivery.fallback_url:
            log.info("callback to %s failed (%s); trying fallbackUrl", record["url"], error)
            record["fallbackUrl"] = redact(delivery.fallback_url)
            ok, status, error = self._send(delivery.fallback_url, delivery)
        record.update(ok=ok, status=status, error=error)
        if not ok:
            log.warning(
                "callback %s for %s not delivered: %s",
                record["eventType"],
                record["callId"],
                error,
            )
        self.deliveries.append(record)

    def _send(self, url: str, delivery: Delivery) -> tuple[bool, int | None, str | None]:
        target, auth = split_credentials(url)
        headers = {"User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = auth
        data = None
        if delivery.method == "GET":
            query = urllib.parse.urlencode(
                {k: _query_value(v) for k, v in delivery.payload.items() if v is not None}
            )
            target = f"{target}{'&' if '?' in target else '?'}{query}"
        else:
            data = json.dumps(delivery.payload).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
            return False, None, "callback URLs must be http or https"
        # The scheme was checked just above: only http(s) URLs are ever opened.
        request = urllib.request.Request(  # noqa: S310
            target, data=data, headers=headers, method=delivery.method
        )
        try:
            with self._opener.open(request, timeout=delivery.timeout_ms / 1000) as response:
                response.read(65536)
                return True, response.status, None
        except urllib.error.HTTPError as exc:
            return False, exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return False, None, str(exc) or exc.__class__.__name__

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued callback has been attempted; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
