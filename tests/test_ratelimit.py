"""The shared Redis rate limiter: every process under one limit, operators first."""

import multiprocessing
import threading
import time

import pytest
import redis

from calls.catapult import CatapultClient, RateLimited
from calls.catapult.budget import Priority, RateLimiter, family_of
from catapult_sim.testing import running_simulator
from tests import budget_worker
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


@pytest.mark.parametrize("waiting", list(Priority)[:-1], ids=lambda p: p.name.lower())
def test_a_waiting_request_goes_before_every_less_urgent_one(redis_conn, waiting):
    limiter = RateLimiter(redis_conn, 100.0, burst=10, prefix="test-rl")
    redis_conn.set(f"test-rl:calls:waiting:{int(waiting)}", 1)  # someone waits at this level
    for level in Priority:
        took = limiter.try_take("calls", level) == 0
        assert took == (level <= waiting), level  # the less urgent stand aside
    redis_conn.delete(f"test-rl:calls:waiting:{int(waiting)}")
    assert limiter.try_take("calls", Priority.LIVE) == 0


def test_tokens_are_counted_by_priority(redis_conn):
    limiter = RateLimiter(redis_conn, 100.0, burst=10, prefix="test-rl")
    for level in (Priority.ACTION, Priority.LIST, Priority.LIST, Priority.BACKFILL):
        assert limiter.acquire("calls", level, timeout=1)
    assert limiter.spent("calls") == {"action": 1, "list": 2, "backfill": 1}
    # Nobody is left marked as waiting once they have their token.
    assert not [
        k for k in redis_conn.scan_iter("test-rl:calls:waiting:*") if int(redis_conn.get(k))
    ]


def test_an_operator_action_overtakes_a_busy_sync(redis_conn):
    """While the sync keeps the bucket empty, an action that starts waiting gets the very
    next token, before the sync's next request."""
    limiter = RateLimiter(redis_conn, 5.0, prefix="test-rl")
    order = []

    def sync_traffic():
        for _ in range(6):
            limiter.acquire("calls", Priority.BACKFILL)
            order.append("sync")

    worker = threading.Thread(target=sync_traffic)
    worker.start()
    while len(order) < 2:
        time.sleep(0.01)
    limiter.acquire("calls", Priority.ACTION)
    order.append("action")
    worker.join()
    position = order.index("action")
    assert position <= 3, order  # at most one sync request slipped in while it waited


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


def test_four_worker_processes_never_exceed_the_limit(redis_conn, redis_url):
    with running_simulator(
        user_id=SIM_USER, api_token=SIM_TOKEN, api_secret=SIM_SECRET, seed=4
    ) as sim:
        sim.preload(10, events_per_call=1)
        sim.faults.rate_limit(requests_per_second=4)
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(
                target=budget_worker.send,
                args=(sim.base_url, (SIM_USER, SIM_TOKEN, SIM_SECRET), redis_url, 4.0, 5),
            )
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        stats = sim.stats()
        assert stats["requests"] == 20
        assert stats["by_status"].get(429, 0) == 0
