"""One rate limit for every process that talks to Catapult, kept in Redis.

Catapult allows about one request per second per resource family (/calls, /recordings,
...) per account, and answers 429 past that. Every worker and web process takes a token
from the same Redis token bucket before each request, so together they stay under the
limit instead of each discovering it through 429s.

Operator actions go first: while one waits for a token, background (sync) requests do
not take any.
"""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)

# Token bucket, atomically in Redis, on Redis's own clock (all hosts agree on it).
# Returns 0 when a token was taken, else the milliseconds until one will be there.
_TAKE = """
local key, rate, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst / rate) + 60000)
return wait
"""
PRIORITY_TTL_MS = 30_000


class RateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        per_second: float,
        *,
        burst: float = 1.0,
        prefix: str = "catapult:ratelimit",
        sleep=time.sleep,
    ):
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.redis = client
        self.rate_per_ms = per_second / 1000.0
        self.burst = max(1.0, burst)
        self.prefix = prefix
        self.sleep = sleep
        self._take = client.register_script(_TAKE)

    def _priority_key(self, family: str) -> str:
        return f"{self.prefix}:{family}:priority"

    def try_take(self, family: str, *, priority: bool = False) -> float:
        """Take a token now if allowed: 0.0, else seconds to wait before trying again."""
        if not priority and int(self.redis.get(self._priority_key(family)) or 0) > 0:
            return 0.05  # an operator action is waiting: let it have the next token
        wait_ms = self._take(keys=[f"{self.prefix}:{family}"], args=[self.rate_per_ms, self.burst])
        return int(wait_ms) / 1000.0

    def acquire(self, family: str, *, priority: bool = False, timeout: float = 120.0) -> None:
        """Block until a token is ours. Redis trouble lets the request through (the API's
        own 429 handling still applies) rather than stopping all traffic."""
        deadline = time.monotonic() + timeout
        key = self._priority_key(family)
        try:
            if priority:
                pipe = self.redis.pipeline()
                pipe.incr(key)
                pipe.pexpire(key, PRIORITY_TTL_MS)  # a crashed waiter cannot block forever
                pipe.execute()
            try:
                while True:
                    wait = self.try_take(family, priority=priority)
                    if wait <= 0 or time.monotonic() + wait > deadline:
                        return
                    self.sleep(wait)
            finally:
                if priority:
                    self.redis.decr(key)
        except redis.RedisError as exc:
            log.warning("Rate limiter unavailable (%s); sending without it", type(exc).__name__)


def family_of(path: str) -> str:
    """The resource family of an API path: '/v1/users/u-1/calls/c-2/events' -> 'calls'."""
    parts = [p for p in path.split("/") if p]
    try:
        return parts[parts.index("users") + 2]
    except (ValueError, IndexError):
        return "other"
