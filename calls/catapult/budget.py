"""The request budget: one rate limit for every process that talks to Catapult, by priority.

Catapult v1 allows 1 request per second per resource family (all of /calls and its events
share one) and answers 429 past that. Every worker and web process takes a token from the
same Redis token bucket before each request, so together they stay under the limit
instead of each discovering it through 429s.

Requests are spent by priority (`Priority`): a request may only take a token while nobody
of a more urgent priority is waiting for one, so an operator's click goes before a list
page, which goes before history backfill. Waiters announce themselves in a per-level
counter that expires on its own, so a crashed waiter cannot block anyone for long.
"""

from __future__ import annotations

import enum
import logging
import time

import redis

log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """Who a request is for, most urgent first (the planner's spending order)."""

    ACTION = 0  # an operator's click: answer, hang up, record, transfer, place a call
    WAITING = 1  # an operator waits on it: refresh now, an opened call, its recordings
    LIST = 2  # the newest list page every interval: the state of every call
    ENDED = 3  # events of calls that just ended
    LATE = 4  # re-reads for events the platform adds after the hangup
    BACKFILL = 5  # history: older list pages, then their calls' events, newest first
    LIVE = 6  # events of live calls someone has open, when budget is spare


# Token bucket, atomically in Redis, on Redis's own clock (all hosts agree on it).
# Returns 0 when a token was taken, -1 when a more urgent request is waiting (try again
# shortly), else the milliseconds until a token will be there.
_TAKE = """
local key, rate, burst, level = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for l = 0, level - 1 do
  if tonumber(redis.call('GET', key .. ':waiting:' .. l) or '0') > 0 then return -1 end
end
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  redis.call('HINCRBY', key .. ':spent', 'level:' .. level, 1)
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst / rate) + 60000)
return wait
"""
WAITER_TTL_MS = 30_000
YIELD_SECONDS = 0.02  # how soon a request that stood aside for a more urgent one retries


class RateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        per_second: float,
        *,
        burst: float = 1.0,
        margin_ms: float = 0.0,
        prefix: str = "catapult:ratelimit",
        sleep=time.sleep,
    ):
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.redis = client
        # The margin spaces tokens a little wider than the limit: requests leave here a
        # full interval apart but can arrive closer together after network jitter.
        self.rate_per_ms = 1.0 / (1000.0 / per_second + max(0.0, margin_ms))
        self.burst = max(1.0, burst)
        self.prefix = prefix
        self.sleep = sleep
        self._take = client.register_script(_TAKE)

    def _key(self, family: str) -> str:
        return f"{self.prefix}:{family}"

    def try_take(self, family: str, level: Priority = Priority.LIVE) -> float:
        """Take a token now if allowed: 0.0, else seconds to wait before trying again."""
        wait_ms = int(
            self._take(keys=[self._key(family)], args=[self.rate_per_ms, self.burst, int(level)])
        )
        return YIELD_SECONDS if wait_ms < 0 else wait_ms / 1000.0

    def acquire(
        self, family: str, level: Priority = Priority.LIVE, *, timeout: float = 120.0
    ) -> bool:
        """Block until a token is ours (True), or the timeout passes (False).

        Redis trouble lets the request through (the API's own 429 handling still applies)
        rather than stopping all traffic.
        """
        deadline = time.monotonic() + timeout
        waiting = f"{self._key(family)}:waiting:{int(level)}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(waiting)
            pipe.pexpire(waiting, WAITER_TTL_MS)
            pipe.execute()
            try:
                while True:
                    self.redis.pexpire(waiting, WAITER_TTL_MS)  # still here: keep the claim
                    wait = self.try_take(family, level)
                    if wait <= 0:
                        return True
                    if time.monotonic() + wait > deadline:
                        return False
                    self.sleep(wait)
            finally:
                if self.redis.decr(waiting) < 0:  # the claim had expired under us
                    self.redis.delete(waiting)
        except redis.RedisError as exc:
            log.warning("Rate limiter unavailable (%s); sending without it", type(exc).__name__)
            return True

    def spent(self, family: str) -> dict[str, int]:
        """Tokens taken so far, by priority name (for the status page and metrics)."""
        raw = self.redis.hgetall(f"{self._key(family)}:spent")
        counts = {}
        for key, value in raw.items():
            level = int(key.decode().removeprefix("level:"))
            counts[Priority(level).name.lower()] = int(value)
        return counts


def family_of(path: str) -> str:
    """The resource family of an API path: '/v1/users/u-1/calls/c-2/events' -> 'calls'."""
    parts = [p for p in path.split("/") if p]
    try:
        return parts[parts.index("users") + 2]
    except (ValueError, IndexError):
        return "other"
