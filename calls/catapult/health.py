"""Whether Catapult is answering, as every process has seen it (kept in Redis).

"Down" is a strong word with consequences (the banner, disabled buttons), so it is kept
for when no request has succeeded for a while. One failed request, or a slow cycle, is
"degraded": the page says so and how far behind the data is.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import redis

KEY = "catapult:health"


@dataclass(frozen=True)
class Health:
    last_ok: float | None  # epoch seconds of the last 2xx answer
    last_failure: float | None  # epoch seconds of the last request that failed
    last_error: str
    # False when Redis could not be read: then nothing above is known (not "all fine").
    known: bool = True

    def down(self, after_seconds: float, now: float | None = None) -> bool:
        """No success for `after_seconds`, and a failure since the last success."""
        now = time.time() if now is None else now
        if self.last_failure is None:
            return False
        if self.last_ok is not None and self.last_ok >= self.last_failure:
            return False
        return self.last_ok is None or now - self.last_ok > after_seconds


class HealthRecorder:
    """Records request outcomes; Redis trouble never stops a request.

    Successes are written at most once a second per client (a backfill makes many a
    second); a failure is written at once, and the success after it too.
    """

    OK_EVERY = 1.0

    def __init__(self, client: redis.Redis):
        self.redis = client
        self.last_ok_written = 0.0
        self.failed_since = False

    def ok(self) -> None:
        now = time.time()
        if self.failed_since or now - self.last_ok_written >= self.OK_EVERY:
            self._write({"ok": repr(now)})
            self.last_ok_written, self.failed_since = now, False

    def failed(self, error: str) -> None:
        self._write({"failure": repr(time.time()), "error": error[:300]})
        self.failed_since = True

    def _write(self, mapping: dict) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.hset(KEY, mapping=mapping)


def read(client: redis.Redis) -> Health:
    try:
        raw = {k.decode(): v.decode() for k, v in client.hgetall(KEY).items()}
    except redis.RedisError:
        return Health(last_ok=None, last_failure=None, last_error="", known=False)
    return Health(
        last_ok=float(raw["ok"]) if "ok" in raw else None,
        last_failure=float(raw["failure"]) if "failure" in raw else None,
        last_error=raw.get("error", ""),
    )
