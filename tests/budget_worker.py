"""A worker process for the budget tests: nothing but the client and the shared bucket (no
Django), so `multiprocessing` can start it afresh with "spawn"."""

import redis

from calls.catapult import CatapultClient
from calls.catapult.budget import RateLimiter


def send(base_url: str, credentials: tuple[str, str, str], redis_url: str, rate: float, each: int):
    limiter = RateLimiter(redis.Redis.from_url(redis_url), rate, margin_ms=50, prefix="test-rl")
    client = CatapultClient(base_url, *credentials, limiter=limiter)
    for _ in range(each):
        next(client.list_calls(size=5))
