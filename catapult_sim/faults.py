"""Fault injection and rate limiting.

Faults make the simulator misbehave the ways a real network peer does, on purpose, for a
chosen set of requests. Rate limits follow the documented Catapult behaviour: 429 with an
`X-RateLimit-Reset` header (epoch ms) per resource family, and a separate call-creation
limit answered with 403 `call-rate-limit`.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass

KINDS = ("error", "delay", "reset", "truncated", "non_json", "wrong_shape", "rate_limited")
SHAPES = ("auto", "object", "array", "missing_id")

# The documented default sample period for call creation: "calculated as the average
# over 10 seconds".
CALL_RATE_WINDOW_MS = 10_000


@dataclass
class Fault:
    kind: str
    method: str | None
    path: re.Pattern | None
    count: int | None
    probability: float | None
    status: int
    delay: float
    shape: str
    after: int = 0  # matching requests to let through untouched first
    hits: int = 0

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.path.pattern if self.path else None,
            "count": self.count,
            "probability": self.probability,
            "status": self.status,
            "delay": self.delay,
            "shape": self.shape,
            "after": self.after,
            "hits": self.hits,
        }


class Faults:
    def __init__(self, clock, seed: int | str) -> None:
        self._clock = clock
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.requests_per_second: float | None = None
        self.calls_per_second: float | None = None
        self._windows: dict[str, deque[int]] = {}
        self._call_window: deque[int] = deque()

    # -- faults ------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int | None = 1,
        probability: float | None = None,
        status: int | None = None,
        delay: float = 0.0,
        shape: str = "auto",
        after: int = 0,
    ) -> Fault:
        """Make matching requests misbehave.

        path: regular expression searched in the path after /v1/users/{userId}
        (for example r"^/calls$" or r"/events"); None matches every API request.
        count: how many matching requests to hit; None = until clear().
        probability: hit each matching request with this probability (seeded RNG).
        status: HTTP status for "error" (default 500).
        delay: seconds to sleep ("delay") or until the rate limit resets ("rate_limited").
        shape: for "wrong_shape": "object" (an object where an array is due), "array"
        (an array where an object is due), "missing_id" (items without "id"), or "auto"
        (swap array and object).
        after: let this many matching requests through before the fault starts (e.g.
        after=1 on r"^/calls$" breaks the second page of a walk, not the first).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for no limit")
        if after < 0:
            raise ValueError("after must be 0 or more")
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if status is None:
            status = 429 if kind == "rate_limited" else 500
        fault = Fault(
            kind=kind,
            method=method.upper() if method else None,
            path=re.compile(path) if path else None,
            count=count,
            probability=probability,
            status=int(status),
            delay=float(delay),
            shape=shape,
            after=int(after),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def match(self, method: str, path: str) -> Fault | None:
        """The first fault that hits this request, consuming one of its `count`."""
        with self._lock:
            for fault in self._faults:
                if fault.method and fault.method != method:
                    continue
                if fault.path and not fault.path.search(path):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- rate limits -------------------------------------------------------------------

    def now_ms(self) -> int:
        """The clock rate limits and reset times are measured on (the wall clock)."""
        return self._clock.now_ms()

    def rate_limit(
        self, requests_per_second: float | None = None, *, calls_per_second: object = ...
    ) -> None:
        """Limit requests per resource family (429) and call creation (403).

        None turns a limit off. Call creation follows requests_per_second unless
        calls_per_second is given.
        """
        with self._lock:
            self.requests_per_second = _positive_or_none(requests_per_second)
            if calls_per_second is ...:
                calls_per_second = requests_per_second
            self.calls_per_second = _positive_or_none(calls_per_second)
            self._windows.clear()
            self._call_window.clear()

    def check_rate(self, family: str) -> int | None:
        """Count a request; return the epoch ms it may be retried at when over the limit."""
        with self._lock:
            limit = self.requests_per_second
            if limit is None:
                return None
            now = self._clock.now_ms()
            # A sliding one-second window holding at most `limit` requests; a fractional
            # limit (0.5 = one request every 2 s) widens the window instead.
            allowed = max(1, int(limit))
            window_ms = round(1000 * allowed / limit)
            window = self._windows.setdefault(family, deque())
            while window and window[0] <= now - window_ms:
                window.popleft()
            if len(window) >= allowed:
                return window[0] + window_ms
            window.append(now)
            return None

    def check_call_rate(self) -> float | None:
        """Count a call creation; return the offending rate when over the limit."""
        with self._lock:
            limit = self.calls_per_second
            if limit is None:
                return None
            now = self._clock.now_ms()
            window = self._call_window
            while window and window[0] <= now - CALL_RATE_WINDOW_MS:
                window.popleft()
            rate = (len(window) + 1) / (CALL_RATE_WINDOW_MS / 1000)
            if rate > limit:
                return rate
            window.append(now)
            return None


def _positive_or_none(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    if number <= 0:
        raise ValueError("a rate limit must be positive, or None to turn it off")
    return number
