"""The shared Redis rate limiter: every process under one limit, operators first."""

import threading

import pytest
import redis

from calls.catapult import CatapultClient, RateLimited
from calls.catapult.budget import RateLimiter, family_of
from catapult_sim.testing import running_simulator
from tests.conftest import SIM_SECRET, SIM_TOKEN, SIM_USER


@pytest.fixture
def redis_conn(redis_url):
    conn = redis.Redis.from_url(redis_url)
    for key in conn.scan_iter("test-rl:*"):
        conn.delete(key)
    return conn


def test_family_of_paths():
    assert family_of("/v1/users/u-1/calls/c-2/events") == "calls"
    assert family_of("/prefix/v1/users/u-1/recordings/r-1") == "recordings"
    assert family_of("/nothing") == "other"


def test_token_bucket_spaces_requests(redis_conn):
    limiter = RateLimiter(redis_conn, 2.0, prefix="test-rl")
    assert limiter.try_take("calls") == 0
    wait = limiter.try_take("calls")
    assert 0.3 < wait <= 0.5  # the next token comes after half a second
    assert limiter.try_take("recordings") == 0  # another family has its own bucket


def test_operator_actions_go_first(redis_conn):
    limiter = RateLimiter(redis_conn, 100.0, burst=5, prefix="test-rl")
    redis_conn.set("test-rl:calls:priority", 1)  # an operator action is waiting
    assert limiter.try_take("calls") > 0  # background traffic stands aside...
    assert limiter.try_take("calls", priority=True) == 0  # ...the action gets the token
    redis_conn.delete("test-rl:calls:priority")
    assert limiter.try_take("calls") == 0


def _hammer(sim, limiter, threads=4, each=6):
    errors = []

    def worker():
        client = CatapultClient(sim.base_url, SIM_USER, SIM_TOKEN, SIM_SECRET, limiter=limiter)
        for _ in range(each):
            try:
                next(client.list_calls(size=5))
            except RateLimited as exc:
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_four_workers_stay_under_the_apis_limit(redis_conn):
    with running_simulator(
        user_id=SIM_USER, api_token=SIM_TOKEN, api_secret=SIM_SECRET, seed=3
    ) as sim:
        sim.preload(10, events_per_call=1)
        sim.faults.rate_limit(requests_per_second=6)
        limiter = RateLimiter(redis_conn, 5.0, prefix="test-rl")
        assert _hammer(sim, limiter) == []
        stats = sim.stats()
        assert stats["requests"] == 24
        assert stats["by_status"].get(429, 0) == 0
        # The control: without the shared limiter the same load hits the API's limit.
        assert _hammer(sim, None, each=3)
