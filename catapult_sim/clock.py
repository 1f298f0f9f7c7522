"""Clocks.

The simulator reads time only through a clock object, in epoch milliseconds, so a test can
swap the real clock for a ManualClock and move time forward by hand: every scheduled
transition then happens at a known instant and two runs with the same seed are identical.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

# A fixed default start keeps ManualClock runs reproducible when no start is given.
DEFAULT_MANUAL_START = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        # Naive datetimes are taken as UTC: the API speaks UTC only.
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RealClock:
    manual = False

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now(self) -> datetime:
        return from_ms(self.now_ms())


class ManualClock:
    """Time that moves only when told to. Use Simulator.advance() to also run what fell due."""

    manual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._ms = to_ms(start or DEFAULT_MANUAL_START)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._ms

    def now(self) -> datetime:
        return from_ms(self.now_ms())

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._ms += round(seconds * 1000)

    def set_ms(self, ms: int) -> None:
        """Move to `ms` if it is later than now; never backwards."""
        with self._lock:
            self._ms = max(self._ms, ms)
